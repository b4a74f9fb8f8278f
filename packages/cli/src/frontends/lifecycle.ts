/**
 * The lifecycle verbs of apt and dnf: `upgrade` (and full-upgrade, dist-upgrade, distro-sync, dnf update) is
 * `ostree-layer upgrade` (a new base with the layered packages resolved onto it again), asked like any other change;
 * `rollback` (dnf history undo/rollback) is `ostree-layer rollback`. What cannot work on OSTree says why.
 */
import { UsageError } from '@ostree-layer/core/errors';
import type { Prompt } from './prompts.js';
import { targetOf, unavailable, type Session } from './options.js';

const UPGRADE = ['upgrade', 'full-upgrade', 'dist-upgrade', 'distro-sync', 'update', 'upgrade-minimal'];

export interface LifecycleStyle extends Prompt {
  /** How the tool says "take a package off". */
  remove: string;
}

export async function lifecycle(session: Session, verb: string, style: LifecycleStyle): Promise<void> {
  if (UPGRADE.includes(verb)) return upgradeVerb(session, style);
  if (verb === 'rollback') {
    const { runRollback } = await import('../lifecycle-commands.js');
    return runRollback({ ...targetOf(session), os: session.os, dryRun: session.simulate });
  }
  if (verb === 'reinstall' || verb === 'downgrade') {
    unavailable(session, verb, `/usr is read-only and layered packages are composed, not unpacked: take the package off with '${style.remove}' and install the wanted version`);
  }
  throw new UsageError(`'${verb}' is not a ${session.me} command on an OSTree system; see ${session.me} --help`);
}

/** Shows what the upgrade would change, asks (unless -y), then upgrades. */
async function upgradeVerb(session: Session, style: LifecycleStyle): Promise<void> {
  const [{ upgrade }, { printUpgrade }, { PLUGINS }, { ask }, { renderer }] = await Promise.all([
    import('@ostree-layer/core'), import('../lifecycle-commands.js'), import('../backends.js'), import('./asked.js'), import('../progress.js'),
  ]);
  const options = {
    plugins: PLUGINS,
    sysroot: session.sysroot,
    osName: session.os,
    cacheDir: session.cacheDir,
    extraSources: session.sources,
    allowUnauthenticated: session.allowUnauthenticated,
    noInstallRecommends: session.noRecommends,
    report: renderer({ json: false }),
  };
  if (session.assume !== 'yes' || session.simulate) {
    const check = await upgrade({ ...options, dryRun: true });
    printUpgrade(check);
    if (check.upToDate || session.simulate) return;
    if (!(await ask(session, style))) {
      console.log(style.aborted);
      process.exitCode = 1;
      return;
    }
  }
  printUpgrade(await upgrade(options));
}
