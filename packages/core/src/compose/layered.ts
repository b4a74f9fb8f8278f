/**
 * The one way a layered tree is put together: a starting commit, package layers in order, and a final layer with the
 * database, the layering state and the directory metadata the layers must not change. Install (onto the deployment's
 * commit), uninstall (onto the base, with the layers that stay) and upgrade (onto the new base, with every layer) all
 * end here, so a phase that works on the composed tree (maintainer scripts) has one place to go.
 */
import type { LayerFile } from '../backend.js';
import { listLayer } from '../discover/repo-tree.js';
import { STATE_PATH, type LayerState } from '../discover/sysroot.js';
import { faultPoint } from '../fault.js';
import type { PathPlacer } from '../import/placement.js';
import type { OstreeRepo } from '../ostree.js';
import { composeCommit } from './compose.js';
import { commitFinalLayer, type FinalLayerSource, type LayerDirectory } from './final-layer.js';

export interface LayeredComposeInput {
  repo: OstreeRepo;
  /** The commit the layers go on: a base commit, or for an incremental install the deployment's own commit. */
  onto: string;
  /** Reads `onto`: its directories keep their metadata in the result. */
  placer: PathPlacer;
  /** Package layer commits in order; later ones win. */
  layers: string[];
  /** Bytes of regular files per layer commit, where known (see importedLayerBytes). */
  layerBytes?: ReadonlyMap<string, number>;
  /** Every directory the layers contain (see importedDirectories / layerDirectories). */
  directories: Iterable<LayerDirectory>;
  /** The backend's database files for the result. */
  databaseFiles: LayerFile[];
  /** What the result is made of; written to the state file and the commit metadata. */
  state: LayerState;
  /** Move this ref to the result (server side). */
  branch?: string;
  subject: string;
  /**
   * Runs once the package and database layers are committed (the maintainer-script phase), given every layer so far;
   * the layer it returns, if any, goes on top. Without it the database layer is no commit of its own but the
   * compose's top tree.
   */
  afterDatabase?: (layers: string[]) => Promise<string | null>;
}

/** Writes the final layer and composes; returns the new commit. Moves no ref except `branch`. */
export async function composeLayered(input: LayeredComposeInput): Promise<string> {
  const compose = (layers: string[], finalLayer?: FinalLayerSource) =>
    composeCommit({ repo: input.repo, from: input.onto, layers, layerBytes: input.layerBytes, branch: input.branch, state: input.state, subject: input.subject, finalLayer });
  const finalLayer: FinalLayerSource = { placer: input.placer, directories: input.directories, files: [...input.databaseFiles, stateFile(input.state)] };
  if (!input.afterDatabase) {
    // Nothing works on the tree before the compose: the final layer is its top tree, not a commit of its own.
    await faultPoint('compose');
    return compose(input.layers, finalLayer);
  }
  const layers = [...input.layers, await commitFinalLayer({ repo: input.repo, ...finalLayer })];
  const extra = await input.afterDatabase(layers);
  await faultPoint('compose');
  if (!extra) return compose(layers);
  // The hook may have recorded its layer in the state (script layers): the state file under it could not.
  return compose([...layers, extra], { placer: input.placer, directories: [], files: [stateFile(input.state)] });
}

export function stateFile(state: LayerState): LayerFile {
  return { path: STATE_PATH, type: 'file', mode: 0o644, content: JSON.stringify(state, null, 2) + '\n' };
}

/** The directories of already committed layers, with the metadata each layer gives them. */
export async function layerDirectories(repo: OstreeRepo, commits: string[]): Promise<LayerDirectory[]> {
  return (await layerListing(repo, commits)).directories;
}

/** The directories of already committed layers (in layer order) and the bytes of each one's files, for the compose. */
export async function layerListing(repo: OstreeRepo, commits: string[]): Promise<{ directories: LayerDirectory[]; bytes: Map<string, number> }> {
  // Listed side by side (a process each), kept in layer order.
  const listed = await Promise.all(commits.map((commit) => listLayer(repo, commit)));
  const directories = listed.flatMap((layer) => layer.directories).map((dir) => ({ path: dir.path, meta: { mode: dir.stat.mode, uid: dir.stat.uid, gid: dir.stat.gid } }));
  return { directories, bytes: new Map(commits.map((commit, i) => [commit, listed[i]!.fileBytes])) };
}
