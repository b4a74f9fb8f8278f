/**
 * pacman's dependency model in the solver's terms: an installed package's depends, provides and conflicts from the
 * local database, libalpm's version order, and an unversioned provision that meets only unversioned dependencies.
 * It serves install by name from sync repositories (repository/), and `uninstall` (which layered packages need what
 * is removed, what is left unneeded).
 */
import type { InstalledDatabase, PoolOptions, RepositoryBackend } from '@ostree-layer/core';
import { PacmanDatabase } from './database.js';
import { formatDep, packageSpec, parseDep } from './dependencies.js';
import { comparePacmanVersions } from './version.js';
import { hostArch } from './repository/config.js';
import { openPacmanRepositories, verifyPacmanDownload } from './repository/index.js';

export const pacmanPoolOptions: PoolOptions = {
  compareVersions: comparePacmanVersions,
  unversionedProvidesMatchAny: false,
  formatAlternative: (alt) => formatDep({ name: alt.name, op: alt.op === '!=' ? undefined : alt.op, version: alt.version }),
};

function asPacman(database: InstalledDatabase): PacmanDatabase {
  if (database instanceof PacmanDatabase) return database;
  throw new TypeError(`the pacman resolve model was given a database at ${database.location} that the pacman backend did not open`);
}

export const pacmanRepositories: RepositoryBackend = {
  openRepositories: (options) => openPacmanRepositories(options),
  async installedSpecs(database) {
    return (await asPacman(database).packages()).map(packageSpec);
  },
  async poolOptions(database) {
    // A tree runs packages of its own architecture and "any"; the base's packages say which that is.
    const native = (await asPacman(database).packages()).find((p) => p.arch !== 'any')?.arch ?? hostArch();
    return { ...pacmanPoolOptions, installable: (pkg) => pkg.arch === 'any' || pkg.arch === native };
  },
  solverPolicy: () => ({}),
  verifyPackage: (file, download) => verifyPacmanDownload(file, download),
  parseRequest(text) {
    const dep = parseDep(text);
    return dep.op ? { name: dep.name, op: dep.op, version: dep.version } : { name: dep.name };
  },
};
