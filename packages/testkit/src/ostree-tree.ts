/** Turns an ordinary root file system into a tree `ostree admin deploy` accepts, and commits it. */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SystemStateError } from '@ostree-layer/core';
import { RECIPE_KEY } from './cache.js';
import { run } from './run.js';

export const STAND_IN_KERNEL_VERSION = '6.1.0-stand-in';

export interface OstreeReadyOptions {
  /** Package databases to move from their mutable /var home into /usr, as [from, to] relative paths. */
  moveIntoUsr?: ReadonlyArray<readonly [string, string]>;
}

/**
 * Rewrites `root` in place: /etc becomes /usr/etc (ostree refuses a tree with both and recreates /etc on deploy), the
 * package database moves under /usr, the API file systems and /var are emptied (ostree deploys /var once per
 * stateroot, never from the commit), and a stand-in kernel is added because `ostree admin deploy` needs one.
 * Symlinks inside /etc keep their text: after deploy they are read from /etc again, where "../usr/…" is right.
 */
export async function makeOstreeReady(root: string, options: OstreeReadyOptions = {}): Promise<void> {
  const etc = join(root, 'etc');
  const usrEtc = join(root, 'usr', 'etc');
  if (existsSync(etc)) {
    if (existsSync(usrEtc)) {
      throw new SystemStateError(`${root} has both etc/ and usr/etc/; ostree cannot deploy that: merge them first`);
    }
    await rename(etc, usrEtc);
  }
  for (const [from, to] of options.moveIntoUsr ?? []) {
    const source = join(root, from);
    if (!existsSync(source)) continue;
    await mkdir(dirname(join(root, to)), { recursive: true });
    await rename(source, join(root, to));
  }
  for (const name of ['var', 'proc', 'sys', 'dev', 'run', 'tmp']) {
    const path = join(root, name);
    await rm(path, { recursive: true, force: true });
    await mkdir(path);
    // mkdir applies the umask; these modes are what a booted system expects.
    await chmod(path, name === 'tmp' ? 0o1777 : 0o755);
  }
  const modules = join(root, 'usr', 'lib', 'modules');
  const versions = existsSync(modules) ? await readdir(modules) : [];
  if (!versions.some((v) => existsSync(join(modules, v, 'vmlinuz')))) {
    const kernelDir = join(modules, STAND_IN_KERNEL_VERSION);
    await mkdir(kernelDir, { recursive: true });
    await writeFile(join(kernelDir, 'vmlinuz'), 'stand-in kernel: ostree admin deploy needs a file here, any bytes do\n');
  }
  if (!existsSync(join(root, 'usr', 'lib', 'os-release')) && !existsSync(join(usrEtc, 'os-release'))) {
    throw new SystemStateError(`${root} has no usr/lib/os-release or usr/etc/os-release; ostree admin deploy needs one`);
  }
}

export interface CommitTreeOptions {
  repo: string;
  ref: string;
  root: string;
  subject: string;
  /** Recorded under {@link RECIPE_KEY} so a changed recipe is rebuilt. */
  recipe?: string;
  metadata?: Record<string, string>;
}

/** Commits `root` to `ref` and returns the commit checksum. */
export async function commitTree(options: CommitTreeOptions): Promise<string> {
  const metadata = { ...options.metadata, ...(options.recipe ? { [RECIPE_KEY]: options.recipe } : {}) };
  const args = [
    'commit',
    `--repo=${options.repo}`,
    `--branch=${options.ref}`,
    `--tree=dir=${options.root}`,
    `--subject=${options.subject}`,
    ...Object.entries(metadata).map(([k, v]) => `--add-metadata-string=${k}=${v}`),
  ];
  return (await run('ostree', args)).trim();
}
