/**
 * `install NAME` of a package that an earlier request only pulled in: nothing new to layer, but it becomes a request
 * of its own (apt: "set to manually installed"), so that removing what pulled it in no longer autoremoves it. The
 * layered set is unchanged; only the state changes, so the new commit is the same tree with one more small layer.
 */
import type { PackageId } from './backend.js';
import { composeLayered } from './compose/layered.js';
import { deployCommit } from './deploy/deploy.js';
import { requestName, type LayerState } from './discover/sysroot.js';
import type { TransactionContext } from './discover/target.js';
import { PathPlacer } from './import/placement.js';

export interface Marked {
  /** Layered packages that are requests now. */
  marked: string[];
  commit?: string;
  deployed: boolean;
}

export async function markRequested(opened: TransactionContext, names: string[], present: PackageId[], branch?: string): Promise<Marked> {
  const state = opened.previous;
  const typed = (name: string) => names.find((n) => requestName(n) === name);
  const marked = (state?.packages ?? [])
    .filter((p) => !p.requested && typed(p.name) !== undefined && present.some((a) => a.name === p.name && a.arch === p.arch))
    .map((p) => p.name);
  if (!state || marked.length === 0) return { marked: [], deployed: false };
  const next: LayerState = {
    ...state,
    requests: [...state.requests, ['install', ...marked]],
    requested: [...(state.requested ?? []), ...marked.map((name) => ({ name, text: typed(name)! }))],
    packages: state.packages.map((p) => (marked.includes(p.name) ? { ...p, requested: true } : p)),
  };
  const commit = await composeLayered({
    repo: opened.repo,
    onto: opened.fromCommit,
    placer: new PathPlacer(opened.tree),
    layers: [],
    directories: [],
    databaseFiles: [],
    state: next,
    branch,
    subject: `ostree-layer: ${marked.join(' ')} requested`,
  });
  if (!opened.sysroot || !opened.deployment) return { marked, commit, deployed: false };
  await deployCommit(opened.sysroot, opened.deployment, commit, next);
  return { marked, commit, deployed: true };
}
