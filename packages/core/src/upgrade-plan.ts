/**
 * What `upgrade` would change: the requests resolved again on the new base (requests the base now satisfies drop out),
 * and the difference to what is deployed now, `rpm-ostree db diff` style: layered packages added, removed and
 * upgraded, and the base packages that changed between the two bases.
 */
import type { Backend, InstalledDatabase, PackageFile, PackageId } from './backend.js';
import type { LayerRequest, LayerState } from './discover/sysroot.js';
import { UsageError } from './errors.js';
import type { Report } from './report.js';
import type { RepositoryBackend } from './repository.js';
import { planByName, type PlannedDownload } from './resolve-request.js';
import type { TreeReader } from './tree.js';

export interface VersionChange {
  name: string;
  arch: string;
  from: string;
  to: string;
}

export interface PackageDiff {
  added: PackageId[];
  removed: PackageId[];
  upgraded: VersionChange[];
  downgraded: VersionChange[];
}

export interface DroppedRequest {
  request: LayerRequest;
  /** The base package that now satisfies it. */
  base: PackageId;
}

export interface ResolvedLayers {
  /** Downloads for the repository requests and what they pull in, in install order. */
  downloads: PlannedDownload[];
  /** Package files of file requests, opened. */
  files: PackageFile[];
  /** Requests that stay. */
  requested: LayerRequest[];
  /** Requests the new base satisfies by itself. */
  dropped: DroppedRequest[];
}

export interface ResolveLayersInput {
  backend: Backend;
  /** The repository side of the tree's format plugin, when it has one. */
  repositories?: RepositoryBackend;
  /** The new base and its database. */
  tree: TreeReader;
  database: InstalledDatabase;
  requested: LayerRequest[];
  cacheDir: string;
  extraSources?: string[];
  allowUnauthenticated?: boolean;
  recommends?: boolean;
  report: Report;
}

/** Resolves the requests on the new base; an unsatisfiable request stops with the solver's reason. */
export async function resolveLayers(input: ResolveLayersInput): Promise<ResolvedLayers> {
  const basePackages = await input.database.packages();
  const inBase = (name: string) => basePackages.find((p) => p.name === name);
  const dropped: DroppedRequest[] = [];
  const requested: LayerRequest[] = [];
  const files: PackageFile[] = [];
  const byName: LayerRequest[] = [];
  for (const request of input.requested) {
    if (request.file === undefined) {
      byName.push(request);
      continue;
    }
    const pkg = await input.backend.openPackage(request.file).catch((err: Error) => {
      throw new UsageError(`${request.name} was layered from the package file ${request.file}, which cannot be read any more (${err.message}); put the file back, or uninstall ${request.name} first`);
    });
    const base = inBase(pkg.id.name);
    if (base && input.backend.compareVersions(base.version, pkg.id.version) >= 0) dropped.push({ request, base });
    else {
      files.push(pkg);
      requested.push(request);
    }
  }
  let downloads: PlannedDownload[] = [];
  if (byName.length > 0) {
    if (!input.repositories) throw new UsageError(`the ${input.backend.name} backend cannot resolve names, so ${byName.map((r) => r.text).join(', ')} cannot be layered again`);
    const plan = await planByName({
      repositories: input.repositories,
      tree: input.tree,
      database: input.database,
      names: byName.map((r) => r.text),
      recommends: input.recommends,
      cacheDir: input.cacheDir,
      extraSources: input.extraSources,
      allowUnauthenticated: input.allowUnauthenticated,
      report: input.report,
    });
    downloads = plan.install;
    for (const request of byName) {
      const base = plan.alreadyInstalled.find((p) => p.name === request.name);
      if (base && !downloads.some((d) => d.name === request.name)) dropped.push({ request, base });
      else requested.push(request);
    }
  }
  return { downloads, files, requested, dropped };
}

/** Differences between two package lists, by name and arch. */
export function diffPackages(before: PackageId[], after: PackageId[], compare: (a: string, b: string) => number): PackageDiff {
  const key = (p: PackageId) => `${p.name}:${p.arch}`;
  const old = new Map(before.map((p) => [key(p), p]));
  const now = new Map(after.map((p) => [key(p), p]));
  const diff: PackageDiff = { added: [], removed: [], upgraded: [], downgraded: [] };
  for (const [k, p] of now) {
    const was = old.get(k);
    if (!was) diff.added.push(identity(p));
    else if (was.version !== p.version) {
      const change = { name: p.name, arch: p.arch, from: was.version, to: p.version };
      (compare(was.version, p.version) < 0 ? diff.upgraded : diff.downgraded).push(change);
    }
  }
  for (const [k, p] of old) if (!now.has(k)) diff.removed.push(identity(p));
  return diff;
}

export function isEmptyDiff(diff: PackageDiff): boolean {
  return diff.added.length + diff.removed.length + diff.upgraded.length + diff.downgraded.length === 0;
}

/** The layered packages a state records, as plain ids. */
export function layeredIds(state: LayerState | null): PackageId[] {
  return (state?.packages ?? []).map(identity);
}

function identity(p: PackageId): PackageId {
  return { name: p.name, version: p.version, arch: p.arch };
}
