/**
 * Discover: which sysroot, which deployment, which commit, and what ostree-layer put on it before.
 */
import { run } from '../run.js';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PackageId } from '../backend.js';
import { SystemStateError } from '../errors.js';
import { OstreeRepo, toolError } from '../ostree.js';
import type { TreeReader } from '../tree.js';
import { parseIni, type Ini } from './ini.js';

/** Where ostree-layer records, inside every tree it composes, what the tree is made of. */
export const STATE_PATH = '/usr/lib/ostree-layer/state.json';

/** Refs that keep script layers alive across the prune `ostree admin deploy` runs: `<prefix><checksum>`. */
export const SCRIPT_LAYER_REF_PREFIX = 'ostree-layer/scripts/';

/** One layered package as the state records it. */
export interface LayeredRecord extends PackageId {
  /** The cache ref it was imported under (shared by every base: it may have moved since). */
  ref: string;
  /** The layer commit this tree was composed from; recomposing uses it, not the ref. Absent in older states. */
  commit?: string;
  /** True when the user asked for it; false when the solver pulled it in (apt's "automatically installed"). */
  requested?: boolean;
  /** The package file it was layered from (a download in the cache, or the file given); `cleanup` keeps these. */
  file?: string;
}

/** What the user asked for: re-resolved by `upgrade`, dropped by `uninstall`. */
export interface LayerRequest {
  /** The package name the request is about. */
  name: string;
  /** The request as typed ("htop", "foo=1.2"); for a package file, the package's name. */
  text: string;
  /** A package file request: where ostree-layer keeps a copy of the file for later recomposes. */
  file?: string;
}

/** What a composed tree is made of: written to {@link STATE_PATH} and to the commit's metadata. */
export interface LayerState {
  /** The commit that ostree-layer started from before any layering (the OS vendor's commit). */
  baseCommit: string;
  backend: string;
  /** History: every command that changed the layered set, in order (["install", "htop"], ["uninstall", "jq"]). */
  requests: string[][];
  /** The requests in force (absent in states written before requests were kept apart; derived on reading). */
  requested?: LayerRequest[];
  /** Every package layered on the base, in layer order. */
  packages: LayeredRecord[];
  /**
   * What each transaction's maintainer scripts changed, as layer commits in order (each held by a ref under
   * {@link SCRIPT_LAYER_REF_PREFIX}); a recomposition from the base stacks them again.
   */
  scriptLayers?: string[];
}

export interface Deployment {
  osName: string;
  commit: string;
  serial: number;
  /** The deployment's root directory on disk. */
  dir: string;
  originFile: string;
  origin: Ini;
  booted: boolean;
  pending: boolean;
  rollback: boolean;
}

export class Sysroot {
  readonly repo: OstreeRepo;

  constructor(readonly path: string, readonly booted: boolean) {
    this.repo = new OstreeRepo(join(path, 'ostree/repo'));
  }

  /** The booted system when there is one and no directory was given, else the directory given. */
  static open(dir?: string): Sysroot {
    if (dir === undefined) {
      if (!existsSync('/run/ostree-booted')) {
        throw new SystemStateError(
          'this system was not booted from OSTree (/run/ostree-booted is missing): pass --sysroot DIR (and --os NAME) ' +
            'to layer onto a sysroot on disk, or --repo and --ref with --commit-only to compose without one',
        );
      }
      return new Sysroot('/', true);
    }
    if (!existsSync(join(dir, 'ostree/repo/config'))) {
      throw new SystemStateError(`${dir} is not an OSTree sysroot (no ostree/repo in it); check --sysroot`);
    }
    return new Sysroot(dir, false);
  }

  /**
   * Deployments in boot order, as `ostree admin status` lists them: read from the boot loader entries as libostree
   * does, and from `ostree admin status` itself where that reading could differ from OSTree's (see
   * {@link readBootLoaderDeployments}).
   */
  async deployments(): Promise<Deployment[]> {
    return (await readBootLoaderDeployments(this.path, this.booted ? '/' : undefined)) ?? this.adminStatusDeployments();
  }

