/** @ostree-layer/dpkg: the dpkg backend (.deb files, the dpkg database, Debian versions and relationships). */
import { open } from 'node:fs/promises';
import { UsageError, type Backend, type FormatPlugin, type PackageFile, type PackageId } from '@ostree-layer/core';
import { DebPackage, openDeb } from './archive.js';
import { databaseWithout } from './database-remove.js';
import { findDatabase, layeredStatus, openDatabase, writeDatabase } from './database.js';
import { parseRelationField, replacesOwner } from './dependencies.js';
import { inspectDeb } from './inspect.js';
import { dpkgRepositories } from './resolve-model.js';
import { planScripts } from './scripts.js';
import { compareDebVersions, DebVersionError, dpkgCompareVersions } from './version.js';

export * from './ar.js';
export * from './archive.js';
export * from './control.js';
export * from './database.js';
export * from './database-remove.js';
export * from './decompress.js';
export * from './dependencies.js';
export * from './inspect.js';
export * from './native-tools.js';
export * from './scripts.js';
export * from './triggers.js';
export * from './version.js';

/** A .deb starts with the ar magic followed by the "debian-binary" member header. */
async function looksLikeDeb(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(21);
    const { bytesRead } = await fh.read(buf, 0, 21, 0);
    return bytesRead === 21 && buf.toString('latin1') === '!<arch>\ndebian-binary';
  } finally {
    await fh.close();
  }
}

export const dpkgBackend: Backend = {
  name: 'dpkg',
  extension: 'deb',

  async supportsFile(file) {
    try {
      return await looksLikeDeb(file);
    } catch {
      return false;
    }
  },

  detect: findDatabase,
  openDatabase,
  openPackage: openDeb,
  compareVersions: compareDebVersions,

  versionRelation(a, op, b) {
    try {
      return dpkgCompareVersions(a, op, b);
    } catch (err) {
      if (err instanceof DebVersionError) throw new UsageError(`vercmp: ${err.message}`);
      throw err;
    }
  },

  mayOverwrite(incoming: PackageFile, owner: PackageId): boolean {
    if (incoming.id.name === owner.name && incoming.id.arch === owner.arch) return true;
    const replaces = incoming instanceof DebPackage ? incoming.control.get('Replaces') : undefined;
    return replacesOwner(parseRelationField(replaces), owner);
  },

  overwriteHint: (_incoming, owner) => `"Replaces: ${owner.name}" in its control file`,

  // dpkg keeps one package per name unless it is Multi-Arch: same; an `all` package stands for every architecture.
  sameSlot: (incoming, installed) => incoming.arch === 'all' || installed.arch === 'all',

  writeDatabase,
  databaseWithout,
  planScripts,

  inspect: (file: string) => inspectDeb(file),

  stateNote(pkg: PackageFile): string | undefined {
    if (!(pkg instanceof DebPackage) || !pkg.hasScripts) return undefined;
    const scripts = ['preinst', 'postinst', 'config'].filter((s) => pkg.controlMembers.has(s));
    const state = layeredStatus(pkg);
    return `${pkg.id.name}: maintainer script(s) ${scripts.join(', ')} not run; recorded as "${state}"` +
      (state.endsWith('unpacked') ? ' (run "dpkg --configure -a" on a writable system to finish it)' : '');
  },
};
export { dpkgRepositories } from './resolve-model.js';

/** The dpkg format as the command registers it: .deb files and the dpkg database, and APT repositories. */
export const dpkgPlugin: FormatPlugin = { backend: dpkgBackend, repositories: dpkgRepositories };
