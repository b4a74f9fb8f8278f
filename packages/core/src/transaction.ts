/**
 * The install transaction: discover → open database → import → check conflicts → write database → compose → deploy.
 * Every step before deploy only adds objects and cache refs to the repo, so a failure or a kill anywhere moves no
 * deployment and no user-visible ref.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type { Backend, InstalledDatabase, PackageFile, PackageId } from './backend.js';
import { checkConflicts } from './compose/conflicts.js';
import { importedDirectories, importedLayerBytes } from './compose/final-layer.js';
import { composeLayered } from './compose/layered.js';
import { mapBounded } from './concurrency.js';
import { preloadDecoders } from './decompress.js';
import { deployCommit } from './deploy/deploy.js';
import type { LayerState } from './discover/sysroot.js';
import { beginTransaction, type Target } from './discover/target.js';
import { ResolutionError, UsageError } from './errors.js';
import { faultPoint } from './fault.js';
import { fetchAll } from './fetch/index.js';
import { readAccounts } from './import/accounts.js';
import { importAll } from './import/importer.js';
import { openPackageFor } from './import/open-package.js';
import { PathPlacer } from './import/placement.js';
import type { TreeReader } from './tree.js';
import { pluginForFile, type FormatPlugin } from './plugin.js';
import { lineReport, type Phase, type Report, phaseClock } from './report.js';
import { RefLedger } from './ref-ledger.js';
import { planByName } from './resolve-request.js';
import { droppedRequests, installState } from './layer-state.js';
import { markRequested } from './mark-requested.js';
import { keepScriptLayer, runScriptPhase } from './scripts/phase.js';

export interface InstallOptions extends Target {
  /** Every format the command knows, in detection order; the tree's database picks one. */
  plugins: readonly FormatPlugin[];
  files: string[];
  /** Package names to resolve against the deployment's repositories (needs a plugin with `repositories`). */
  names?: string[];
  /** Indexes and downloads; default /var/cache/ostree-layer. */
  cacheDir?: string;
  noInstallRecommends?: boolean;
  allowUnauthenticated?: boolean;
  /** Extra sources in the backend's one-line syntax. */
  extraSources?: string[];
  /** OpenPGP key files the package files named in `files` must be signed with (`--key`). */
  keys?: string[];
  dryRun?: boolean;
  /** Leave packages unconfigured: no maintainer scripts run (their state says so). */
  noScripts?: boolean;
  /** Per maintainer-script step, in seconds (default 600). */
  scriptTimeoutSeconds?: number;
  /** Progress lines for a human; the CLI sends them to stderr. Ignored when `report` is given. */
  progress?: (line: string) => void;
  /** Where phases, download progress and messages go as events (the CLI renders them). */
  report?: Report;
  /**
   * Asked once the plan is known and before anything is downloaded or written (apt's "Do you want to continue?");
   * `install` holds what will be layered. Answering false ends the transaction with `aborted` and nothing changed.
   */
  confirm?: (plan: InstallResult) => Promise<boolean>;
}

export interface PlannedPackage extends PackageId {
  file: string;
  /** Install by name: the repository, the download size and why the solver chose it (for apt's and dnf's plans). */
  origin?: string;
  size?: number;
  reason?: 'request' | 'dependency' | 'recommends';
  /** The reason a layered install leaves this package short of fully configured, if any. */
  note?: string;
  cached?: boolean;
  ref?: string;
}

export interface InstallResult {
  dryRun: boolean;
  backend: string;
  /** The commit the transaction started from (a deployment's or the ref's). */
  from: string;
  baseCommit: string;
  install: PlannedPackage[];
  /** Packages named on the command line that the tree already has in that version. */
  alreadyInstalled: PackageId[];
  commit?: string;
  deployed: boolean;
  notes: string[];
  /** Install by name: bytes to download and bytes the new packages occupy once installed. */
  downloadSize?: number;
  installedSize?: number;
  /** Maintainer-script steps that ran in the sandbox, in order (empty with --no-scripts or when none were needed). */
  scripts: Array<{ package?: string; label: string; exitCode: number }>;
  /** Milliseconds per phase (discover, import, conflicts, database, scripts, compose, deploy), for benchmarks and curiosity. */
  timings: Partial<Record<Phase, number>>;
  /** The `confirm` callback said no: nothing was changed. */
  aborted?: boolean;
}

