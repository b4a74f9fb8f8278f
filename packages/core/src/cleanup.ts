/**
 * `cleanup`: the repo back to what the live deployments need. Refs are put on every base and layer commit a deployment
 * was composed from, every other ref of ours goes (cached package layers no deployment uses included), and
 * `ostree admin cleanup` prunes the objects nothing holds any more. Deploys run the same after themselves.
 */
import { adminCleanup } from './deploy/deploy.js';
import { dropUnusedRefs, type RetentionReport } from './deploy/retention.js';
import { Sysroot } from './discover/sysroot.js';
import { TransactionLock } from './lock.js';

export interface CleanupOptions {
  sysroot?: string;
}

export type CleanupResult = RetentionReport;

export async function cleanup(options: CleanupOptions): Promise<CleanupResult> {
  const sysroot = Sysroot.open(options.sysroot);
  const lock = await TransactionLock.acquire(sysroot.path);
  try {
    const report = await dropUnusedRefs(sysroot);
    await adminCleanup(sysroot);
    return report;
  } finally {
    await lock.release();
  }
}
