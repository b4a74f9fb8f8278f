/**
 * `cleanup`: the repo and the download cache back to what the live deployments need. Refs are put on every base and
 * layer commit a deployment was composed from, every other ref of ours goes (cached package layers no deployment
 * uses included), and `ostree admin cleanup` prunes the objects nothing holds any more. Deploys do the same to the
 * repo after themselves; downloaded package files are only removed here (as `apt-get autoclean` does): those that no
 * live deployment was layered from.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { adminCleanup } from './deploy/deploy.js';
import { dropUnusedRefs, type RetentionReport } from './deploy/retention.js';
import { readLayerState, Sysroot } from './discover/sysroot.js';
import { TransactionLock } from './lock.js';
import { DEFAULT_CACHE_DIR } from './transaction.js';
import { DirectoryTree } from './tree.js';

export interface CleanupOptions {
  sysroot?: string;
  /** The download cache to clean (default /var/cache/ostree-layer). */
  cacheDir?: string;
}

export interface CleanupResult extends RetentionReport {
  /** Downloaded package files removed, and the bytes they took. */
  archivesRemoved: string[];
  bytesFreed: number;
}

export async function cleanup(options: CleanupOptions): Promise<CleanupResult> {
  const sysroot = Sysroot.open(options.sysroot);
  const lock = await TransactionLock.acquire(sysroot.path);
  try {
    const report = await dropUnusedRefs(sysroot);
    await adminCleanup(sysroot);
    return { ...report, ...(await removeUnusedArchives(sysroot, join(options.cacheDir ?? DEFAULT_CACHE_DIR, 'archives'))) };
  } finally {
    await lock.release();
  }
}

/** Removes the downloads in `archives` that no live deployment's layered packages were made from. */
async function removeUnusedArchives(sysroot: Sysroot, archives: string): Promise<{ archivesRemoved: string[]; bytesFreed: number }> {
  const used = new Set<string>();
  for (const d of await sysroot.deployments()) {
    for (const p of (await readLayerState(new DirectoryTree(d.dir)))?.packages ?? []) if (p.file) used.add(p.file);
  }
  let names: string[];
  try {
    names = await readdir(archives);
  } catch {
    return { archivesRemoved: [], bytesFreed: 0 };
  }
  const archivesRemoved: string[] = [];
  let bytesFreed = 0;
  for (const name of names) {
    const path = join(archives, name);
    if (used.has(path)) continue;
    const st = await stat(path).catch(() => null);
    if (!st?.isFile()) continue;
    await rm(path, { force: true });
    archivesRemoved.push(path);
    bytesFreed += st.size;
  }
  return { archivesRemoved, bytesFreed };
}