export async function install(options: InstallOptions): Promise<InstallResult> {
  const report = options.report ?? lineReport(options.progress);
  const say = (text: string) => report.emit({ type: 'message', text });
  const names = [...(options.names ?? [])];
  if (options.files.length === 0 && names.length === 0) throw new UsageError('name at least one package or package file to install');
  const files = options.files.map((f) => resolvePath(f));
  for (const file of files) {
    if (!existsSync(file)) throw new UsageError(`${file}: no such package file`);
    if (statSync(file).isDirectory()) throw new UsageError(`${file} is a directory; name a package file`);
  }

  const { timings, lap } = phaseClock(report);
  const begin = (phase: Phase) => report.emit({ type: 'phase-start', phase });
  const opening = beginTransaction(options, options.plugins, !options.dryRun);
  if (!options.dryRun) preloadDecoders();
  const openedEarly = openWhileDiscovering(options.plugins, [...files]);
  const opened = await opening;
  // The refs it creates or moves go back as they were if it fails or a signal stops it before the deploy.
  const refs = new RefLedger(opened.repo);
  try {
    const { tree, repo, plugin, backend, location, database, previous } = opened;
    // Layers a plain `ostree admin upgrade` dropped come back with this install, as rpm-ostree would.
    const restored = droppedRequests(opened);
    for (const r of restored) if (r.file) files.push(r.file); else if (!names.includes(r.text)) names.push(r.text);
    say(`${backend.name} database at ${location} in ${opened.deployment ? `deployment ${opened.deployment.commit.slice(0, 10)}.${opened.deployment.serial}` : opened.fromCommit.slice(0, 10)}`);

    lap('discover');
    if (names.length > 0) await faultPoint('resolve');
    const byName = names.length > 0 ? await resolveNames(options, { plugin, tree, database }, report) : undefined;
    const downloaded: string[] = [];
    if (byName) lap('resolve');
    const result: InstallResult = {
      dryRun: Boolean(options.dryRun),
      backend: backend.name,
      from: opened.fromCommit,
      baseCommit: previous?.baseCommit ?? opened.fromCommit,
      install: [],
      alreadyInstalled: [...(byName?.plan.alreadyInstalled ?? [])],
      downloadSize: byName?.plan.downloadSize,
      installedSize: byName?.plan.installedSize,
      deployed: false,
      notes: restored.length > 0 ? [`this deployment had lost its layers (a plain ostree admin upgrade?): ${restored.map((r) => r.name).join(', ')} laid on again`] : [],
      scripts: [],
      timings,
    };
    if (byName) {
      // The plan is the answer of a dry run: nothing is downloaded, so each package's "file" is where it would come from.
      result.install = byName.plan.install.map(({ name, version, arch, download, reason }) => ({
        name, version, arch, file: download.url, origin: download.origin, size: download.size, reason,
      }));
      if (options.dryRun) return result;
      if (files.length === 0 && !(await confirmed(options, result))) return result;
    }
    if (byName) {
      begin('fetch');
      await faultPoint('fetch');
      const fetched = await fetchAll(byName.plan.install.map((p) => p.download), {
        cacheDir: byName.cacheDir,
        report,
        label: (d) => byName.plan.install.find((p) => p.download === d)?.name ?? d.fileName,
      });
      // Packages that carry their own signature (rpm gpgcheck=1) are checked before anything opens them.
      for (const f of fetched) if (f.download.verify) await byName.repositories.verifyPackage?.(f.path, f.download);
      downloaded.push(...fetched.map((f) => f.path));
      lap('fetch');
    }
    // Opening reads each file's control data: a few side by side, in request order. Files named on the command line
    // were opened while the target was read, by the backend their magic names; that is kept where it is the tree's.
    const early = await openedEarly;
    const packages: PackageFile[] = await mapBounded([...files, ...downloaded], IMPORT_CONCURRENCY, async (file) => {
      const made = early.get(file);
      early.delete(file); // a file named twice is opened twice, as before
      return made?.backend === backend ? made.package : openPackageFor(backend, options.plugins, file);
    });
    if (options.keys?.length) await verifyFileSignatures(backend, files, options.keys);
    const { fresh, alreadyInstalled } = await checkAgainstInstalled(backend, database, packages, previous);

    // With scripts the packages end configured; without, the backend says what was left undone.
    const scriptsRun = !options.noScripts && backend.planScripts !== undefined;
    const noteFor = (p: PackageFile) => (scriptsRun ? undefined : backend.stateNote?.(p));
    result.install = fresh.map((p) => ({ ...p.id, file: p.file, note: noteFor(p) }));
    result.alreadyInstalled.push(...alreadyInstalled);
    lap('open');
    if (options.dryRun || fresh.length === 0) {
      // Asked for by name but already layered as a dependency: it becomes a request of its own.
      const mark = options.dryRun ? null : await markRequested(opened, [...names, ...packages.slice(0, files.length).map((p) => p.id.name)], result.alreadyInstalled, options.commitOnly?.ref);
      if (mark?.commit) {
        Object.assign(result, { commit: mark.commit, deployed: mark.deployed, notes: [...result.notes, ...mark.marked.map((n) => `${n} set to manually installed`)] });
        for (const name of mark.marked) say(`${name} set to manually installed`);
      }
      return result;
    }
    // Package files named on the command line are part of the plan only once opened.
    if (files.length > 0 && !(await confirmed(options, result))) return result;

    begin('import');
    // The conflict check's path index builds while the packages import (they mostly wait on decompression).
    void database.prepareOwners?.().catch(() => undefined);
    const placer = new PathPlacer(tree);
    const accounts = await readAccounts(tree);
    // A few side by side, layer order the request's order, cache refs moved together once all are on disk.
    const imported = await importAll({ backend, repo, placer, accounts, refs }, fresh, (one, ms) => {
      const { id } = one.package;
      say(`${one.cached ? 'cached ' : 'imported'} ${id.name} ${id.version} (${id.arch}), ${one.placed.length} entries, ${ms} ms`);
    });
    for (const one of imported) {
      const name = one.package.id.name;
      if (one.tmpfiles.length > 0) result.notes.push(`${name}: ${one.tmpfiles.length} path(s) under /var or /run are created at boot by /usr/lib/tmpfiles.d/ostree-layer-${name}.conf`);
    }
    lap('import');
    const takeovers = await checkConflicts({ backend, tree, database, placer }, imported);

    lap('conflicts');
    begin('database');
    await faultPoint('database');
    const state: LayerState = installState(previous, {
      baseCommit: result.baseCommit,
      backend: backend.name,
      names,
      files: packages.slice(0, files.length),
      imported,
      pulledIn: new Set(byName?.plan.install.filter((p) => p.reason !== 'request').map((p) => p.name)),
      alreadyInstalled: result.alreadyInstalled,
    });
    const added = imported.map((p) => ({
      package: p.package,
      entries: p.entries,
      takenOver: takeovers.get(p) ?? new Map(),
      automatic: byName?.plan.install.some((d) => d.reason !== 'request' && d.name === p.package.id.name && d.arch === p.package.id.arch),
    }));
    const databaseFiles = await backend.writeDatabase({ tree, database, added });
    const plan = scriptsRun ? await backend.planScripts!({ tree, database, added }) : null;
    if (!plan) {
      // Without scripts the database layer is written by the compose itself.
      lap('database');
      begin('compose');
    }
    // The same composition as uninstall and upgrade: package layers, the final layer (database, state, directory
    // metadata), then what the maintainer scripts changed.
    result.commit = await composeLayered({
      repo,
      onto: opened.fromCommit,
      placer,
      layers: imported.map((p) => p.commit),
      layerBytes: importedLayerBytes(imported),
      directories: importedDirectories(imported),
      databaseFiles,
      state,
      branch: options.commitOnly?.ref,
      subject: `ostree-layer: install ${fresh.map((p) => p.id.name).join(' ')}`,
      afterDatabase: plan ? async (layers) => {
        lap('database');
        begin('scripts');
        await faultPoint('scripts');
        const phase = await runScriptPhase({
          repo,
          plan,
          fromCommit: opened.fromCommit,
          fromDir: opened.deployment?.dir,
          layers,
          layerBytes: importedLayerBytes(imported),
          runtimeLines: imported.flatMap((p) => p.tmpfiles),
          accounts,
          serverSide: Boolean(options.commitOnly),
          timeoutSeconds: options.scriptTimeoutSeconds,
          progress: say,
        });
        if (phase.commit) {
          // A stopped or failed install takes back the script layer's ref with its other new refs.
          await keepScriptLayer(repo, refs, state, phase.commit);
        }
        result.scripts = phase.steps;
        result.notes.push(...phase.notes);
        lap('scripts');
        begin('compose');
        return phase.commit;
      } : undefined,
    });
    result.install = imported.map((p) => ({ ...p.package.id, file: p.package.file, note: noteFor(p.package), cached: p.cached, ref: p.ref }));
    lap('compose');
    say(`composed ${result.commit}`);

    if (opened.sysroot && opened.deployment) {
      begin('deploy');
      await faultPoint('deploy');
      await deployCommit(opened.sysroot, opened.deployment, result.commit, state, refs);
      result.deployed = true;
      lap('deploy');
      say(`deployed ${result.commit.slice(0, 10)}; it boots next`);
    }
    return result;
  } catch (err) {
    // A failed install leaves the refs as they were (cache refs it made or moved, script and hold refs).
    await refs.takeBack();
    throw err;
  } finally {
    refs.close();
    await opened.close();
  }
}

