/**
 * `upgrade`, as `rpm-ostree upgrade`: the origin's newest base (pulled from its remote, or the local ref having
 * moved), the requests resolved again on it against the repositories (newer versions come in, requests the base now
 * satisfies drop out with a note, an unsatisfiable one stops the upgrade with the reason), composed onto the new base
 * and deployed. With the same base it still brings the layered packages up to the repositories' versions. A
 * deployment whose layers `ostree admin upgrade` dropped is recognised by its origin, and its requests are laid on
 * again. Layers are reused only when the package file and the base inputs are the same (the importer compares the
 * placed manifest), so a layer made on another base is never taken by its ref.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { InstalledDatabase, PackageFile, PackageId } from './backend.js';
import { checkConflicts } from './compose/conflicts.js';
import { importedDirectories, importedLayerBytes } from './compose/final-layer.js';
import { composeLayered } from './compose/layered.js';
import { deployCommit, originLayerState } from './deploy/deploy.js';
import { derivedCachePath, RepoTree } from './discover/repo-tree.js';
import type { LayerState } from './discover/sysroot.js';
import { beginTransaction, type TransactionContext } from './discover/target.js';
import { SystemStateError } from './errors.js';
import { faultPoint } from './fault.js';
import { fetchAll } from './fetch/index.js';
import { readAccounts } from './import/accounts.js';
import { importAll } from './import/importer.js';
import { PathPlacer } from './import/placement.js';
import { detectPlugin, type FormatPlugin } from './plugin.js';
import { RefLedger } from './ref-ledger.js';
import { scratchDir } from './scratch.js';
import { DirectoryTree, type TreeReader } from './tree.js';
import { keepScriptLayer, runScriptPhase } from './scripts/phase.js';
import { DEFAULT_CACHE_DIR } from './transaction.js';
import { diffPackages, isEmptyDiff, layeredIds, resolveLayers, type DroppedRequest, type PackageDiff, type ResolvedLayers } from './upgrade-plan.js';
import { lineReport, type Phase, type Report, phaseClock } from './report.js';

export interface UpgradeOptions {
  /** Every format the command knows, in detection order. */
  plugins: readonly FormatPlugin[];
  sysroot?: string;
  osName?: string;
  cacheDir?: string;
  extraSources?: string[];
  allowUnauthenticated?: boolean;
  noInstallRecommends?: boolean;
  /** Leave packages unconfigured: no maintainer scripts run. */
  noScripts?: boolean;
  /** Per maintainer-script step, in seconds. */
  scriptTimeoutSeconds?: number;
  /** Say what would change; change nothing (`--check`, `--dry-run`). */
  dryRun?: boolean;
  /** Progress lines for a human. Ignored when `report` is given. */
  progress?: (line: string) => void;
  /** Where phases, download progress and messages go as events (the CLI renders them). */
  report?: Report;
}

export interface UpgradeResult {
  dryRun: boolean;
  backend: string;
  /** The deployment's commit the upgrade started from. */
  from: string;
  oldBase: string;
  newBase: string;
  /** The origin's refspec the new base came from (absent: the deployment follows no ref, the base stays). */
  refspec?: string;
  /** The deployment had lost its layers to a plain `ostree admin upgrade`; they are laid on again. */
  layersRestored: boolean;
  /** Layered packages before and after. */
  layered: PackageDiff;
  /** Base packages that differ between the old and the new base. */
  base: PackageDiff;
  /** Requests the new base satisfies by itself: no longer layered. */
  droppedRequests: DroppedRequest[];
  /** Nothing would change: no deploy. */
  upToDate: boolean;
  commit?: string;
  deployed: boolean;
  notes: string[];
  timings: Record<string, number>;
}

function reportOf(options: UpgradeOptions): Report {
  return options.report ?? lineReport(options.progress);
}

