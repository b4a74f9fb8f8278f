/**
 * Install by name: the backend's repositories and installed base go into one solver pool (the base locked), the
 * request is solved with the backend's policy, and the answer comes back as the downloads to fetch, in install order.
 */
import type { InstalledDatabase, PackageId } from './backend.js';
import { ResolutionError, UsageError } from './errors.js';
import { openRepositoryTarget } from './plugin.js';
import { lineReport, type Report } from './report.js';
import type { Download, RepositoryBackend, RepositorySet } from './repository.js';
import { Pool, solve, type InstallReason, type Request, type Transaction } from './resolve/index.js';
import type { TreeReader } from './tree.js';

export interface PlanByNameOptions {
  /** The repository side of the tree's format plugin. */
  repositories: RepositoryBackend;
  tree: TreeReader;
  database: InstalledDatabase;
  names: string[];
  /** Install Recommends (default true, as apt). */
  recommends?: boolean;
  cacheDir: string;
  extraSources?: string[];
  allowUnauthenticated?: boolean;
  /** Messages and warnings of opening the repositories; default: none. */
  report?: Report;
  /** An already opened repository set (tests and benchmarks resolve many requests against one load). */
  opened?: RepositorySet;
}

export interface PlannedDownload extends PackageId {
  download: Download;
  reason: InstallReason;
  requiredBy?: string;
}

export interface NamePlan {
  install: PlannedDownload[];
  /** Requests the base (or an earlier layer) already satisfies. */
  alreadyInstalled: PackageId[];
  downloadSize: number;
  installedSize: number;
  repositories: RepositorySet;
  stats: Transaction['stats'] & { poolSize: number; loadMs: number; solveMs: number };
}

/** Resolves `names` against the repositories with the installed base locked. Throws a ResolutionError explaining why not. */
export async function planByName(options: PlanByNameOptions): Promise<NamePlan> {
  const rb = options.repositories;
  const started = performance.now();
  // Read every request before the repositories are opened (a download, often): a bad one is refused at once.
  const parsedRequests = options.names.map((name) => ({ name, parsed: parseRequest(rb, name) }));
  const target = await openRepositoryTarget(rb, options.tree, options.database);
  const repositories =
    options.opened ??
    (await rb.openRepositories({
      ...target,
      cacheDir: options.cacheDir,
      extraSources: options.extraSources,
      allowUnauthenticated: options.allowUnauthenticated,
      report: options.report ?? lineReport(),
    }));
  const pool = new Pool(await rb.poolOptions(target));
  const installed = await rb.installedSpecs(target);
  const present = new Set<string>();
  for (const spec of installed) {
    pool.add(spec, true);
    present.add(`${spec.name}\0${spec.version}\0${spec.arch}`);
  }
  // The repository copy of an installed version is the same package: keeping it out leaves the base's entry alone.
  const downloads = new Map<number, Download>();
  const candidates = repositories.reachable ? repositories.reachable(parsedRequests.map((r) => r.parsed.name)) : repositories.specs();
  for (const spec of candidates) if (!present.has(`${spec.name}\0${spec.version}\0${spec.arch}`)) downloads.set(pool.add(spec), spec.download);
  const loadMs = performance.now() - started;

  const requests: Request[] = [];
  for (const { name, parsed } of parsedRequests) {
    const request: Request = { name: parsed.name };
    if (parsed.arch) request.arch = parsed.arch;
    if (parsed.op && parsed.version !== undefined) {
      request.op = parsed.op;
      request.version = parsed.version;
    }
    if (pool.whatProvides(request).length === 0) {
      const any = pool.whatProvides({ name: parsed.name });
      if (any.length === 0 && name.startsWith('/')) throw missingPath(name, ' and no package in the configured repositories provides it');
      throw new ResolutionError(
        any.length === 0
          ? `unable to locate package ${parsed.name}: no configured repository has it (check the name, or add a source with --source)`
          : `${name}: no version matches; available: ${[...new Set(any.map((id) => pool.label(id)))].slice(0, 8).join(', ')}`,
      );
    }
    requests.push(request);
  }

  const solveStart = performance.now();
  // An UnsatisfiableError (a ResolutionError) already names the chain and the locked base package.
  const transaction = solve(pool, requests, { recommends: options.recommends !== false, policy: rb.solverPolicy(target) });
  const solveMs = performance.now() - solveStart;

  const install: PlannedDownload[] = [];
  for (const step of transaction.install) {
    const p = step.package;
    const download = downloads.get(p.id);
    if (!download?.url) throw new ResolutionError(`${p.name} ${p.version} (${p.arch}) was chosen but its repository entry has no download location`);
    install.push({
      name: p.name,
      version: p.version,
      arch: p.arch,
      download,
      reason: step.reason,
      requiredBy: step.requiredBy ? `${step.requiredBy.name} ${step.requiredBy.version}` : undefined,
    });
  }
  const alreadyInstalled: PackageId[] = [];
  for (const r of transaction.satisfiedByBase) {
    const id = pool.whatProvides(r).find((i) => pool.get(i).installed);
    if (id !== undefined) {
      const p = pool.get(id);
      alreadyInstalled.push({ name: p.name, version: p.version, arch: p.arch });
    }
  }
  return {
    install,
    alreadyInstalled,
    downloadSize: install.reduce((n, p) => n + p.download.size, 0),
    installedSize: install.reduce((n, p) => n + (p.download.installedSize ?? 0), 0),
    repositories,
    stats: { ...transaction.stats, poolSize: pool.size, loadMs, solveMs },
  };
}

/** One request as the format reads it; a path the format cannot read as a request is a missing file. */
function parseRequest(rb: RepositoryBackend, name: string): ReturnType<RepositoryBackend['parseRequest']> {
  try {
    return rb.parseRequest(name);
  } catch (err) {
    if (name.startsWith('/')) throw missingPath(name);
    throw new ResolutionError(`${(err as Error).message}`);
  }
}

/**
 * An absolute path that is no file (the command line keeps it as a request: rpm formats read it as a file provide,
 * as dnf does) and that no package provides: a usage error about the path, as apt's "Unsupported file".
 */
function missingPath(path: string, why = ''): UsageError {
  return new UsageError(`${path}: no such file${why}; name a package file that exists, or a package by name`);
}