const IMPORT_CONCURRENCY = 3;

/**
 * Opens `files` with the backends their magic names, while the transaction's target is still being read (mostly a
 * wait for the lock helper and small reads). Never fails: a file that cannot be opened so is opened again once the
 * tree's backend is known, which reports what is wrong with it in request order, as without this.
 */
async function openWhileDiscovering(plugins: readonly FormatPlugin[], files: string[]): Promise<Map<string, { backend: Backend; package: PackageFile }>> {
  const opened = new Map<string, { backend: Backend; package: PackageFile }>();
  await mapBounded(files, IMPORT_CONCURRENCY, async (file) => {
    try {
      const plugin = await pluginForFile(plugins, file);
      if (plugin) opened.set(file, { backend: plugin.backend, package: await plugin.backend.openPackage(file) });
    } catch {
      // Opened again below, where its error is reported.
    }
  });
  return opened;
}

/** Asks `options.confirm` (when given) about the plan in `result`; a no marks the result aborted. */
async function confirmed(options: InstallOptions, result: InstallResult): Promise<boolean> {
  if (!options.confirm || result.install.length === 0 || (await options.confirm(result))) return true;
  result.aborted = true;
  return false;
}

/** Resolves `options.names` with the backend's repository support; the plan maps to downloads. */
async function resolveNames(options: InstallOptions, opened: { plugin: FormatPlugin; tree: TreeReader; database: InstalledDatabase }, report: Report) {
  const { repositories } = opened.plugin;
  if (!repositories) throw new UsageError(`the ${opened.plugin.backend.name} backend cannot install by name yet; pass package files instead`);
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const plan = await planByName({
    repositories,
    tree: opened.tree,
    database: opened.database,
    names: options.names ?? [],
    recommends: !options.noInstallRecommends,
    cacheDir,
    extraSources: options.extraSources,
    allowUnauthenticated: options.allowUnauthenticated,
    report,
  });
  return { plan, cacheDir, repositories };
}