export async function upgrade(options: UpgradeOptions): Promise<UpgradeResult> {
  const report = reportOf(options);
  const say = (text: string) => report.emit({ type: 'message', text });
  const { timings, lap } = phaseClock(report);
  const opened = await beginTransaction({ sysroot: options.sysroot, osName: options.osName }, options.plugins, !options.dryRun);
  let base: BaseTree | undefined;
  // As install's: the refs it creates or moves go back as they were if it fails or is stopped before the deploy.
  const refs = new RefLedger(opened.repo);
  try {
    const deployment = opened.deployment!;
    const dropped = opened.previous ? null : originLayerState(deployment.origin);
    const previous = opened.previous ?? dropped;
    const oldBase = previous?.baseCommit ?? opened.fromCommit;
    const refspec = deployment.origin.origin?.refspec;
    const newBase = await newestBase(opened, refspec, oldBase, say);
    lap('pull');

    base = await openBase(opened, newBase, Boolean(options.dryRun));
    const { plugin, location } = await detectPlugin([opened.plugin], base.tree);
    const { backend } = plugin;
    const baseDatabase = await backend.openDatabase(base.tree, location);
    const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
    const resolved = await resolveLayers({
      backend,
      repositories: plugin.repositories,
      tree: base.tree,
      database: baseDatabase,
      requested: previous?.requested ?? [],
      cacheDir,
      extraSources: options.extraSources,
      allowUnauthenticated: options.allowUnauthenticated,
      recommends: !options.noInstallRecommends,
      report,
    });
    lap('resolve');

    const planned: PackageId[] = [...resolved.files.map((f) => f.id), ...resolved.downloads.map(({ name, version, arch }) => ({ name, version, arch }))];
    const result: UpgradeResult = {
      dryRun: Boolean(options.dryRun),
      backend: backend.name,
      from: opened.fromCommit,
      oldBase,
      newBase,
      refspec,
      layersRestored: dropped !== null && planned.length > 0,
      layered: diffPackages(dropped ? [] : layeredIds(previous), planned, backend.compareVersions),
      base: await baseDiff(opened, baseDatabase),
      droppedRequests: resolved.dropped,
      upToDate: false,
      deployed: false,
      notes: resolved.dropped.map((d) => `${d.request.name} is part of the new base (${d.base.name} ${d.base.version}); it is no longer layered`),
      timings,
    };
    if (dropped) result.notes.unshift(`the deployment ${opened.fromCommit.slice(0, 10)} was made without its layers (a plain ostree admin upgrade?); laying ${(previous?.requested ?? []).map((r) => r.name).join(', ') || 'nothing'} on again`);
    result.upToDate = newBase === oldBase && !result.layersRestored && isEmptyDiff(result.layered) && resolved.dropped.length === 0;
    if (result.upToDate || options.dryRun) return result;

    let state: LayerState | null = null;
    if (planned.length === 0) result.commit = newBase;
    else {
      const layeredResult = await layerOntoBase({ opened, options, base, baseDatabase, resolved, previous, cacheDir, refs, lap });
      ({ commit: result.commit, state } = layeredResult);
      result.notes.push(...layeredResult.notes);
    }
    say(`composed ${result.commit}`);
    await faultPoint('deploy');
    await deployCommit(opened.sysroot!, deployment, result.commit, state, refs);
    result.deployed = true;
    lap('deploy');
    say(`deployed ${result.commit.slice(0, 10)}; it boots next`);
    return result;
  } catch (err) {
    await refs.takeBack();
    throw err;
  } finally {
    refs.close();
    await base?.dispose();
    await opened.close();
  }
}

/** The new base as the upgrade reads it; `dir` is its checkout on disk, when there is one. */
interface BaseTree {
  commit: string;
  tree: TreeReader;
  dir?: string;
  dispose(): Promise<void>;
}

/**
 * A dry run only reads the database, so the commit is read from the repo; a real upgrade checks the base out
 * (hardlinks, as a deployment is): the path policy, the conflict check and the database writer stat hundreds of paths,
 * one `ostree ls` each on a repo tree, and the script phase needs the tree on disk anyway.
 */
