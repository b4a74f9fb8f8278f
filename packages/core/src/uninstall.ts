/**
 * The uninstall transaction (and autoremove). Layers cannot delete, so removing layered packages composes again from
 * the base: the base commit, the recorded layers of the packages that stay, and a final layer with the backend's
 * database without the removed ones. The request goes, and with it every package only that request pulled in; a
 * layered package that needs a removed one is refused by name unless the caller asked to take dependents along.
 * Removing every layered package deploys the base commit itself. As with install, nothing before the deploy moves a
 * ref or a deployment.
 */
import type { LayerFile, PackageId } from './backend.js';
import { composeLayered, layerDirectories, layerListing } from './compose/layered.js';
import { deployCommit } from './deploy/deploy.js';
import { layerCommitOf } from './deploy/retention.js';
import { RepoTree } from './discover/repo-tree.js';
import { SCRIPT_LAYER_REF_PREFIX, type LayeredRecord, type LayerState } from './discover/sysroot.js';
import { beginTransaction, type Target, type TransactionContext } from './discover/target.js';
import { ResolutionError, SystemStateError, UsageError } from './errors.js';
import { faultPoint } from './fault.js';
import { PathPlacer } from './import/placement.js';
import type { OstreeRepo } from './ostree.js';
import { lineReport, phaseClock, type Phase, type Report } from './report.js';
import type { TreeReader } from './tree.js';
import type { FormatPlugin } from './plugin.js';
import { packageKey as key, planRemoval, type Dependent } from './resolve-removal.js';

export interface UninstallOptions extends Target {
  /** Every format the command knows; a plugin without `repositories` skips the dependency check. */
  plugins: readonly FormatPlugin[];
  /** Layered packages to remove: "name" (every arch) or "name:arch". Empty with `autoremoveOnly`. */
  names: string[];
  /** Remove the layered packages that need a removed one too (apt's behaviour) instead of refusing. */
  withDependents?: boolean;
  /** Remove nothing by name: only the pulled-in packages nothing needs any more (`autoremove`). */
  autoremoveOnly?: boolean;
  dryRun?: boolean;
  /** Progress lines for a human. Ignored when `report` is given. */
  progress?: (line: string) => void;
  /** Where phases and messages go as events (the CLI renders them). */
  report?: Report;
  /** Asked with the plan before anything is written; false ends the transaction with `aborted`, nothing changed. */
  confirm?: (plan: UninstallResult) => Promise<boolean>;
}

export interface UninstallResult {
  dryRun: boolean;
  backend: string;
  from: string;
  baseCommit: string;
  /** Every layered package that goes: named, dependents taken along, and autoremoved. */
  remove: PackageId[];
  /** Layered packages that needed a removed one and go with it (`withDependents`). */
  dependents: Dependent[];
  /** Pulled-in packages nothing that stays needs. */
  autoremoved: PackageId[];
  /** Layered packages that stay. */
  keep: PackageId[];
  commit?: string;
  deployed: boolean;
  /** The `confirm` callback said no: nothing was changed. */
  aborted?: boolean;
  /** Milliseconds per phase (discover, resolve, database, compose, deploy). */
  timings: Partial<Record<Phase, number>>;
}

