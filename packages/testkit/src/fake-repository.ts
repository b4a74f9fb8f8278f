/**
 * The fake format's repository side: a repository is a directory (file:// or http://) with an `index.json` that
 * {@link writeFakeRepository} writes from fake package files (identity, size, SHA-256, requires). It implements the
 * whole `RepositoryBackend` contract in a few lines, so that the conformance suite's repository part runs on a
 * format without signatures or compressed indexes, and core's install-by-name can be tested without apt or dnf.
 */
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  CandidateSpec, LoadedRepository, PackageSpec, RepositoryBackend, RepositoryOptions, RepositorySet, SolverPolicy,
} from '@ostree-layer/core';
import { readUrl, SystemStateError, UnreachableError, UsageError } from '@ostree-layer/core';
import { compareFakeVersions } from './fake-backend.js';
import { FakePackage } from './fake-package.js';

const INDEX = 'index.json';
const INDEX_FORMAT = 'ostree-layer-fake-index 1';
/** The arch of a fake package that runs anywhere (the fake's "noarch"). */
const ANY = 'any';

interface IndexEntry {
  name: string;
  version: string;
  arch: string;
  requires: string[];
  /** The package file, relative to the repository. */
  file: string;
  size: number;
  sha256: string;
}

/** Writes `<dir>/index.json` for `packages` (fake package files inside `dir`); returns the repository's file:// URL. */
export async function writeFakeRepository(dir: string, packages: string[]): Promise<string> {
  const entries: IndexEntry[] = [];
  for (const file of packages) {
    if (resolve(file, '..') !== resolve(dir)) throw new UsageError(`writeFakeRepository: ${file} is not in ${dir}`);
    const pkg = await FakePackage.open(file);
    const bytes = await readFile(file);
    entries.push({ ...pkg.id, requires: pkg.requires, file: basename(file), size: (await stat(file)).size, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  await writeFile(join(dir, INDEX), JSON.stringify({ format: INDEX_FORMAT, packages: entries }, null, 1) + '\n');
  return pathToFileURL(resolve(dir)).href;
}

class FakeRepositorySet implements RepositorySet {
  constructor(private readonly candidates: CandidateSpec[], private readonly loaded: LoadedRepository[]) {}

  specs(): CandidateSpec[] {
    return this.candidates;
  }

  search(pattern: string) {
    return this.candidates.filter((c) => c.name.includes(pattern)).map((c) => ({ name: c.name, version: c.version, arch: c.arch, summary: `${c.name} (fake)` }));
  }

  show(name: string) {
    return this.candidates.filter((c) => c.name === name).map((c) => ({ name: c.name, version: c.version, arch: c.arch, url: c.download.url }));
  }

  repositories(): LoadedRepository[] {
    return this.loaded;
  }
}

async function loadIndex(url: string): Promise<IndexEntry[]> {
  const where = `${url.replace(/\/$/, '')}/${INDEX}`;
  let parsed: { format?: string; packages?: IndexEntry[] };
  try {
    parsed = JSON.parse((await readUrl(where)).toString('utf8')) as typeof parsed;
  } catch (err) {
    if (err instanceof UnreachableError) throw err;
    throw new SystemStateError(`${where}: cannot read the fake repository index (${(err as Error).message})`, { cause: err });
  }
  if (parsed.format !== INDEX_FORMAT || !Array.isArray(parsed.packages)) throw new SystemStateError(`${where}: not a fake repository index (${INDEX_FORMAT})`);
  return parsed.packages;
}

const relationsOf = (names: string[]) => names.map((name) => [{ name }]);

async function openFakeRepositories(options: RepositoryOptions): Promise<RepositorySet> {
  const candidates: CandidateSpec[] = [];
  const loaded: LoadedRepository[] = [];
  for (const url of options.extraSources ?? []) {
    let entries: IndexEntry[];
    try {
      entries = await loadIndex(url);
    } catch (err) {
      if (!(err instanceof UnreachableError)) throw err;
      options.report.emit({ type: 'warning', text: `${url} is unreachable (${err.message}); its packages are left out` });
      continue;
    }
    for (const e of entries) {
      const download = { url: `${url.replace(/\/$/, '')}/${e.file}`, size: e.size, sha256: e.sha256, fileName: e.file, origin: url };
      candidates.push({ name: e.name, version: e.version, arch: e.arch, requires: relationsOf(e.requires), download });
    }
    loaded.push({ id: url, name: url, url, packages: entries.length, configuredIn: '--source' });
    options.report.emit({ type: 'message', text: `${url}: ${entries.length} packages` });
  }
  return new FakeRepositorySet(candidates, loaded);
}

const fakePolicy: SolverPolicy = {
  compareCandidates: (a, b) => compareFakeVersions(b.version, a.version) || a.id - b.id,
};

/**
 * The fake format's repositories: sources are repository URLs given with `--source` (a fake tree configures none);
 * the target's arch is the one its installed packages have (besides "any"), and only that arch and "any" install.
 */
export const fakeRepositories: RepositoryBackend = {
  async targetArch({ database }) {
    const counts = new Map<string, number>();
    for (const p of await database.packages()) if (p.arch !== ANY) counts.set(p.arch, (counts.get(p.arch) ?? 0) + 1);
    return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? ANY;
  },
  openRepositories: openFakeRepositories,
  async installedSpecs({ database }): Promise<PackageSpec[]> {
    return (await database.packages()).map(({ name, version, arch }) => ({ name, version, arch }));
  },
  async poolOptions({ arch }) {
    return { compareVersions: compareFakeVersions, installable: (p) => p.installed || p.arch === ANY || p.arch === arch };
  },
  solverPolicy: () => fakePolicy,
  parseRequest(text) {
    const m = /^([a-z0-9][a-z0-9.+_-]*)(?::([a-z0-9-]+))?(?:=(\S+))?$/.exec(text.trim());
    if (!m) throw new UsageError(`"${text}" is not a fake package request (name, name:arch or name=version)`);
    return { name: m[1]!, ...(m[2] ? { arch: m[2] } : {}), ...(m[3] ? { op: '=' as const, version: m[3] } : {}) };
  },
};
