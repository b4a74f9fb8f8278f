/**
 * Compose: the new commit is the starting tree overlaid with each package layer and the final (database) layer. In a
 * `bare` repo the trees are stacked on the objects in-process (stack-trees.ts); elsewhere, and where ostree's own rules
 * must decide, by `ostree commit` with each tree as `--tree=ref=` (the final layer as a tar stream on stdin), so ostree
 * reuses the base's directory trees instead of reading them. Either way O(changes). For ostree, layers with many
 * bytes go in as hardlinked checkouts (layer-routes.ts says why). The commit's metadata records what it is made of.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayerState } from '../discover/sysroot.js';
import type { CommitOptions, OstreeRepo } from '../ostree.js';
import { scratchDir } from '../scratch.js';
import { ObjectStore } from '../object-writer.js';
import { commitFinalLayer, streamFinalLayer, type FinalLayerSource } from './final-layer.js';
import { layersToLink } from './layer-routes.js';
import { stackTrees, writeCommit } from './stack-trees.js';

export interface ComposeInput {
  repo: OstreeRepo;
  /** The commit the transaction started from (the deployment's, or the ref's). */
  from: string;
  /** Layer commits in order; later ones win. */
  layers: string[];
  /** Bytes of regular files per layer commit, where known (the import knows them): picks each layer's route. */
  layerBytes?: ReadonlyMap<string, number>;
  /** Move this ref to the result (server side); without it the commit is an orphan held by its deployment. */
  branch?: string;
  state: LayerState;
  subject: string;
  /** Laid on top of the layers as a tar stream read by the compose itself, without a commit of its own. */
  finalLayer?: FinalLayerSource;
}

export async function composeCommit(input: ComposeInput): Promise<string> {
  const { repo } = input;
  if (repo.objects()) {
    // The final layer becomes a commit of its own (objects only, no process), so that every tree is a commit to stack.
    const layers = input.finalLayer ? [...input.layers, await commitFinalLayer({ repo, ...input.finalLayer })] : input.layers;
    const composed = await composeInObjects({ ...input, layers });
    if (composed) return composed;
    return composeWithOstree({ ...input, layers, finalLayer: undefined });
  }
  return composeWithOstree(input);
}

/** The stacked commit written in-process; null when ostree must compose it (see stack-trees.ts). */
async function composeInObjects(input: ComposeInput): Promise<string | null> {
  const { repo } = input;
  const store = new ObjectStore(repo.path);
  const root = stackTrees(repo.objects()!, store, [input.from, ...input.layers]);
  if (!root) return null;
  // `ostree commit --branch` follows the ref's current commit; an orphan (held by its deployment) follows none.
  const parent = input.branch ? ((await repo.refCommit(input.branch)) ?? (await repo.resolve(input.branch)) ?? undefined) : undefined;
  const commit = writeCommit(store, { root, parent, branch: input.branch, subject: input.subject, metadata: commitMetadata(input.state) });
  if (input.branch) {
    // On disk before the ref names it, as ostree's own commit makes sure.
    await repo.flush();
    await repo.setRef(input.branch, commit);
  }
  return commit;
}

async function composeWithOstree(input: ComposeInput): Promise<string> {
  const { repo } = input;
  const linked = await layersToLink(repo, input.layers, input.layerBytes);
  const scratch = linked.size > 0 ? await scratchDir(repo.path, 'compose') : null;
  try {
    const trees: CommitOptions['trees'] = [{ ref: input.from }];
    for (const [i, commit] of input.layers.entries()) {
      if (!scratch || !linked.has(commit)) {
        trees.push({ ref: commit });
        continue;
      }
      // Read-only: ostree commit only stats these hardlinks, and the scratch is removed below.
      const dir = join(scratch, String(i));
      await repo.checkout(commit, dir);
      trees.push({ linkedDir: dir });
    }
    if (!input.finalLayer) return await commitComposed(input, trees);
    return await streamFinalLayer(input.finalLayer, (tar, signal) => commitComposed(input, [...trees, { tar }], signal));
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

function commitComposed(input: ComposeInput, trees: CommitOptions['trees'], signal?: AbortSignal): Promise<string> {
  return input.repo.commit({ trees, branch: input.branch, subject: input.subject, signal, metadata: commitMetadata(input.state) });
}

function commitMetadata(state: LayerState): Record<string, string> {
  return {
    'ostree-layer.base-commit': state.baseCommit,
    'ostree-layer.backend': state.backend,
    'ostree-layer.request': JSON.stringify(state.requests),
    'ostree-layer.packages': JSON.stringify(state.packages.map(({ name, version, arch }) => ({ name, version, arch }))),
  };
}
