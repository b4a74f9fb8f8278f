/** @ostree-layer/pacman: the pacman backend (.pkg.tar.zst/.xz/.gz files, the local database, pacman's version order). */
import { readFile } from 'node:fs/promises';
import type * as openpgp from 'openpgp';
import { loadOpenpgp } from './lazy.js';
import { UsageError, VerificationError, type Backend, type FormatPlugin, type PackageFile, type PackageId } from '@ostree-layer/core';
import { PacmanPackage, openPacmanPackage, sniffCompression } from './archive.js';
import { databaseWithout } from './database-remove.js';
import { findDatabase, openDatabase, writeDatabase } from './database.js';
import { inspectPacman } from './inspect.js';
import { verifyDetached } from './repository/signature.js';
import { pacmanRepositories } from './resolve-model.js';
import { planScripts } from './scripts.js';
import { comparePacmanVersions, pacmanCompareVersions, PacmanVersionError } from './version.js';

export * from './archive.js';
export * from './database.js';
export * from './database-remove.js';
export * from './dependencies.js';
export * from './hooks.js';
export * from './inspect.js';
export * from './mtree.js';
export * from './native-tools.js';
export * from './pkginfo.js';
export * from './resolve-model.js';
export * from './scripts.js';
export * from './version.js';

export const pacmanBackend: Backend = {
  name: 'pacman',
  extension: 'pkg.tar.zst',

  /** A compressed tar (by magic) whose first member is pacman metadata (.PKGINFO, .MTREE, .BUILDINFO…). */
  async supportsFile(file) {
    try {
      if (!(await sniffCompression(file))) return false;
      await openPacmanPackage(file);
      return true;
    } catch {
      return false;
    }
  },

  detect: findDatabase,
  openDatabase,
  openPackage: openPacmanPackage,
  compareVersions: comparePacmanVersions,

  versionRelation(a, op, b) {
    try {
      return pacmanCompareVersions(a, op, b);
    } catch (err) {
      if (err instanceof PacmanVersionError) throw new UsageError(`vercmp: ${err.message}`);
      throw err;
    }
  },

  /**
   * pacman has no Replaces for files: a path another package owns is a conflict ("exists in filesystem") unless the
   * user passes --overwrite, which a layered install does not offer. A package's own paths are its own.
   */
  mayOverwrite(incoming: PackageFile, owner: PackageId): boolean {
    return incoming.id.name === owner.name;
  },

  overwriteHint(incoming: PackageId, owner: PackageId): string {
    return `pacman lets no package take over a file of ${owner.name} (only "pacman --overwrite" does, which a layered install does not offer): ${incoming.name} must stop shipping it, or ${owner.name} must be updated in the base`;
  },

  writeDatabase,
  databaseWithout,
  planScripts,

  async inspect(file: string) {
    return inspectPacman(await openPacmanPackage(file));
  },

  /** `--key`: pacman packages are signed by a detached `<file>.sig` beside them (what makepkg --sign writes). */
  async verifySignature(file: string, keys: Array<string | Uint8Array>) {
    const pgp = await loadOpenpgp();
    const sig = await readFile(`${file}.sig`).catch(() => undefined);
    if (!sig) throw new VerificationError(`${file} has no signature (${file}.sig); sign it (makepkg --sign, gpg --detach-sign) or leave --key out`);
    const publicKeys = (
      await Promise.all(
        keys.map((k, i) =>
          (typeof k === 'string' ? pgp.readKeys({ armoredKeys: k }) : pgp.readKeys({ binaryKeys: k })).catch((err: Error) => {
            throw new UsageError(`--key: key file ${i + 1} (${typeof k === 'string' ? k.length : k.length} bytes) holds no OpenPGP public key openpgp can read (${err.message})`);
          }),
        ),
      )
    ).flat();
    await verifyDetached({ file }, sig, publicKeys, file);
  },

  stateNote(pkg: PackageFile): string | undefined {
    if (!(pkg instanceof PacmanPackage) || !pkg.hasScripts) return undefined;
    return `${pkg.id.name}: its .INSTALL scriptlet (post_install) was not run (--no-scripts)`;
  },
};
export { openPacmanRepositories } from './repository/index.js';
export { readSyncConfig, type SyncRepoConfig } from './repository/config.js';

/** The pacman format: its backend and its sync repositories, registered once in the command's plugin list. */
export const pacmanPlugin: FormatPlugin = { backend: pacmanBackend, repositories: pacmanRepositories };
