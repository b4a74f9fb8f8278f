/** Throwaway OSTree sysroots in a temp dir: init-fs, os-init, pull-local from the cache, deploy. */
import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SystemStateError, UsageError } from '@ostree-layer/core';
import { removeTree } from './cleanup.js';
import { isRoot, run } from './run.js';

export interface SysrootOptions {
  /** A committed base (what ensureDebianMinbase/ensureRpmBase return, or any repo + ref) to pull and deploy. */
  base?: { repo: string; ref: string; osName?: string };
  /** Or an OSTree-ready tree on disk (see makeOstreeReady), committed straight into the sysroot's repo. */
  treeDir?: string;
  /** Ref for `treeDir`'s commit; default "testkit/tree". */
  ref?: string;
  /** Stateroot name; default the base's osName, else "testos". */
  osName?: string;
  /** Where to build the sysroot (must not exist or be empty); default a new temp dir. dispose() deletes it. */
  dir?: string;
}

export interface Sysroot {
  /** The sysroot directory (what `--sysroot` takes). */
  readonly sysroot: string;
  readonly osName: string;
  /** The sysroot's own repo, `<sysroot>/ostree/repo`. */
  readonly repo: string;
  /** The ref deployed first; its commit is in the sysroot's repo. */
  readonly ref: string;
  readonly commit: string;
  /** Milliseconds the setup took (init-fs to deploy), for tests that watch the cost. */
  readonly setupMs: number;
  /** The same, per step. */
  readonly timings: { initMs: number; pullMs: number; deployMs: number };
  /** The default deployment's checkout; after a later `ostree admin deploy` this follows the new default. */
  deploymentDir(): string;
  /** Every deployment's checkout in boot order (default first). */
  deployments(): string[];
  /** Unmounts anything below the sysroot, clears the deployments' immutable bit and deletes the directory. */
  dispose(): Promise<void>;
}

/** Builds a sysroot with one deployment of the given base. Needs root (`ostree admin` writes a real boot layout). */
export async function makeSysroot(options: SysrootOptions): Promise<Sysroot> {
  if (!isRoot()) throw new UsageError('makeSysroot needs root: ostree admin deploy writes owners and immutable bits');
  if (!options.base === !options.treeDir) throw new UsageError('makeSysroot: pass exactly one of `base` or `treeDir`');
  const started = performance.now();
  const sysroot = await prepareDir(options.dir);
  try {
    const made = await initSysroot(sysroot, options);
    const setupMs = performance.now() - started;
    return {
      ...made,
      setupMs,
      timings: { ...made.timings, initMs: made.timings.initMs + (setupMs - made.setupMs) },
      deploymentDir: () => defaultDeployment(sysroot),
      deployments: () => listDeployments(sysroot),
      dispose: () => removeTree(sysroot, { sysroot: true }),
    };
  } catch (err) {
    await removeTree(sysroot, { sysroot: true });
    throw err;
  }
}

/** What {@link initSysroot} made. */
export type InitializedSysroot = Pick<Sysroot, 'sysroot' | 'osName' | 'repo' | 'ref' | 'commit' | 'setupMs' | 'timings'>;

/**
 * Turns the existing directory `sysroot` into an OSTree sysroot with one deployment: init-fs, os-init, the base
 * pulled (or `treeDir` committed) into its repo, `ostree admin deploy` with `kernelArgs`. Cleaning up on failure is
 * the caller's job (the directory may be a mount point).
 */