export async function uninstall(options: UninstallOptions): Promise<UninstallResult> {
  const report = options.report ?? lineReport(options.progress);
  const say = (text: string) => report.emit({ type: 'message', text });
  // Each phase reports its start and its time, as install's do.
  const { timings, lap } = phaseClock(report);
  const begin = (phase: Phase) => report.emit({ type: 'phase-start', phase });
  if (options.names.length === 0 && !options.autoremoveOnly) throw new UsageError('name at least one layered package to remove');
  const opened = await beginTransaction(options, options.plugins, !options.dryRun);
  try {
    lap('discover');
    const { backend, database, previous, tree } = opened;
    const state: LayerState = previous ?? { baseCommit: opened.fromCommit, backend: backend.name, requests: [], requested: [], packages: [] };
    const named = pickLayered(options.names, state, await database.packages());
    const namedKeys = new Set(named.map(key));
    const requested = new Set(state.packages.filter((p) => p.requested && !namedKeys.has(key(p))).map(key));
    const { repositories } = opened.plugin;
    const plan = repositories
      ? await planRemoval({ repositories, tree, database, layered: state.packages, remove: named, requested, cascade: Boolean(options.withDependents) })
      : { dependents: [], autoremove: [] };
    if (plan.dependents.length > 0 && !options.withDependents) throw dependentsError(plan.dependents);
    lap('resolve');

    const goes = new Set([...namedKeys, ...plan.dependents.map((d) => key(d.package)), ...plan.autoremove.map(key)]);
    const remove = state.packages.filter((p) => goes.has(key(p)));
    const keep = state.packages.filter((p) => !goes.has(key(p)));
    const result: UninstallResult = {
      dryRun: Boolean(options.dryRun),
      backend: backend.name,
      from: opened.fromCommit,
      baseCommit: state.baseCommit,
      remove: remove.map(identity),
      dependents: plan.dependents,
      autoremoved: plan.autoremove,
      keep: keep.map(identity),
      deployed: false,
      timings,
    };
    if (remove.length === 0) return result;
    if (!opened.repo.hasCommit(state.baseCommit)) {
      throw new SystemStateError(`the base commit ${state.baseCommit} is no longer in ${opened.repo.path}; deploy a base again (ostree admin deploy) and layer onto it`);
    }
    const keepCommits = await recordedLayers(opened.repo, keep);
    const scriptCommits = await scriptLayerCommits(opened.repo, state);
    if (options.dryRun) return result;
    if (options.confirm && !(await options.confirm(result))) {
      result.aborted = true;
      return result;
    }

    const removedNames = new Set(remove.map((p) => p.name));
    const newState: LayerState = {
      ...state,
      requests: [...state.requests, [options.autoremoveOnly ? 'autoremove' : 'uninstall', ...options.names]],
      requested: (state.requested ?? []).filter((r) => !removedNames.has(r.name)),
      packages: keep.map((p, i) => ({ ...p, commit: keepCommits[i] })),
    };
    const subject = `ostree-layer: ${options.autoremoveOnly ? 'autoremove' : 'uninstall'} ${remove.map((p) => p.name).join(' ')}`;
    if (keep.length === 0) result.commit = state.baseCommit;
    else {
      begin('database');
      result.commit = await recomposeWithout({ opened, state: newState, remove, keepCommits, scriptCommits, branch: options.commitOnly?.ref, subject, lap, begin });
      lap('compose');
    }
    say(keep.length === 0 ? `nothing stays layered: the base ${state.baseCommit.slice(0, 10)} is deployed as it is` : `composed ${result.commit}`);

    if (options.commitOnly && keep.length === 0) await opened.repo.setRef(options.commitOnly.ref, result.commit);
    if (opened.sysroot && opened.deployment) {
      begin('deploy');
      await faultPoint('deploy');
      await deployCommit(opened.sysroot, opened.deployment, result.commit, keep.length === 0 ? null : newState);
      lap('deploy');
      result.deployed = true;
      say(`deployed ${result.commit.slice(0, 10)}; it boots next`);
    }
    return result;
  } finally {
    await opened.close();
  }
}

interface Recompose {
  opened: TransactionContext;
  state: LayerState;
  remove: LayeredRecord[];
  keepCommits: string[];
  scriptCommits: string[];
  branch: string | undefined;
  subject: string;
  lap: (phase: Phase) => void;
  begin: (phase: Phase) => void;
}

/**
 * Base + the layers that stay + the backend's database without the removed packages. Nothing is imported or
 * decompressed: the layers are the recorded commits, the database is the current one minus what OSTree's diff of the
 * base and the current commit says layering changed, and directory metadata comes from the current tree.
 */
async function recomposeWithout(input: Recompose): Promise<string> {
  const { opened, state, remove } = input;
  const { backend, repo, tree, database, location } = opened;
  if (!backend.databaseWithout) throw new UsageError(`the ${backend.name} backend cannot remove packages from its database yet`);
  const base = new RepoTree(repo, state.baseCommit);
  try {
    // The layers' directories are listed while OSTree diffs the base and the current commit (each a process).
    const removedCommits = Promise.all(remove.map((p) => layerCommitOf(repo, p)));
    const listing = Promise.all([
      layerListing(repo, input.keepCommits),
      // A removed package whose layer is gone (pruned by hand) leaves its directories unknown: then the base is read.
      removedCommits.then((commits) => (commits.every((c) => c && repo.hasCommit(c)) ? layerDirectories(repo, commits as string[]) : null)),
    ]);
    listing.catch(() => undefined);
    const changed = new Map<string, 'added' | 'modified'>();
    for (const { change, path } of await repo.diff(state.baseCommit, opened.fromCommit)) {
      if (change !== 'deleted' && (path === location || path.startsWith(location + '/'))) changed.set(path, change);
    }
    const databaseFiles: LayerFile[] = await backend.databaseWithout({ tree, database, base, remove: remove.map(identity), changed });
    const [kept, removedDirectories] = await listing;
    input.lap('database');
    input.begin('compose');
    return await composeLayered({
      repo,
      onto: state.baseCommit,
      placer: new PathPlacer(removedDirectories ? new RecomposedBase(base, tree, new Set(removedDirectories.map((d) => d.path))) : base),
      // Script layers before the database: the database written for what stays must win over the one the scripts
      // left. Removal runs no scripts (neither does rpm-ostree): what the removed packages' scripts made (users,
      // alternatives) stays, as after `apt remove` without purge.
      layers: [...input.keepCommits, ...input.scriptCommits],
      layerBytes: kept.bytes,
      directories: kept.directories,
      databaseFiles,
      state,
      branch: input.branch,
      subject: input.subject,
    });
  } finally {
    await base.dispose();
  }
}

