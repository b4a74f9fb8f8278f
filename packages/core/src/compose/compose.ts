/**
 * Compose: the new commit is the starting tree overlaid with each package layer and the final (database) layer, all
 * given as `--tree=ref=`, so ostree reuses the base's directory trees instead of reading them: O(changes). The commit's
 * metadata records what it is made of.
 */
import type { LayerState } from '../discover/sysroot.js';
import type { OstreeRepo } from '../ostree.js';

export interface ComposeInput {
  repo: OstreeRepo;
  /** The commit the transaction started from (the deployment's, or the ref's). */
  from: string;
  /** Layer commits in order; later ones win. */
  layers: string[];
  /** Move this ref to the result (server side); without it the commit is an orphan held by its deployment. */
  branch?: string;
  state: LayerState;
  subject: string;
}

export function composeCommit(input: ComposeInput): Promise<string> {
  const { state } = input;
  return input.repo.commit({
    trees: [{ ref: input.from }, ...input.layers.map((ref) => ({ ref }))],
    branch: input.branch,
    subject: input.subject,
    metadata: {
      'ostree-layer.base-commit': state.baseCommit,
      'ostree-layer.backend': state.backend,
      'ostree-layer.request': JSON.stringify(state.requests),
      'ostree-layer.packages': JSON.stringify(state.packages.map(({ name, version, arch }) => ({ name, version, arch }))),
    },
  });
}
