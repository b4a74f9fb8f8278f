/**
 * How each layer reaches the compose. `--tree=ref=` is lazy only for the first tree: ostree 2022.7 merges every later
 * `--tree=ref=` into the tree built so far by reading each of its files again, checksumming it and writing it to a
 * temporary object (ostree-repo-commit.c, write_content_to_mtree_internal: only a devino cache hit skips that). A
 * package layer with a 117 MB library made the compose 420 ms instead of 13 ms. A layer checked out as hardlinks of
 * the repo's objects and committed with `--link-checkout-speedup` is a cache hit for every file: 33 ms for the same
 * layer, the same tree checksums. But building that cache scans every loose object of the repo (about 2.2 µs each:
 * 190 ms on an 86k-object repo), so the route pays only for layers with many bytes; small layers stay `ref`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OstreeRepo } from '../ostree.js';

/** Measured on ostree 2022.7 (2 cores): the merge re-reads layer bytes at about 3.6 ns each. */
const REREAD_NS_PER_BYTE = 3.6;
/** The devino scan per loose object, and one `ostree checkout` of a layer. */
const SCAN_NS_PER_OBJECT = 2_200;
const CHECKOUT_NS = 15_000_000;
/** Layers smaller than this never take the checkout route (their re-read costs less than the checkout's process). */
const MIN_LINKED_BYTES = 8 << 20;

/**
 * The layers (by commit) worth handing to the compose as hardlinked checkouts: those after the first tree whose
 * bytes are known and large, when the repo stores plain files (mode `bare`: checkouts are hardlinks of the objects)
 * and re-reading them would cost more than scanning the repo's objects.
 */
export async function layersToLink(repo: OstreeRepo, layers: readonly string[], bytes: ReadonlyMap<string, number> | undefined): Promise<Set<string>> {
  const big = layers.filter((commit) => (bytes?.get(commit) ?? 0) >= MIN_LINKED_BYTES);
  if (big.length === 0 || (await repoMode(repo)) !== 'bare') return new Set();
  const reread = big.reduce((sum, commit) => sum + bytes!.get(commit)! * REREAD_NS_PER_BYTE, 0);
  const linked = (await estimateObjects(repo)) * SCAN_NS_PER_OBJECT + big.length * CHECKOUT_NS;
  return reread > linked ? new Set(big) : new Set();
}

/**
 * Whether one commit of `layers` stacked by `--tree=ref=` (which re-reads every layer after the first) costs more
 * than checking each layer out on its own with `--union` (a process each).
 */
export function stackReadsMore(layers: readonly string[], bytes: ReadonlyMap<string, number> | undefined): boolean {
  const reread = layers.slice(1).reduce((sum, commit) => sum + (bytes?.get(commit) ?? 0) * REREAD_NS_PER_BYTE, 0);
  return reread > layers.length * CHECKOUT_NS;
}

/** The repo's `core.mode` (ostree's default is bare). */
async function repoMode(repo: OstreeRepo): Promise<string> {
  try {
    const config = await readFile(join(repo.path, 'config'), 'utf8');
    return /^\s*mode\s*=\s*(\S+)/m.exec(config)?.[1] ?? 'bare';
  } catch {
    return 'unknown';
  }
}

/** Loose objects in the repo, estimated from four of its 256 object directories (checksums spread evenly). */
async function estimateObjects(repo: OstreeRepo): Promise<number> {
  let seen = 0;
  const sample = ['00', '3f', '7f', 'bf'];
  for (const dir of sample) {
    try {
      seen += (await readdir(join(repo.path, 'objects', dir))).length;
    } catch {
      // A missing object directory holds no objects.
    }
  }
  return (seen * 256) / sample.length;
}
