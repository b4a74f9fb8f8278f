/**
 * rpm-md repositories for install-by-name: the deployment's `.repo` files, verified metadata, and every candidate as
 * a solver spec whose `data` is the {@link Download} of its .rpm. File dependencies are answered from primary's file
 * subset, the deployment itself, and filelists.xml only for paths neither has.
 */
import { join } from 'node:path';
import type {
  CandidateSpec, Download, InstalledDatabase, LoadedRepository, RepositoryBackend, RepositoryOptions, RepositorySet, Relation,
} from '@ostree-layer/core';
import { alternativesOf, UnreachableError, VerificationError } from '@ostree-layer/core';
import { readArchive } from '../archive.js';
import { RpmDatabase } from '../database.js';
import { parseRichDependency, type DependencyKind } from '../dependencies.js';
import {
  installedSpecsOf, parseRpmRequest, providesOf, relationOf, requiresOf, rpmPoolOptions, rpmSolverPolicy, targetArchOf,
} from '../resolve-model.js';
import { readKeys, verifyHeaderSignature } from '../signature.js';
import { baseArchOf, readRepoConfigs, releaseVersion } from './config.js';
import { loadFilelists, loadRepository, type LoadedRepo } from './load.js';
import type { RepoDependency, RepoPackage } from './primary.js';

/** A download; `verify` holds the keys its header signature must verify against (repository gpgcheck=1). */
export type RpmDownload = Download;

interface Candidate {
  repo: LoadedRepo;
  pkg: RepoPackage;
  deps: Partial<Record<DependencyKind, Array<RepoDependency & { rich?: ReturnType<typeof parseRichDependency> }>>>;
}

function parsedDeps(pkg: RepoPackage, where: string): Candidate['deps'] {
  const out: Candidate['deps'] = {};
  for (const [kind, list] of Object.entries(pkg.deps) as Array<[DependencyKind, RepoDependency[]]>) {
    out[kind] = list.map((d) => (d.name.startsWith('(') ? { ...d, rich: parseRichDependency(d.name, where) } : d));
  }
  return out;
}

/** Paths named by file dependencies (plain or inside rich ones) of these relations. */
function filePaths(relations: Relation[], into: Set<string>): void {
  for (const rel of relations) for (const alt of alternativesOf(rel)) if (alt.name.startsWith('/')) into.add(alt.name);
}

function downloadOf(c: Candidate): RpmDownload {
  const { pkg, repo } = c;
  const base = pkg.base ?? repo.baseurl;
  const sum = pkg.checksum.type.toLowerCase();
  const download: RpmDownload = {
    url: `${base}/${pkg.href}`,
    size: pkg.size,
    fileName: pkg.href.slice(pkg.href.lastIndexOf('/') + 1),
    origin: repo.config.id,
    ...(sum === 'sha256' ? { sha256: pkg.checksum.value } : sum === 'sha512' ? { sha512: pkg.checksum.value } : {}),
  };
  if (pkg.installedSize) download.installedSize = pkg.installedSize;
  if (repo.config.gpgcheck) download.verify = { keys: repo.keys };
  return download;
}

class RpmRepositorySet implements RepositorySet {
  private readonly specList: CandidateSpec[];

  constructor(private readonly candidates: Candidate[], neededFiles: ReadonlySet<string>, private readonly loaded: LoadedRepo[] = []) {
    const specs = candidates.map((c) => this.toSpec(c, neededFiles));
    addSupplements(candidates, specs);
    this.specList = specs;
  }

  private toSpec(c: Candidate, neededFiles: ReadonlySet<string>): CandidateSpec {
    const { pkg, deps } = c;
    const { requires, preRequires } = requiresOf(deps.requires ?? []);
    const provides = providesOf(deps.provides ?? []);
    for (const path of pkg.files) if (neededFiles.has(path)) provides.push({ name: path });
    return {
      name: pkg.name, version: pkg.evr, arch: pkg.arch, provides, requires, preRequires,
      conflicts: (deps.conflicts ?? []).map(relationOf), obsoletes: (deps.obsoletes ?? []).map(relationOf),
      recommends: (deps.recommends ?? []).map(relationOf), download: downloadOf(c),
    };
  }

  specs(): CandidateSpec[] {
    return this.specList;
  }