  /** Deployments in boot order, from `ostree admin status`. */
  async adminStatusDeployments(): Promise<Deployment[]> {
    let out: string;
    try {
      out = (await run('ostree', ['admin', 'status', `--sysroot=${this.path}`])).stdout;
    } catch (err) {
      throw toolError('ostree admin status', err);
    }
    const found: Deployment[] = [];
    for (const line of out.split('\n')) {
      const m = /^([* ]) (\S+) ([0-9a-f]{64})\.(\d+)(.*)$/.exec(line);
      if (!m) continue;
      const [, mark, osName, commit, serial, rest] = m;
      found.push({
        ...(await deploymentAt(this.path, osName!, commit!, Number(serial))),
        booted: mark === '*',
        pending: rest!.includes('(pending)') || rest!.includes('(staged)'),
        rollback: rest!.includes('(rollback)'),
      });
    }
    return found;
  }

  /**
   * The root directories of every deployment on disk (`ostree/deploy/<os>/deploy/<commit>.<serial>`), without a
   * process: what retention needs to know which layers are still in use. `ostree admin deploy` removes the directories
   * of the deployments it drops, so this is every live deployment (and, after an interrupted clean-up, perhaps one
   * more: keeping its layers a while longer is the safe side).
   */
  async deploymentDirs(): Promise<string[]> {
    const root = join(this.path, 'ostree/deploy');
    const out: string[] = [];
    for (const os of await readdir(root).catch(() => [] as string[])) {
      const dir = join(root, os, 'deploy');
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        if (entry.isDirectory() && /^[0-9a-f]{64}\.\d+$/.test(entry.name)) out.push(join(dir, entry.name));
      }
    }
    return out.sort();
  }

  /**
   * The deployment a transaction starts from: the booted one when booted, else the default (first) one, restricted to
   * `osName` when given.
   */
  async target(osName?: string): Promise<Deployment> {
    const all = (await this.deployments()).filter((d) => osName === undefined || d.osName === osName);
    const chosen = all.find((d) => d.booted) ?? all[0];
    if (!chosen) {
      const where = osName ? ` for --os ${osName}` : '';
      throw new SystemStateError(`no deployment found in sysroot ${this.path}${where}; deploy a base first with ostree admin deploy`);
    }
    return chosen;
  }
}

/**
 * The layering state recorded in a tree, or null for a tree ostree-layer did not compose. States written before
 * requests were recorded apart get them derived from the history (see {@link withRequests}).
 */
export async function readLayerState(tree: TreeReader): Promise<LayerState | null> {
  if (!(await tree.lstat(STATE_PATH))) return null;
  let parsed: LayerState;
  try {
    parsed = JSON.parse((await tree.readFile(STATE_PATH)).toString('utf8')) as LayerState;
  } catch (err) {
    throw new SystemStateError(`${tree.description}${STATE_PATH} is unreadable (${(err as Error).message}); recompose from the base`);
  }
  return withRequests(parsed);
}

/**
 * Fills in `requested` and each package's `requested` flag for an older state: the names of every "install" entry of
 * the history not taken back by a later "uninstall", among the packages still layered. Every other layered package
 * counts as pulled in.
 */
export function withRequests(state: LayerState): LayerState {
  if (state.requested) return state;
  const wanted = new Map<string, string>();
  for (const [verb, ...args] of state.requests ?? []) {
    for (const text of args) {
      const name = requestName(text);
      if (verb === 'install') wanted.set(name, text);
      else wanted.delete(name);
    }
  }
  const requested: LayerRequest[] = [];
  const packages = state.packages.map((p) => {
    const text = wanted.get(p.name);
    if (text !== undefined && !requested.some((r) => r.name === p.name)) requested.push({ name: p.name, text });
    return { ...p, requested: text !== undefined };
  });
  return { ...state, requested, packages };
}

/** The package name inside a request as typed ("foo=1.2", "foo:i386", "foo >= 2" → "foo"). */
export function requestName(text: string): string {
  return text.trim().split(/[\s=<>:]/, 1)[0];
}

/** A deployment's directory and origin, as every listing fills them in. */
async function deploymentAt(sysroot: string, osName: string, commit: string, serial: number): Promise<Omit<Deployment, 'booted' | 'pending' | 'rollback'>> {
  const dir = join(sysroot, 'ostree/deploy', osName, 'deploy', `${commit}.${serial}`);
  const originFile = `${dir}.origin`;
  const origin = existsSync(originFile) ? parseIni(await readFile(originFile, 'utf8')) : {};
  return { osName, commit, serial, dir, originFile, origin };
}

