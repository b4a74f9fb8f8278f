/**
 * What the repo keeps. `ostree admin deploy` prunes every object no ref and no deployment holds, and a composed commit
 * does not hold the commits it was composed from: the base commit and the layer commits would go with the first
 * deploy, and `uninstall` on an older deployment could no longer recompose it. So every commit a live deployment was
 * composed from gets a ref, and every ref of ours that no live deployment needs is deleted after a deploy, which keeps
 * the repo at what the deployments use.
 *
 * Refs: `ostree-layer/base/<checksum>` per base commit, `ostree-layer/layer/<checksum>` per layer commit and
 * `ostree-layer/scripts/<checksum>` per layer of what maintainer scripts changed. The
 * package cache refs (`ostree-layer/pkg/…`) cannot hold layers: an import onto another base moves them. They are kept
 * while a live deployment uses the layer they point to.
 */
import { DirectoryTree } from '../tree.js';
import { readLayerState, SCRIPT_LAYER_REF_PREFIX, type LayerState, type Sysroot } from '../discover/sysroot.js';
import type { OstreeRepo } from '../ostree.js';
import type { RefLedger } from '../ref-ledger.js';
import { adminCleanup } from './deploy.js';

export const OUR_REFS = 'ostree-layer';
const BASE_REFS = `${OUR_REFS}/base/`;
const LAYER_REFS = `${OUR_REFS}/layer/`;
const PACKAGE_REFS = `${OUR_REFS}/pkg/`;

export function baseRef(commit: string): string {
  return `${BASE_REFS}${commit}`;
}

/** The layer commit a recorded package was composed from: the recorded checksum, or (older states) its cache ref's. */
export async function layerCommitOf(repo: OstreeRepo, p: LayerState['packages'][number]): Promise<string | null> {
  return p.commit ?? (await repo.refCommit(p.ref));
}

/**
 * Puts refs on the base and layer commits `state` was composed from (before the deploy that would prune them); those
 * it creates are noted in `refs`, when given, so that a deploy that does not happen takes them back.
 */
export async function holdState(repo: OstreeRepo, state: LayerState, refs?: RefLedger, options: { durable?: boolean } = {}): Promise<void> {
  const wanted = new Map<string, string>();
  if (repo.hasCommit(state.baseCommit)) wanted.set(baseRef(state.baseCommit), state.baseCommit);
  for (const p of state.packages) if (p.commit) wanted.set(`${LAYER_REFS}${p.commit}`, p.commit);
  for (const c of state.scriptLayers ?? []) if (repo.hasCommit(c)) wanted.set(`${SCRIPT_LAYER_REF_PREFIX}${c}`, c);
  const missing = [];
  for (const [ref, commit] of wanted) {
    if ((await repo.refCommit(ref)) !== null) continue;
    refs?.note(ref, null);
    missing.push(repo.setRef(ref, commit, options));
  }
  await Promise.all(missing);
}

export interface RetentionReport {
  /** Base commits live deployments were composed from. */
  bases: string[];
  /** Layer commits live deployments were composed from. */
  layers: string[];
  /** Refs deleted because no live deployment needs them. */
  deleted: string[];
}

/**
 * Holds what every live deployment needs (deployments made before refs were kept get theirs now, if their base is
 * still in the repo) and deletes our refs that none needs: base and layer refs, and package cache refs whose layer no
 * deployment uses.
 */
export async function dropUnusedRefs(sysroot: Sysroot): Promise<RetentionReport> {
  const repo = sysroot.repo;
  const bases = new Set<string>();
  const layers = new Set<string>();
  for (const dir of await sysroot.deploymentDirs()) {
    const state = await readLayerState(new DirectoryTree(dir));
    if (!state) continue;
    bases.add(state.baseCommit);
    for (const c of state.scriptLayers ?? []) layers.add(c);
    for (const p of state.packages) {
      const commit = await layerCommitOf(repo, p);
      if (commit) layers.add(commit);
    }
    await holdState(repo, state);
  }
  const deleted: string[] = [];
  for (const ref of await repo.listRefs(OUR_REFS)) {
    let keep = true;
    if (ref.startsWith(BASE_REFS)) keep = bases.has(ref.slice(BASE_REFS.length));
    else if (ref.startsWith(LAYER_REFS)) keep = layers.has(ref.slice(LAYER_REFS.length));
    else if (ref.startsWith(SCRIPT_LAYER_REF_PREFIX)) keep = layers.has(ref.slice(SCRIPT_LAYER_REF_PREFIX.length));
    else if (ref.startsWith(PACKAGE_REFS)) keep = layers.has((await repo.refCommit(ref)) ?? '');
    if (!keep) deleted.push(ref);
  }
  if (deleted.length > 0) await repo.deleteRefs(deleted);
  return { bases: [...bases], layers: [...layers], deleted };
}

/** After a deploy: drop what no deployment needs and, when something was dropped, prune its objects. */
export async function cleanupSysroot(sysroot: Sysroot): Promise<RetentionReport> {
  const report = await dropUnusedRefs(sysroot);
  if (report.deleted.length > 0) await adminCleanup(sysroot);
  return report;
}