  search(pattern: string): Array<{ name: string; version: string; arch: string; summary: string }> {
    const glob = /[*?[]/.test(pattern) ? globRegExp(pattern) : undefined;
    const needle = pattern.toLowerCase();
    return this.candidates
      .filter(({ pkg }) => (glob ? glob.test(pkg.name) : pkg.name.toLowerCase().includes(needle) || pkg.summary.toLowerCase().includes(needle)))
      .map(({ pkg }) => ({ name: pkg.name, version: pkg.evr, arch: pkg.arch, summary: pkg.summary }));
  }

  repositories(): LoadedRepository[] {
    return this.loaded.map((r) => ({
      id: r.config.id, name: r.config.name, url: r.baseurl, packages: r.packages.length, configuredIn: r.config.source,
    }));
  }

  show(name: string): Array<Record<string, unknown>> {
    return this.candidates
      .filter(({ pkg }) => pkg.name === name)
      .map(({ pkg, repo }) => ({
        name: pkg.name, epoch: Number(pkg.epoch), version: pkg.version, release: pkg.release, arch: pkg.arch,
        summary: pkg.summary, description: pkg.description, url: pkg.url, license: pkg.license, sourceRpm: pkg.sourcerpm,
        size: pkg.size, installedSize: pkg.installedSize, repository: repo.config.id, location: `${pkg.base ?? repo.baseurl}/${pkg.href}`,
        dependencies: pkg.deps,
      }));
  }
}

function globRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/**
 * Supplements are reverse Recommends: "S supplements X" asks for S whenever X is installed. The solver knows only
 * forward weak relations, so each repository package named X gets a Recommends on S. Plain names only; rich
 * supplements (langpacks "(X and langpacks-de)") are left out.
 */
function addSupplements(candidates: Candidate[], specs: CandidateSpec[]): void {
  const byName = new Map<string, CandidateSpec[]>();
  for (const s of specs) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  candidates.forEach((c, i) => {
    for (const dep of c.deps.supplements ?? []) {
      if (dep.rich) continue;
      for (const target of byName.get(dep.name) ?? []) {
        (target.recommends ??= []).push([{ name: specs[i].name, op: '=', version: specs[i].version }]);
      }
    }
  });
}

/** Loads every enabled repository and answers file dependencies as described above. */
export async function openRpmRepositories(options: RepositoryOptions): Promise<RepositorySet> {
  const { report, arch } = options;
  const say = (text: string) => report.emit({ type: 'message', text });
  const vars = { releasever: await releaseVersion(options.tree), basearch: baseArchOf(arch), arch };
  const configs = (await readRepoConfigs(options.tree, vars, options.extraSources)).filter((r) => r.enabled);
  const loadOptions = { tree: options.tree, cacheDir: join(options.cacheDir, 'rpm'), allowUnauthenticated: options.allowUnauthenticated, report };
  const repos: LoadedRepo[] = [];
  for (const config of configs) {
    try {
      repos.push(await loadRepository(config, loadOptions));
    } catch (err) {
      // A repository that cannot be reached and was never fetched is left out with a warning (as apt does, and as dnf
      // does with skip_if_unavailable); the request fails later only if it needs a package from there.
      if (!(err instanceof UnreachableError)) throw err;
      report.emit({ type: 'warning', text: `repository ${config.id} (${config.source}) is unreachable and has no cached metadata (${err.message}); its packages are left out` });
    }
  }

  const candidates: Candidate[] = repos.flatMap((repo) =>
    repo.packages.filter((p) => p.arch !== 'src').map((pkg) => ({ repo, pkg, deps: parsedDeps(pkg, `${repo.baseurl} (${pkg.name})`) })),
  );
  const needed = new Set<string>();
  for (const c of candidates) {
    const d = c.deps;
    filePaths([...(d.requires ?? []), ...(d.recommends ?? []), ...(d.conflicts ?? [])].map(relationOf), needed);
  }
  // What primary's file subset, a Provides or the deployment itself already answers needs no filelists.
  const unanswered = new Set(needed);
  for (const c of candidates) {
    for (const path of c.pkg.files) unanswered.delete(path);
    for (const p of c.deps.provides ?? []) unanswered.delete(p.name);
  }
  for (const path of [...unanswered]) if (await options.tree.lstat(path).catch(() => null)) unanswered.delete(path);
  if (unanswered.size > 0) {
    say(`file dependencies not in primary: ${[...unanswered].slice(0, 5).join(', ')}${unanswered.size > 5 ? ' …' : ''}; reading filelists`);
    for (const repo of repos) await loadFilelists(repo, unanswered, loadOptions);
  }
  return new RpmRepositorySet(candidates, needed, repos);
}

/**
 * Checks a downloaded package's header signature against the keys its repository trusts (gpgcheck=1). The engine
 * calls it after the size and digest check; without `verify` there is nothing to check.
 */
export async function verifyRpmDownload(file: string, download: Download): Promise<void> {
  const keys = download.verify?.keys;
  if (!keys) return;
  if (keys.length === 0) throw new VerificationError(`${file}: repository ${download.origin} has gpgcheck=1 but no gpgkey=; add the key to the .repo file`);
  const publicKeys = (await Promise.all(keys.map((k) => readKeys(k)))).flat();
  await verifyHeaderSignature(await readArchive(file), publicKeys);
}

function asRpm(database: InstalledDatabase): RpmDatabase {
  if (!(database instanceof RpmDatabase)) throw new TypeError('the rpm resolve model needs a database opened by the rpm backend');
  return database;
}

export const rpmRepositories: RepositoryBackend = {
  targetArch: ({ tree, database }) => targetArchOf(tree, database),
  openRepositories: openRpmRepositories,
  installedSpecs: ({ database }) => installedSpecsOf(asRpm(database)),
  poolOptions: async ({ arch }) => rpmPoolOptions(arch),
  solverPolicy: ({ arch }) => rpmSolverPolicy(arch),
  parseRequest: parseRpmRequest,
  verifyPackage: verifyRpmDownload,
};