/**
 * The base as the recompose's path policy reads it. A directory of the current tree has the base's metadata there
 * when the base has it (the final layer of the compose that made it put it back), and otherwise the metadata the
 * first layer holding it gave it; the kept layers give it the same unless a removed layer held it first. So only
 * directories the removed layers hold are read from the base commit (a process per batch); the rest, and every
 * symlink, come from the current tree (a deployment on disk).
 */
class RecomposedBase implements TreeReader {
  constructor(
    private readonly base: TreeReader,
    private readonly current: TreeReader,
    private readonly removedDirectories: Set<string>,
  ) {}

  get description(): string {
    return this.base.description;
  }

  lstat(path: string) {
    return this.removedDirectories.has(path) ? this.base.lstat(path) : this.current.lstat(path);
  }

  readlink(path: string) {
    return this.removedDirectories.has(path) ? this.base.readlink(path) : this.current.readlink(path);
  }

  readFile(path: string) {
    return this.base.readFile(path);
  }

  readdir(path: string) {
    return this.base.readdir(path);
  }

  createReadStream(path: string) {
    return this.base.createReadStream(path);
  }
}

function dependentsError(dependents: Dependent[]): ResolutionError {
  const lines = dependents.map((d) => `${d.package.name} ${d.package.version} depends on ${d.relation} (${d.needs.name} ${d.needs.version} would be removed)`);
  const names = [...new Set(dependents.map((d) => d.package.name))].join(' ');
  return new ResolutionError(`removing this would break layered packages:\n  ${lines.join('\n  ')}\nremove ${names} too (name them, or pass --with-dependents), or keep what they need`);
}

function identity(p: PackageId): PackageId {
  return { name: p.name, version: p.version, arch: p.arch };
}

/** The layered packages `names` mean; a name of the base or of nothing at all is refused with the reason. */
function pickLayered(names: string[], state: LayerState, installed: PackageId[]): LayeredRecord[] {
  const layered = state.packages;
  const picked: LayeredRecord[] = [];
  for (const request of names) {
    const [name, arch] = request.split(':');
    const matches = layered.filter((p) => p.name === name && (arch === undefined || p.arch === arch));
    if (matches.length === 0) {
      if (installed.some((p) => p.name === name)) {
        throw new ResolutionError(`${request} is part of the base, and base packages cannot be removed in a layered install; only packages ostree-layer layered can be`);
      }
      throw new ResolutionError(`${request} is not installed${layered.length ? `; layered packages: ${layered.map((p) => p.name).join(', ')}` : ''}`);
    }
    for (const p of matches) if (!picked.includes(p)) picked.push(p);
  }
  return picked;
}

/** The script layers the state records, each still held by its ref. */
async function scriptLayerCommits(repo: OstreeRepo, state: LayerState): Promise<string[]> {
  const commits: string[] = [];
  for (const commit of state.scriptLayers ?? []) {
    if ((await repo.refCommit(SCRIPT_LAYER_REF_PREFIX + commit)) !== commit) {
      throw new SystemStateError(`the layer holding what maintainer scripts changed (${commit.slice(0, 10)}, ref ${SCRIPT_LAYER_REF_PREFIX}${commit}) is gone from ${repo.path}; the tree cannot be recomposed without it`);
    }
    commits.push(commit);
  }
  return commits;
}

/** The layer commit each package that stays was composed from, checked to be in the repo. */
export async function recordedLayers(repo: OstreeRepo, keep: LayeredRecord[]): Promise<string[]> {
  const commits: string[] = [];
  for (const p of keep) {
    const commit = await layerCommitOf(repo, p);
    if (!commit || !repo.hasCommit(commit)) {
      throw new SystemStateError(
        `the cached layer of ${p.name} ${p.version} (${p.commit ? `commit ${p.commit}` : `ref ${p.ref}`}) is gone from ${repo.path}, so the tree cannot be recomposed without it; install ${p.name} again first`,
      );
    }
    commits.push(commit);
  }
  return commits;
}
