/**
 * `rollback`: the previous deployment boots next, as `rpm-ostree rollback` does. ostree 2022.7's command line cannot
 * reorder deployments (no `set-default`), so the deployment that must move is deployed again from its own commit and
 * origin with `--retain` (first, or last with `--not-as-default`), and its old copy is undeployed. The booted
 * deployment is never the one redeployed or undeployed. The new copy's /etc is merged from the current one, as any
 * new deployment's is.
 */
import { adminDeploy, adminUndeploy } from './deploy/deploy.js';
import { cleanupSysroot } from './deploy/retention.js';
import { Sysroot, type Deployment } from './discover/sysroot.js';
import { SystemStateError } from './errors.js';
import { TransactionLock } from './lock.js';

export interface RollbackOptions {
  sysroot?: string;
  osName?: string;
  dryRun?: boolean;
  progress?: (line: string) => void;
}

export interface DeploymentRef {
  osName: string;
  commit: string;
  serial: number;
}

export interface RollbackResult {
  dryRun: boolean;
  /** The deployment that boots next after the rollback. */
  bootsNext: DeploymentRef;
  /** The one that was the default and is now the rollback. */
  previousDefault: DeploymentRef;
}

export async function rollback(options: RollbackOptions): Promise<RollbackResult> {
  const say = options.progress ?? (() => undefined);
  const sysroot = Sysroot.open(options.sysroot);
  const lock = options.dryRun ? undefined : await TransactionLock.acquire(sysroot.path);
  try {
    const all = await sysroot.deployments();
    const mine = all.filter((d) => options.osName === undefined || d.osName === options.osName);
    const current = mine[0];
    if (!current) throw new SystemStateError(`no deployment found in sysroot ${sysroot.path}${options.osName ? ` for --os ${options.osName}` : ''}`);
    // A pending deployment in front of the booted one: going back means booting the booted one again.
    const target = !current.booted && mine.some((d) => d.booted) ? mine.find((d) => d.booted)! : mine.find((d) => d !== current && d.osName === current.osName);
    if (!target) throw new SystemStateError(`there is no rollback deployment for ${current.osName}: only ${describe(current)} is deployed`);
    const result: RollbackResult = { dryRun: Boolean(options.dryRun), bootsNext: refOf(target), previousDefault: refOf(current) };
    if (options.dryRun) return result;

    if (target.booted) {
      // The default (pending) one moves behind: a copy goes last, the original goes.
      await adminDeploy(sysroot, current.osName, current.commit, current.origin, { retain: true, notAsDefault: true });
      await adminUndeploy(sysroot, all.indexOf(current));
      const copy = (await sysroot.deployments()).find((d) => d.commit === current.commit && d.osName === current.osName);
      if (copy) result.previousDefault = refOf(copy);
    } else {
      // The target moves in front: a copy goes first, which shifts every index by one, and the original goes.
      await adminDeploy(sysroot, target.osName, target.commit, target.origin, { retain: true });
      await adminUndeploy(sysroot, all.indexOf(target) + 1);
      result.bootsNext = refOf((await sysroot.deployments())[0]);
    }
    await cleanupSysroot(sysroot);
    say(`${describe(result.bootsNext)} boots next; ${describe(result.previousDefault)} is the rollback`);
    return result;
  } finally {
    await lock?.release();
  }
}

function refOf(d: Deployment): DeploymentRef {
  return { osName: d.osName, commit: d.commit, serial: d.serial };
}

function describe(d: DeploymentRef): string {
  return `${d.osName} ${d.commit.slice(0, 10)}.${d.serial}`;
}