async function openBase(opened: TransactionContext, commit: string, dryRun: boolean): Promise<BaseTree> {
  if (dryRun) {
    const tree = new RepoTree(opened.repo, commit);
    return { commit, tree, dispose: () => tree.dispose() };
  }
  const scratch = await scratchDir(opened.repo.path, 'upgrade');
  const dir = join(scratch, 'base');
  try {
    await opened.repo.checkout(commit, dir);
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
  const tree = new DirectoryTree(dir, (path, name) => derivedCachePath(opened.repo, commit, path, name));
  return { commit, tree, dir, dispose: () => rm(scratch, { recursive: true, force: true }) };
}

/** The origin's newest base: pulled when the refspec names a remote, else the local ref as it is now. */
async function newestBase(opened: TransactionContext, refspec: string | undefined, oldBase: string, say: (line: string) => void): Promise<string> {
  if (!refspec || /^[0-9a-f]{64}$/.test(refspec)) return oldBase;
  const colon = refspec.indexOf(':');
  // A check pulls too: what would change is only known from the new base's own package database.
  if (colon > 0) {
    say(`pulling ${refspec}`);
    await opened.repo.pull(refspec.slice(0, colon), refspec.slice(colon + 1));
  }
  const commit = await opened.repo.resolve(refspec);
  if (!commit || !opened.repo.hasCommit(commit)) {
    throw new SystemStateError(`the origin refspec ${refspec} does not resolve to a commit in ${opened.repo.path}; check the origin (ostree admin status)`);
  }
  return commit;
}

/** Base packages of the deployment (its database without the layered ones) against the new base's. */
async function baseDiff(opened: TransactionContext, newDatabase: InstalledDatabase): Promise<PackageDiff> {
  const layered = new Set((opened.previous?.packages ?? []).map((p) => `${p.name}:${p.arch}`));
  const before = (await opened.database.packages()).filter((p) => !layered.has(`${p.name}:${p.arch}`));
  return diffPackages(before, await newDatabase.packages(), opened.backend.compareVersions);
}

interface LayerOntoBase {
  opened: TransactionContext;
  options: UpgradeOptions;
  base: BaseTree;
  baseDatabase: InstalledDatabase;
  resolved: ResolvedLayers;
  previous: LayerState | null;
  cacheDir: string;
  refs: RefLedger;
  lap: (phase: Phase) => void;
}

/** Fetches, imports (reusing layers whose manifest matches), checks conflicts, writes the database and composes. */
async function layerOntoBase(input: LayerOntoBase): Promise<{ commit: string; state: LayerState; notes: string[] }> {
  const notes: string[] = [];
  const { opened, baseDatabase, resolved, lap } = input;
  const base = input.base.tree;
  const baseCommit = input.base.commit;
  const { repo, backend } = opened;
  const report = reportOf(input.options);
  const say = (text: string) => report.emit({ type: 'message', text });
  const fetched = await fetchAll(resolved.downloads.map((d) => d.download), {
    cacheDir: input.cacheDir,
    report,
    label: (d) => resolved.downloads.find((p) => p.download === d)?.name ?? d.fileName,
  });
  for (const f of fetched) if (f.download.verify) await opened.plugin.repositories?.verifyPackage?.(f.path, f.download);
  const packages: PackageFile[] = [...resolved.files];
  for (const f of fetched) packages.push(await backend.openPackage(f.path));
  lap('fetch');

  const placer = new PathPlacer(base);
  const accounts = await readAccounts(base);
  const imported = await importAll({ backend, repo, placer, accounts, refs: input.refs }, packages, (one) => {
    const { id } = one.package;
    say(`${one.cached ? 'cached ' : 'imported'} ${id.name} ${id.version} (${id.arch})`);
  });
  lap('import');
  const takeovers = await checkConflicts({ backend, tree: base, database: baseDatabase, placer }, imported);
  // Packages nobody asked for by name were pulled in: apt's Auto-Installed marks carry over onto the new base.
  const requested = new Set((input.previous?.requested ?? []).map((r) => r.name));
  const added = imported.map((p) => ({
    package: p.package, entries: p.entries, takenOver: takeovers.get(p) ?? new Map(), automatic: !requested.has(p.package.id.name),
  }));
  const databaseFiles = await backend.writeDatabase({ tree: base, database: baseDatabase, added });
  const scripts = !input.options.noScripts && backend.planScripts ? await backend.planScripts({ tree: base, database: baseDatabase, added }) : null;
  lap('database');
  const pulledIn = new Set(resolved.downloads.filter((d) => d.reason !== 'request').map((d) => d.name));
  const wanted = new Set(resolved.requested.map((r) => r.name));
  const state: LayerState = {
    baseCommit,
    backend: backend.name,
    requests: [...(input.previous?.requests ?? []), ['upgrade']],
    requested: resolved.requested,
    packages: imported.map((p) => ({ ...p.package.id, ref: p.ref, commit: p.commit, requested: wanted.has(p.package.id.name) && !pulledIn.has(p.package.id.name), file: p.package.file })),
  };
  const commit = await composeLayered({
    repo,
    onto: baseCommit,
    placer,
    layers: imported.map((p) => p.commit),
    layerBytes: importedLayerBytes(imported),
    directories: importedDirectories(imported),
    databaseFiles,
    state,
    subject: `ostree-layer: upgrade onto ${baseCommit.slice(0, 10)}`,
    // On a new base every package is configured again, as a fresh install there would be.
    afterDatabase: scripts ? async (layers) => {
      await faultPoint('scripts');
      const phase = await runScriptPhase({
        repo,
        plan: scripts,
        fromCommit: baseCommit,
        fromDir: input.base.dir,
        layers,
        layerBytes: importedLayerBytes(imported),
        runtimeLines: imported.flatMap((p) => p.tmpfiles),
        accounts,
        timeoutSeconds: input.options.scriptTimeoutSeconds,
        progress: say,
      });
      notes.push(...phase.notes);
      lap('scripts');
      if (phase.commit) await keepScriptLayer(repo, input.refs, state, phase.commit, true);
      return phase.commit;
    } : undefined,
  });
  lap('compose');
  return { commit, state, notes };
}