export async function initSysroot(
  sysroot: string,
  options: Omit<SysrootOptions, 'dir'> & { kernelArgs?: readonly string[] },
): Promise<InitializedSysroot> {
  const started = performance.now();
  const osName = options.osName ?? options.base?.osName ?? 'testos';
  const repo = join(sysroot, 'ostree', 'repo');
  await run('ostree', ['admin', 'init-fs', sysroot]);
  await run('ostree', ['admin', 'os-init', `--sysroot=${sysroot}`, osName]);
  // A throwaway sysroot needs no durability; without fsync, pulls and the engine's commits wait less on the disk.
  const config = join(repo, 'config');
  await writeFile(config, (await readFile(config, 'utf8')).replace(/^\[core\]$/m, '[core]\nfsync=false'));
  const initDone = performance.now();
  let ref: string;
  if (options.base) {
    ref = options.base.ref;
    await run('ostree', ['pull-local', `--repo=${repo}`, options.base.repo, ref]);
  } else {
    ref = options.ref ?? 'testkit/tree';
    await run('ostree', ['commit', `--repo=${repo}`, `--branch=${ref}`, `--tree=dir=${resolve(options.treeDir!)}`, '--subject=testkit tree']);
  }
  const commit = (await run('ostree', ['rev-parse', `--repo=${repo}`, ref])).trim();
  const pullDone = performance.now();
  const kargs = (options.kernelArgs ?? []).map((arg) => `--karg=${arg}`);
  await run('ostree', ['admin', 'deploy', `--sysroot=${sysroot}`, `--os=${osName}`, ...kargs, ref]);
  const done = performance.now();
  const timings = { initMs: initDone - started, pullMs: pullDone - initDone, deployMs: done - pullDone };
  return { sysroot, osName, repo, ref, commit, setupMs: done - started, timings };
}

/** The checkout the bootloader boots by default. */
export function defaultDeployment(sysroot: string): string {
  const first = listDeployments(sysroot)[0];
  if (!first) throw new SystemStateError(`${sysroot} has no deployment (no boot/loader/entries/*.conf)`);
  return first;
}

async function prepareDir(dir: string | undefined): Promise<string> {
  if (!dir) return mkdtemp(join(tmpdir(), 'ostree-layer-sysroot-'));
  const path = resolve(dir);
  if (existsSync(path) && (await readdir(path)).length > 0) {
    throw new UsageError(`makeSysroot: ${path} is not empty; give a new or empty directory (dispose() deletes it)`);
  }
  await mkdir(path, { recursive: true });
  return path;
}

/** One `boot/loader/entries/*.conf` file: what a BLS bootloader reads to boot a deployment. */
export interface LoaderEntry {
  file: string;
  /** Higher boots by default. */
  version: number;
  /** Kernel and initramfs, relative to the sysroot's /boot. */
  linux: string;
  initrd: string;
  /** The kernel command line, with the `ostree=` argument naming the deployment. */
  options: string;
  /** The `ostree=` path, relative to the sysroot. */
  ostreePath: string;
}

/** The sysroot's boot entries, default first (highest `version`). */
export function readLoaderEntries(sysroot: string): LoaderEntry[] {
  const entriesDir = join(sysroot, 'boot', 'loader', 'entries');
  if (!existsSync(entriesDir)) return [];
  const entries: LoaderEntry[] = [];
  for (const name of readdirSync(entriesDir)) {
    if (!name.endsWith('.conf')) continue;
    const file = join(entriesDir, name);
    const text = readFileSync(file, 'utf8');
    const key = (k: string) => new RegExp(`^${k}\\s+(.*)$`, 'm').exec(text)?.[1].trim() ?? '';
    const options = key('options');
    const ostreePath = /(?:^|\s)ostree=(\S+)/.exec(options)?.[1];
    if (!ostreePath) continue;
    entries.push({ file, version: Number(key('version') || 0), linux: key('linux'), initrd: key('initrd'), options, ostreePath });
  }
  return entries.sort((a, b) => b.version - a.version);
}

/**
 * Deployments in boot order, read the way the bootloader would: each boot entry's `ostree=` path resolves through
 * the boot.N symlinks to a deployment checkout, and the entry with the highest `version` is the default.
 */
export function listDeployments(sysroot: string): string[] {
  return readLoaderEntries(sysroot).map((entry) => realpathSync(join(sysroot, entry.ostreePath)));
}

/** The `[origin]` refspec of a deployment (its `.origin` file beside the checkout). */
export function deploymentOrigin(deploymentDir: string): string {
  const text = readFileSync(`${deploymentDir}.origin`, 'utf8');
  const refspec = /^refspec=(.*)$/m.exec(text)?.[1];
  if (!refspec) throw new SystemStateError(`${deploymentDir}.origin has no refspec= line`);
  return refspec;
}
