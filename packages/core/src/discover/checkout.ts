/**
 * For a server-side compose there is no deployment on disk: the base commit is checked out with hardlinks into the
 * repo's own tmp directory (cheap on the same file system, removed afterwards).
 */
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OstreeRepo, toolError } from '../ostree.js';
import { DirectoryTree } from '../tree.js';

export async function checkoutCommit(repo: OstreeRepo, commit: string): Promise<{ tree: DirectoryTree; dispose: () => Promise<void> }> {
  const parent = await mkdtemp(join(repo.path, 'tmp', 'ostree-layer-checkout-'));
  const dir = join(parent, 'tree');
  try {
    await execa('ostree', [`--repo=${repo.path}`, 'checkout', '-H', commit, dir]);
  } catch (err) {
    await rm(parent, { recursive: true, force: true });
    throw toolError('ostree checkout', err);
  }
  return { tree: new DirectoryTree(dir), dispose: () => rm(parent, { recursive: true, force: true }) };
}
