/**
 * pacman's dependency model in the solver's terms: an installed package's depends, provides and conflicts from the
 * local database, libalpm's version order, and an unversioned provision that meets only unversioned dependencies.
 * It serves install by name from sync repositories (repository/), and `uninstall` (which layered packages need what
 * is removed, what is left unneeded).
 */
import type { InstalledDatabase, PoolOptions, RepositoryBackend, TreeReader } from '@ostree-layer/core';
import { PacmanDatabase } from './database.js';
import { formatDep, packageSpec, parseDep } from './dependencies.js';
import { comparePacmanVersions } from './version.js';
import { configuredArch, hostArch } from './repository/config.js';
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

/**
 * The architecture the target's pacman would use: pacman.conf's `Architecture` when it names one, else the one its
 * installed packages are built for ("any" aside), else — a tree of "any" packages only — the host's.
 */
export async function targetArchOf(tree: TreeReader, database: InstalledDatabase): Promise<string> {
  const configured = await configuredArch(tree);
  if (configured) return configured;
  const counts = new Map<string, number>();
  for (const p of await asPacman(database).packages()) if (p.arch !== 'any') counts.set(p.arch, (counts.get(p.arch) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? hostArch();
}

export const pacmanRepositories: RepositoryBackend = {
  targetArch: ({ tree, database }) => targetArchOf(tree, database),
  openRepositories: (options) => openPacmanRepositories(options),
  installedSpecs: async ({ database }) => (await asPacman(database).packages()).map(packageSpec),
  // A tree runs packages of its own architecture and "any".
  poolOptions: async ({ arch }) => ({ ...pacmanPoolOptions, installable: (pkg) => pkg.arch === 'any' || pkg.arch === arch }),
  solverPolicy: () => ({}),
  verifyPackage: (file, download) => verifyPacmanDownload(file, download),
  parseRequest(text) {
    const dep = parseDep(text);
    return dep.op ? { name: dep.name, op: dep.op, version: dep.version } : { name: dep.name };
  },
};
