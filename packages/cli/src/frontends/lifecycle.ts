/**
 * Verbs of apt and dnf that an OSTree system answers differently, each with the reason and what to use instead.
 *
 * LIFECYCLE MAPPING — the lifecycle verbs (`ostree-layer upgrade`, `rollback`, `autoremove`) are being added to the
 * CLI separately. When they exist, map `upgrade`/`full-upgrade`/`dist-upgrade`/`distro-sync`/`update` (dnf),
 * `autoremove` and `rollback`/`history rollback` to them here instead of explaining.
 */
import { UsageError } from '@ostree-layer/core/errors';
import { unavailable, type Session } from './options.js';

const UPGRADE = ['upgrade', 'full-upgrade', 'dist-upgrade', 'distro-sync', 'update', 'upgrade-minimal'];

export function lifecycle(session: Session, verb: string, hints: { remove: string }): never {
  const me = session.me;
  if (UPGRADE.includes(verb)) {
    unavailable(session, verb, "base packages are part of the OSTree image: update the base with 'ostree admin upgrade' " +
      `(layered packages are not carried onto a new base yet; take them off with '${hints.remove}' and layer them again)`);
  }
  if (verb === 'autoremove') {
    unavailable(session, verb, `layered dependencies are removed with the package that needed them; take a layered package off with '${hints.remove}'`);
  }
  if (verb === 'rollback') {
    unavailable(session, verb, "the previous deployment stays in the boot menu: boot it, or make it the default with 'ostree admin undeploy 0' (which deletes the newest)");
  }
  if (verb === 'reinstall' || verb === 'downgrade') {
    unavailable(session, verb, `/usr is read-only and layered packages are composed, not unpacked: take the package off with '${hints.remove}' and install the wanted version`);
  }
  throw new UsageError(`'${verb}' is not a ${me} command on an OSTree system; see ${me} --help`);
}
