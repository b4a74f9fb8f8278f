/** The rpm backend: .rpm files, rpmdb, rpm's version order. */
import { UsageError, type Backend, type FormatPlugin, type PackageFile, type PackageId, type TreeReader } from '@ostree-layer/core';
import { open } from 'node:fs/promises';
import { LEAD_MAGIC, readArchive } from './archive.js';
import { rpmDatabaseWithout } from './database-remove.js';
import { locateDatabase, openRpmDatabase, writeRpmDatabase } from './database.js';
import { inspectRpm } from './inspect.js';
import { RpmPackage, openRpm } from './package.js';
import { planRpmScripts } from './scripts.js';
import { rpmRepositories } from './repository/index.js';
import { readKeys, verifyHeaderSignature } from './signature.js';
import { compareEvrStrings, rpmCompareVersions, RpmVersionError } from './version.js';

/** Arches that share a multilib system, with rpm's file colour for each (1 = 32-bit ELF, 2 = 64-bit ELF). */
const MULTILIB: Record<string, { family: string; color: number }> = {
  x86_64: { family: 'x86', color: 2 }, i386: { family: 'x86', color: 1 }, i486: { family: 'x86', color: 1 },
  i586: { family: 'x86', color: 1 }, i686: { family: 'x86', color: 1 }, athlon: { family: 'x86', color: 1 },
  ppc64: { family: 'ppc', color: 2 }, ppc: { family: 'ppc', color: 1 },
  s390x: { family: 's390', color: 2 }, s390: { family: 's390', color: 1 },
  sparc64: { family: 'sparc', color: 2 }, sparcv9: { family: 'sparc', color: 1 }, sparc: { family: 'sparc', color: 1 },
};

/**
 * rpm lets multilib siblings ship different ELF files at one path: the file of the preferred colour (64-bit, rpm's
 * default %_prefer_color 2) is kept. A file without a colour (data, scripts, documentation) differing at the same
 * path is a real conflict, as rpm calls it. `path` is the incoming package's own name for the file; without it (or
 * for a package that is not an opened .rpm) the answer is for the pair: whether the newcomer has any coloured file.
 */
export function multilibMayOverwrite(incoming: PackageFile, owner: PackageId, path?: string): boolean {
  const a = MULTILIB[incoming.id.arch];
  const b = MULTILIB[owner.arch];
  if (!a || !b || a.family !== b.family || a.color === b.color) return false;
  if (a.color <= b.color) return false;
  if (!(incoming instanceof RpmPackage)) return true;
  if (path === undefined) return incoming.files.some((f) => f.color !== 0);
  const file = incoming.files.find((f) => f.path === path);
  return file !== undefined && (file.color & a.color) !== 0;
}

export const rpmBackend: Backend = {
  name: 'rpm',
  extension: 'rpm',

  async supportsFile(file: string): Promise<boolean> {
    const fd = await open(file, 'r').catch(() => undefined);
    if (!fd) return false;
    try {
      const buf = Buffer.alloc(4);
      const { bytesRead } = await fd.read(buf, 0, 4, 0);
      return bytesRead === 4 && buf.equals(LEAD_MAGIC);
    } finally {
      await fd.close();
    }
  },

  detect: (tree: TreeReader) => locateDatabase(tree),
  openDatabase: (tree, location) => openRpmDatabase(tree, location),
  openPackage: (file) => openRpm(file),
  compareVersions: compareEvrStrings,

  versionRelation(a, op, b) {
    try {
      return rpmCompareVersions(a, op, b);
    } catch (err) {
      if (err instanceof RpmVersionError) throw new UsageError(`vercmp: ${err.message}`);
      throw err;
    }
  },
  mayOverwrite(incoming: PackageFile, owner: PackageId, path: string): boolean {
    // A package's own files are its to replace (rpm -U, rpm --reinstall); only another package needs the multilib rule.
    if (incoming.id.name === owner.name && incoming.id.arch === owner.arch) return true;
    return multilibMayOverwrite(incoming, owner, path);
  },
  writeDatabase: (options) => writeRpmDatabase(options),
  databaseWithout: (options) => rpmDatabaseWithout(options),
  planScripts: (options) => planRpmScripts(options),

  inspect: (file: string) => inspectRpm(file),

  stateNote(pkg: PackageFile): string | undefined {
    return pkg.hasScripts ? `${pkg.id.name}: rpm scriptlets were not run (--no-scripts), the package is not configured` : undefined;
  },

  async verifySignature(file: string, keys: Array<string | Uint8Array>): Promise<void> {
    const publicKeys = (await Promise.all(keys.map((k) => readKeys(k)))).flat();
    await verifyHeaderSignature(await readArchive(file), publicKeys);
  },
};

export { inspectRpm } from './inspect.js';
export { openRpm, RpmPackage } from './package.js';
export { RpmDatabase, openRpmDatabase, writeRpmDatabase } from './database.js';
export { rpmDatabaseWithout } from './database-remove.js';
export { planRpmScripts, RPMLUA, RPM_SCRIPT_PATH } from './scripts.js';
export { compareEvr, compareEvrStrings, parseEvr, rpmvercmp, type RpmEvr } from './version.js';
export * from './dependencies.js';
export { parseHeaderBlob, RpmHeader, Tag, TagType } from './header.js';
export { readKeys, verifyHeaderSignature } from './signature.js';
export { rpmRepositories, openRpmRepositories, verifyRpmDownload, type RpmDownload } from './repository/index.js';

/** The rpm format as the command registers it: .rpm files and the rpmdb, and rpm-md repositories. */
export const rpmPlugin: FormatPlugin = { backend: rpmBackend, repositories: rpmRepositories };
