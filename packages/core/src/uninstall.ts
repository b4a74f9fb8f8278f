/**
 * The uninstall transaction. Layers cannot delete, so removing layered packages composes again from the base: the base
 * commit, the cached layers of the packages that stay, and a final layer with the backend's database without the
 * removed ones. Removing every layered package deploys the base commit itself. As with install, nothing before the
 * deploy moves a ref or a deployment.
 */
import type { Backend, LayerFile, PackageId } from './backend.js';
import { composeCommit } from './compose/compose.js';
import { commitFinalLayer, type LayerDirectory } from './compose/final-layer.js';
import { deployCommit } from './deploy/deploy.js';
import { listDirectories, RepoTree } from './discover/repo-tree.js';
import { STATE_PATH, type LayerState } from './discover/sysroot.js';
import { beginTransaction, type Target } from './discover/target.js';
import { ResolutionError, SystemStateError, UsageError } from './errors.js';
import { faultPoint } from './fault.js';
import { PathPlacer } from './import/placement.js';
import type { OstreeRepo } from './ostree.js';
import { lineReport, type Phase, type Report } from './report.js';

export interface UninstallOptions extends Target {
  backends: Backend[];
  /** Layered packages to remove: "name" (every arch) or "name:arch". */
  names: string[];
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
  remove: PackageId[];
  /** Layered packages that stay. */
  keep: PackageId[];
  commit?: string;
  deployed: boolean;
  /** The `confirm` callback said no: nothing was changed. */
  aborted?: boolean;
}

type Layered = LayerState['packages'][number];

export async function uninstall(options: UninstallOptions): Promise<UninstallResult> {
  const report = options.report ?? lineReport(options.progress);
  const say = (text: string) => report.emit({ type: 'message', text });
  // Each phase reports its start and its time, as install's do.
  let phaseStarted = 0;
  const begin = (phase: Phase) => {
    phaseStarted = performance.now();
    report.emit({ type: 'phase-start', phase });
  };
  const end = (phase: Phase) => report.emit({ type: 'phase-end', phase, ms: Math.round((performance.now() - phaseStarted) * 10) / 10 });
  if (options.names.length === 0) throw new UsageError('name at least one layered package to remove');
  const opened = await beginTransaction(options, options.backends, !options.dryRun);
  try {
    const { tree, repo, backend, location, database, previous: state } = opened;
    const installed = await database.packages();
    const remove = pickLayered(options.names, state, installed);
    const keep = state!.packages.filter((p) => !remove.includes(p));
    const result: UninstallResult = {
      dryRun: Boolean(options.dryRun),
      backend: backend.name,
      from: opened.fromCommit,
      baseCommit: state!.baseCommit,
      remove: remove.map(identity),
      keep: keep.map(identity),
      deployed: false,
    };
    if (!(await repo.resolve(state!.baseCommit))) {
      throw new SystemStateError(`the base commit ${state!.baseCommit} is no longer in ${repo.path}; deploy a base again (ostree admin deploy) and layer onto it`);
    }
    const keepCommits = await layerCommits(repo, keep);
    if (options.dryRun) return result;
    if (options.confirm && !(await options.confirm(result))) {
      result.aborted = true;
      return result;
    }

    let newState: LayerState | null = null;
    if (keep.length === 0) {
      result.commit = state!.baseCommit;
      say(`nothing stays layered: the base ${state!.baseCommit.slice(0, 10)} is deployed as it is`);
    } else {
      if (!backend.databaseWithout) throw new UsageError(`the ${backend.name} backend cannot remove packages from its database yet`);
      begin('database');
      const base = new RepoTree(repo, state!.baseCommit);
      try {
        await base.prefetch(location);
        const files: LayerFile[] = await backend.databaseWithout({ tree, database, base, remove: remove.map(identity) });
        newState = { ...state!, requests: [...state!.requests, ['uninstall', ...options.names]], packages: keep };
        files.push({ path: STATE_PATH, type: 'file', mode: 0o644, content: JSON.stringify(newState, null, 2) + '\n' });
        const directories: LayerDirectory[] = [];
        for (const commit of keepCommits) {
          for (const dir of await listDirectories(repo, commit)) directories.push({ path: dir.path, meta: { mode: dir.stat.mode, uid: dir.stat.uid, gid: dir.stat.gid } });
        }
        const finalLayer = await commitFinalLayer({ repo, placer: new PathPlacer(base), directories, files });
        end('database');
        begin('compose');
        await faultPoint('compose');
        result.commit = await composeCommit({
          repo,
          from: state!.baseCommit,
          layers: [...keepCommits, finalLayer],
          branch: options.commitOnly?.ref,
          state: newState,
          subject: `ostree-layer: uninstall ${options.names.join(' ')}`,
        });
      } finally {
        await base.dispose();
      }
      end('compose');
      say(`composed ${result.commit}`);
    }

    if (options.commitOnly && keep.length === 0) {
      await repo.setRef(options.commitOnly.ref, result.commit);
    }
    if (opened.sysroot && opened.deployment) {
      begin('deploy');
      await faultPoint('deploy');
      await deployCommit(opened.sysroot, opened.deployment, result.commit, newState);
      end('deploy');
      result.deployed = true;
      say(`deployed ${result.commit.slice(0, 10)}; it boots next`);
    }
    return result;
  } finally {
    await opened.close();
  }
}

function identity(p: PackageId): PackageId {
  return { name: p.name, version: p.version, arch: p.arch };
}

/** The layered packages `names` mean; a name of the base or of nothing at all is refused with the reason. */
function pickLayered(names: string[], state: LayerState | null, installed: PackageId[]): Layered[] {
  const layered = state?.packages ?? [];
  const picked: Layered[] = [];
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

/** The cached import of each package that stays (the ref recorded when it was layered). */
async function layerCommits(repo: OstreeRepo, keep: Layered[]): Promise<string[]> {
  const commits: string[] = [];
  for (const p of keep) {
    const commit = await repo.refCommit(p.ref);
    if (!commit) {
      throw new SystemStateError(`the cached layer of ${p.name} ${p.version} (ref ${p.ref}) is gone from ${repo.path}, so the tree cannot be recomposed without it; install ${p.name} again first`);
    }
    commits.push(commit);
  }
  return commits;
}