export const DEFAULT_CACHE_DIR = '/var/cache/ostree-layer';

/** `--key`: every package file given on the command line must carry a signature by one of `keyFiles`. */
async function verifyFileSignatures(backend: Backend, files: string[], keyFiles: string[]): Promise<void> {
  if (!backend.verifySignature) throw new UsageError(`--key: ${backend.name} packages carry no signature of their own to check`);
  const keys: Uint8Array[] = [];
  for (const keyFile of keyFiles) {
    if (!existsSync(keyFile)) throw new UsageError(`--key ${keyFile}: no such key file`);
    keys.push(await readFile(keyFile));
  }
  // Armored keys must reach OpenPGP as text.
  const parsed = keys.map((k) => (k.subarray(0, 5).toString() === '-----' ? Buffer.from(k).toString('utf8') : k));
  for (const file of files) await backend.verifySignature(file, parsed);
}

/** Same name, arch and version as an installed package: nothing to do. Another version: base packages cannot change. */
async function checkAgainstInstalled(backend: Backend, database: InstalledDatabase, packages: PackageFile[], previous: LayerState | null) {
  const layered = new Set((previous?.packages ?? []).map((p) => `${p.name}:${p.arch}`));
  const installed = new Map<string, PackageId>();
  const installedByName = new Map<string, PackageId[]>();
  for (const pkg of await database.packages()) {
    installed.set(`${pkg.name}:${pkg.arch}`, pkg);
    installedByName.set(pkg.name, [...(installedByName.get(pkg.name) ?? []), pkg]);
  }
  // Another arch of the same name that the format counts as the same package (the backend says which).
  const sameSlot = (id: PackageId) => (backend.sameSlot ? installedByName.get(id.name)?.find((p) => backend.sameSlot!(id, p)) : undefined);
  const fresh: PackageFile[] = [];
  const alreadyInstalled: PackageId[] = [];
  const seen = new Map<string, PackageFile>();
  for (const pkg of packages) {
    const key = `${pkg.id.name}:${pkg.id.arch}`;
    const have = installed.get(key) ?? sameSlot(pkg.id);
    if (have && backend.compareVersions(have.version, pkg.id.version) === 0) {
      alreadyInstalled.push(have);
      continue;
    }
    if (have && layered.has(`${have.name}:${have.arch}`)) {
      throw new ResolutionError(
        `${pkg.id.name} ${pkg.id.version} (${pkg.file}) would replace ${have.name} ${have.version}, which an earlier ostree-layer install layered; replacing a layered package is not supported yet: uninstall ${have.name} first, or run ostree-layer upgrade to take newer versions from the repositories`,
      );
    }
    if (have) {
      throw new ResolutionError(
        `${pkg.id.name} ${pkg.id.version} (${pkg.file}) would replace ${have.name} ${have.version} from the base, and base packages cannot change in a layered install; update the base image instead`,
      );
    }
    const dup = seen.get(key);
    if (dup) throw new UsageError(`${pkg.file} and ${dup.file} are both ${pkg.id.name} (${pkg.id.arch}); name one of them`);
    seen.set(key, pkg);
    fresh.push(pkg);
  }
  return { fresh, alreadyInstalled };
}
