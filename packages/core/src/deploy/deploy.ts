/**
 * Deploy: hand the composed commit to `ostree admin deploy`, which also performs /etc's 3-way merge. The origin keeps
 * the base's refspec, so a plain `ostree admin upgrade` still follows the vendor's branch, plus our own group recording
 * what was layered. Before the deploy, refs are put on everything the new tree was composed from (the prune that
 * `ostree admin deploy` runs would delete the base commit otherwise); after it, what no deployment uses any more goes.
 */
import { run } from '../run.js';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withRequests, type Deployment, type LayerState, type Sysroot } from '../discover/sysroot.js';
import { formatIni, type Ini } from '../discover/ini.js';
import { faultPoint } from '../fault.js';
import { whileDeploying } from '../interrupt.js';
import { yieldOstreeLock } from '../lock.js';
import { toolError } from '../ostree.js';
import { RefLedger } from '../ref-ledger.js';
import { scratchDir } from '../scratch.js';
import { cleanupSysroot, holdState } from './retention.js';

export const ORIGIN_GROUP = 'ostree-layer';

/**
 * Deploys `commit` with `from`'s origin; `state` null means the plain base again (our origin group dropped). The hold
 * refs go in `refs`, the transaction's ledger (without one, a ledger of the deploy's own, so uninstall's hold refs
 * go back too when the deploy fails); once the deployment is made, what the ledger noted holds it and stays.
 */
export async function deployCommit(sysroot: Sysroot, from: Deployment, commit: string, state: LayerState | null, refs?: RefLedger): Promise<void> {
  const origin: Ini = { ...from.origin };
  delete origin[ORIGIN_GROUP];
  if (state) origin[ORIGIN_GROUP] = originGroup(state);
  const ledger = refs ?? new RefLedger(sysroot.repo);
  try {
    // Not synced one by one: the deploy that follows syncs the file system before the new deployment can boot.
    if (state) await holdState(sysroot.repo, state, ledger, { durable: false });
    await adminDeploy(sysroot, from.osName, commit, origin);
    ledger.settle();
  } catch (err) {
    // A ledger passed in is the transaction's: its own failure path takes everything back at once.
    if (!refs) await ledger.takeBack();
    throw err;
  } finally {
    if (!refs) ledger.close();
  }
  await faultPoint('deployed');
  await cleanupSysroot(sysroot);
}

/** Our origin group: enough to recognise a deployment whose layers were dropped and to layer its requests again. */
function originGroup(state: LayerState): Record<string, string> {
  return {
    'base-commit': state.baseCommit,
    backend: state.backend,
    requests: JSON.stringify(state.requests),
    requested: JSON.stringify(state.requested ?? []),
    packages: state.packages.map((p) => `${p.name}=${p.version}:${p.arch}`).join(';'),
  };
}

/**
 * The layering an origin records, read back: how a deployment made behind our back (`ostree admin upgrade` keeps the
 * origin) is recognised, and what `upgrade`/`install` lay on it again. Null when the origin has no group of ours.
 */
export function originLayerState(origin: Ini): LayerState | null {
  const group = origin[ORIGIN_GROUP];
  if (!group?.['base-commit']) return null;
  const parse = <T>(text: string | undefined, fallback: T): T => {
    try {
      return text ? (JSON.parse(text) as T) : fallback;
    } catch {
      return fallback;
    }
  };
  const packages = (group.packages ?? '')
    .split(';')
    .filter(Boolean)
    .map((entry) => {
      const eq = entry.indexOf('=');
      const colon = entry.lastIndexOf(':');
      return { name: entry.slice(0, eq), version: entry.slice(eq + 1, colon), arch: entry.slice(colon + 1), ref: '' };
    });
  return withRequests({
    baseCommit: group['base-commit'],
    backend: group.backend ?? '',
    requests: parse<string[][]>(group.requests, []),
    requested: group.requested ? parse(group.requested, undefined) : undefined,
    packages,
  });
}

export interface AdminDeployFlags {
  /** Keep every existing deployment (`--retain`). */
  retain?: boolean;
  /** Put the new deployment last instead of first (`--not-as-default`). */
  notAsDefault?: boolean;
}

/** `ostree admin deploy` of `commit` with exactly this origin. */
export async function adminDeploy(sysroot: Sysroot, osName: string, commit: string, origin: Ini, flags: AdminDeployFlags = {}): Promise<void> {
  const dir = await scratchDir(sysroot.repo.path, 'origin');
  try {
    const originFile = join(dir, 'origin');
    await writeFile(originFile, formatIni(origin));
    const args = ['deploy', `--os=${osName}`, `--origin-file=${originFile}`];
    if (flags.retain) args.push('--retain');
    if (flags.notAsDefault) args.push('--not-as-default');
    await admin(sysroot, [...args, commit]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `ostree admin undeploy INDEX` (the index in `ostree admin status` order, across stateroots). */
export async function adminUndeploy(sysroot: Sysroot, index: number): Promise<void> {
  await admin(sysroot, ['undeploy', String(index)]);
}

/** `ostree admin cleanup`: deletes what no deployment and no ref holds. */
export async function adminCleanup(sysroot: Sysroot): Promise<void> {
  await admin(sysroot, ['cleanup']);
}

async function admin(sysroot: Sysroot, args: string[]): Promise<void> {
  const [verb, ...rest] = args;
  // Every `ostree admin` verb takes OSTree's sysroot lock itself, and would wait for us forever while we hold it.
  await yieldOstreeLock(sysroot.path);
  try {
    // Once it runs, a signal waits for it (interrupt.ts): the result is then reported, not guessed. Its own process
    // group: a Ctrl-C on the terminal reaches us, who decide that, and not ostree halfway through.
    await whileDeploying(`ostree admin ${verb}`, async () => {
      if (verb === 'deploy') await faultPoint('deploying');
      await run('ostree', ['admin', verb!, ...(sysroot.booted ? [] : [`--sysroot=${sysroot.path}`]), ...rest], { detached: true });
    });
  } catch (err) {
    throw toolError(`ostree admin ${verb}`, err);
  }
}
