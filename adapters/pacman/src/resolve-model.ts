/**
 * pacman's dependency model in the solver's terms: an installed package's depends, provides and conflicts from the
 * local database, libalpm's version order, and an unversioned provision that meets only unversioned dependencies.
 * It serves `uninstall` (which layered packages need what is removed, what is left unneeded). Sync repositories
 * (`<repo>.db`) are not read yet: install by name finds no candidates and says so.
 */
import type { Alternative, InstalledDatabase, PackageSpec, PoolOptions, RepositoryBackend, RepositorySet } from '@ostree-layer/core';
import { PacmanDatabase, type LocalPackage } from './database.js';
import { formatDep, parseDep, type PacmanDep } from './dependencies.js';
import { comparePacmanVersions } from './version.js';

const alternative = (dep: PacmanDep): Alternative => (dep.op ? { name: dep.name, op: dep.op, version: dep.version } : { name: dep.name });

export function localPackageSpec(pkg: LocalPackage): PackageSpec {
  return {
    name: pkg.name,
    version: pkg.version,
    arch: pkg.arch,
    provides: pkg.provides.map((p) => (p.op === '=' ? { name: p.name, version: p.version } : { name: p.name })),
    requires: pkg.depends.map((d) => [alternative(d)]),
    conflicts: pkg.conflicts.map((d) => [alternative(d)]),
  };
}

export const pacmanPoolOptions: PoolOptions = {
  compareVersions: comparePacmanVersions,
  unversionedProvidesMatchAny: false,
  formatAlternative: (alt) => formatDep({ name: alt.name, op: alt.op === '!=' ? undefined : alt.op, version: alt.version }),
};

const NO_REPOSITORIES: RepositorySet = {
  specs: () => [],
  search: () => [],
  show: () => [],
  repositories: () => [],
};

function asPacman(database: InstalledDatabase): PacmanDatabase {
  if (database instanceof PacmanDatabase) return database;
  throw new TypeError(`the pacman resolve model was given a database at ${database.location} that the pacman backend did not open`);
}

export const pacmanRepositories: RepositoryBackend = {
  async openRepositories(options) {
    options.progress?.('pacman: sync repositories are not read yet; install package files instead');
    return NO_REPOSITORIES;
  },
  async installedSpecs(database) {
    return (await asPacman(database).packages()).map(localPackageSpec);
  },
  async poolOptions() {
    return pacmanPoolOptions;
  },
  solverPolicy: () => ({}),
  parseRequest(text) {
    const dep = parseDep(text);
    return dep.op ? { name: dep.name, op: dep.op, version: dep.version } : { name: dep.name };
  },
};