/**
 * The deployments of `sysroot` in boot order, read as libostree's sysroot loading reads them, without its 40 ms
 * process: `boot/loader` names the current boot version N (`loader.N`; absent means 0), each
 * `boot/loader.N/entries/ostree-*.conf` is one deployment, its `options` line's `ostree=/ostree/boot.N/OS/BOOTCSUM/SERIAL`
 * a symlink through `ostree/boot.N` to `../../../deploy/OS/deploy/COMMIT.SERIAL`, and the entries sort by their
 * `version` line, highest first. On a booted system (`bootedRoot` is then `/`) the booted deployment is the one whose
 * directory is `bootedRoot` (device and inode), and pending and rollback are the first deployments of its stateroot
 * before and after it.
 *
 * Null, so that the caller asks `ostree admin status`, wherever this reading could differ from OSTree's or OSTree
 * would report an error in its own words: a staged deployment (it lives in /run, in GVariant form), a booted system
 * whose `/` is no deployment directory (composefs and overlay roots record their backing inode elsewhere), a
 * version that is not a plain number or two entries of one version (OSTree compares with strverscmp), anything
 * unreadable or malformed.
 */
export async function readBootLoaderDeployments(sysroot: string, bootedRoot?: string): Promise<Deployment[] | null> {
  if (bootedRoot !== undefined && existsSync('/run/ostree/staged-deployment')) return null;
  try {
    const loader = await lstat(join(sysroot, 'boot/loader')).catch(() => null);
    let bootVersion = '0';
    if (loader) {
      if (!loader.isSymbolicLink()) return null;
      const target = await readlink(join(sysroot, 'boot/loader'));
      if (target !== 'loader.0' && target !== 'loader.1') return null;
      bootVersion = target.slice(-1);
    }
    const entriesDir = join(sysroot, 'boot', `loader.${bootVersion}`, 'entries');
    const names = (await readdir(entriesDir).catch(() => [] as string[])).filter((n) => n.startsWith('ostree-') && n.endsWith('.conf'));
    const entries: Array<{ version: number; osName: string; commit: string; serial: number }> = [];
    for (const name of names) {
      const file = join(entriesDir, name);
      if (!(await stat(file)).isFile()) continue;
      const keys = bootConfigKeys(await readFile(file, 'utf8'));
      const version = keys.get('version');
      if (version === undefined || !/^\d{1,15}$/.test(version)) return null;
      const bootLink = (keys.get('options') ?? '').split(' ').find((o) => o.startsWith('ostree='))?.slice('ostree='.length);
      const link = bootLink && /^\/ostree\/boot\.([01])\/([^/]+)\/([^/]+)\/([0-9]+)$/.exec(bootLink);
      if (!link) return null;
      const target = /^([0-9a-f]+)\.([0-9]+)$/.exec((await readlink(join(sysroot, bootLink))).split('/').pop()!);
      if (!target || target[1]!.length !== 64) return null;
      entries.push({ version: Number(version), osName: link[2]!, commit: target[1]!, serial: Number(target[2]) });
    }
    entries.sort((a, b) => b.version - a.version);
    if (entries.some((e, i) => i > 0 && entries[i - 1]!.version === e.version)) return null;
    const found: Deployment[] = [];
    for (const e of entries) found.push({ ...(await deploymentAt(sysroot, e.osName, e.commit, e.serial)), booted: false, pending: false, rollback: false });
    if (bootedRoot !== undefined) {
      const root = await stat(bootedRoot);
      let index = -1;
      for (const [i, d] of found.entries()) {
        const s = await stat(d.dir);
        if (s.dev === root.dev && s.ino === root.ino) index = i;
      }
      if (index < 0) return null;
      const current = found[index]!;
      current.booted = true;
      const sameOs = (d: Deployment) => d.osName === current.osName;
      const pending = found.slice(0, index).find(sameOs);
      const rollback = found.slice(index + 1).find(sameOs);
      if (pending) pending.pending = true;
      if (rollback) rollback.rollback = true;
    }
    return found;
  } catch {
    return null;
  }
}

/** A boot loader entry's keys: each line that starts with a letter is `key value` (space or tab); the last wins. */
function bootConfigKeys(text: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!/^[A-Za-z]/.test(line)) continue;
    const m = /^([^ \t]+)[ \t](.*)$/s.exec(line);
    if (m) keys.set(m[1]!, m[2]!);
  }
  return keys;
}
