/**
 * Writes one layer commit from calls on a {@link LayerSink}: in a `bare` repo straight into its objects
 * (object-writer.ts: no tar stream, no `ostree commit` process), in any other repo as a tar stream into
 * `ostree commit --tree=tar=-`. Package imports, the database layer and the maintainer-script layer all go through
 * here. Failures come back as what they are: a full disk names the repo's disk, ostree's own error wins over the
 * broken pipe it causes.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { classifySystemError, LayerError } from '../errors.js';
import { ObjectWriter } from '../object-writer.js';
import type { OstreeRepo } from '../ostree.js';
import { LayerTar, type DirMeta, type LayerSink } from './layer-tar.js';

export interface LayerCommit {
  /** What an implicit ancestor directory looks like (the base's metadata, or the default). */
  dirMeta: (dir: string) => Promise<DirMeta>;
  subject: string;
  /** Point this ref at the commit (after its objects are on disk); without it the commit is an orphan. */
  branch?: string;
  /** The package file the entries come from, named when they cannot form a tree. */
  source?: string;
}

export async function writeLayer(repo: OstreeRepo, commit: LayerCommit, fill: (layer: LayerSink) => Promise<void>): Promise<string> {
  return repo.objects() ? intoObjects(repo, commit, fill) : throughOstree(repo, commit, fill);
}

async function intoObjects(repo: OstreeRepo, commit: LayerCommit, fill: (layer: LayerSink) => Promise<void>): Promise<string> {
  const writer = new ObjectWriter(repo.path, commit.dirMeta, commit.source);
  let checksum: string;
  try {
    await fill(writer);
    checksum = writer.finish({ subject: commit.subject, branch: commit.branch });
  } catch (err) {
    writer.destroy();
    // A write to a descriptor names no path: the disk that filled up is the repo's.
    const e = err as NodeJS.ErrnoException;
    if ((e.code === 'ENOSPC' || e.code === 'EDQUOT') && !e.path) e.path = repo.path;
    throw classifySystemError(err);
  }
  if (commit.branch) {
    // On disk before a ref names it, as ostree's own commit makes sure: a cached layer is reused without reading it.
    await repo.flush();
    await repo.setRef(commit.branch, checksum);
  }
  return checksum;
}

async function throughOstree(repo: OstreeRepo, commit: LayerCommit, fill: (layer: LayerSink) => Promise<void>): Promise<string> {
  const layer = new LayerTar(commit.dirMeta);
  const abort = new AbortController();
  const committing = repo.commit({ trees: [{ tar: layer.stream }], branch: commit.branch, subject: commit.subject, signal: abort.signal });
  // ostree failing (a full disk) stops the walk at once, instead of leaving it waiting for a reader that is gone.
  committing.catch((err: unknown) => layer.destroy(err instanceof Error ? err : new Error(String(err))));
  try {
    await fill(layer);
    layer.finalize();
  } catch (err) {
    // When ostree itself failed (a full disk), the tar side only sees its pipe close ("Premature close", EPIPE):
    // ostree's own error is the one that says what happened, so it wins when it comes promptly.
    if (!(err instanceof LayerError)) {
      const ostreeFailure = await Promise.race([committing.then(() => undefined, (e: unknown) => e), delay(2000)]);
      if (ostreeFailure instanceof LayerError) err = ostreeFailure;
    }
    abort.abort();
    layer.destroy(err as Error);
    throw classifySystemError(err);
  }
  return committing;
}
