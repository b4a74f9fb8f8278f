/**
 * Discover: what a transaction starts from — a deployment of a sysroot (booted or on disk), or a ref in a bare repo for
 * a server-side compose — and which backend's database that tree carries.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, InstalledDatabase } from '../backend.js';
import { SystemStateError } from '../errors.js';
import { detectPlugin, type FormatPlugin } from '../plugin.js';
import { OstreeRepo } from '../ostree.js';
import { DirectoryTree, type TreeReader } from '../tree.js';
import { derivedCachePath, RepoTree } from './repo-tree.js';
import { TransactionLock } from '../lock.js';
import { discarded, removeStaleScratch, setTransactionScratch } from '../scratch.js';
import { readLayerState, Sysroot, type Deployment, type LayerState } from './sysroot.js';

export interface Target {
  /** Layer onto a sysroot's deployment (booted `/` when `sysroot` is undefined). */
  sysroot?: string;
  osName?: string;
  /** Compose server-side instead: start from `ref` in `repo`, move `ref` to the result, deploy nothing. */
  commitOnly?: { repo: string; ref: string };
}

export interface Opened {
  repo: OstreeRepo;
  tree: TreeReader;
  fromCommit: string;
  deployment?: Deployment;
  sysroot?: Sysroot;
  /** The directory whose transactions exclude each other (the sysroot, or the repo for --commit-only). */
  lockPath: string;
  cleanup: () => Promise<void>;
}

export async function openTarget(target: Target): Promise<Opened> {
  if (target.commitOnly) {
    const repo = new OstreeRepo(target.commitOnly.repo);
    if (!existsSync(join(repo.path, 'config'))) throw new SystemStateError(`${repo.path} is not an OSTree repo; check --repo`);
    const commit = await repo.resolve(target.commitOnly.ref);
    if (!commit) throw new SystemStateError(`ref ${target.commitOnly.ref} does not exist in ${repo.path}; check --ref`);
    const tree = new RepoTree(repo, commit);
    return { repo, tree, fromCommit: commit, lockPath: repo.path, cleanup: () => tree.dispose() };
  }
  const sysroot = Sysroot.open(target.sysroot);
  const deployment = await sysroot.target(target.osName);
  return {
    repo: sysroot.repo,
    tree: new DirectoryTree(deployment.dir, (dir, name) => derivedCachePath(sysroot.repo, deployment.commit, dir, name)),
    fromCommit: deployment.commit,
    deployment,
    sysroot,
    lockPath: sysroot.path,
    cleanup: async () => undefined,
  };
}

/** What every transaction starts from, opened, with the lock held (unless it only looks). */
export interface TransactionContext extends Opened {
  /** The format of the tree's database; `backend` is `plugin.backend`. */
  plugin: FormatPlugin;
  backend: Backend;
  /** Where the backend's database is in the tree. */
  location: string;
  database: InstalledDatabase;
  /** What ostree-layer layered on this tree before, or null for a plain base. */
  previous: LayerState | null;
  /** Releases the lock and removes scratch files. */
  close(): Promise<void>;
}

/**
 * Opens the target, takes its lock when `lock` (a dry run only reads), clears a killed run's scratch, and opens the
 * backend's database. The caller must `close()` the result.
 *
 * The lock helper starts while the target is read, both being mostly waits; once the lock is held, the target is
 * looked up again (a few small reads), and opened again if a transaction that held the lock meanwhile changed it.
 */
export async function beginTransaction(target: Target, plugins: readonly FormatPlugin[], lock: boolean): Promise<TransactionContext> {
  const locking = lock ? TransactionLock.acquire(lockPathOf(target)) : undefined;
  const [openedResult, heldResult] = await Promise.allSettled([openTarget(target), locking]);
  const held = heldResult.status === 'fulfilled' ? heldResult.value : undefined;
  if (openedResult.status === 'rejected') {
    await held?.release();
    throw openedResult.reason;
  }
  let opened = openedResult.value;
  try {
    if (heldResult.status === 'rejected') throw heldResult.reason;
    if (held) {
      if (!(await stillCurrent(target, opened))) {
        await opened.cleanup();
        opened = await openTarget(target);
      }
      await removeStaleScratch(opened.repo.path);
      setTransactionScratch(opened.repo.path);
    }
    const { plugin, location } = await detectPlugin(plugins, opened.tree);
    const { backend } = plugin;
    const database = await backend.openDatabase(opened.tree, location);
    const previous = await readLayerState(opened.tree);
    return {
      ...opened,
      plugin,
      backend,
      location,
      database,
      previous,
      close: async () => {
        await discarded();
        if (held) setTransactionScratch(undefined);
        await held?.release();
        await opened.cleanup();
      },
    };
  } catch (err) {
    await discarded();
    if (held) setTransactionScratch(undefined);
    await held?.release();
    await opened.cleanup();
    throw err;
  }
}

/** The directory whose lock a transaction on `target` takes (what {@link Opened.lockPath} will say). */
function lockPathOf(target: Target): string {
  return target.commitOnly ? new OstreeRepo(target.commitOnly.repo).path : Sysroot.open(target.sysroot).path;
}

/** Whether `opened`, read before the lock was held, is still what `target` names. */
async function stillCurrent(target: Target, opened: Opened): Promise<boolean> {
  if (target.commitOnly) return (await opened.repo.resolve(target.commitOnly.ref)) === opened.fromCommit;
  const now = await opened.sysroot!.target(target.osName);
  const was = opened.deployment!;
  return now.osName === was.osName && now.commit === was.commit && now.serial === was.serial && now.dir === was.dir;
}
