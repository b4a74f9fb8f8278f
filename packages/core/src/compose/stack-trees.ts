/**
 * The compose of a `bare` repo, done on its objects in-process: commits stacked as `ostree commit --tree=ref=A
 * --tree=ref=B …` stacks them, later ones winning (a file replaces the one before it, a directory takes the metadata of
 * the last commit that has it), without the `ostree` process, its re-read of every layer after the first (see
 * layer-routes.ts) or a checkout. Only directories that two commits both hold are read and written again; a
 * subdirectory one commit alone has keeps its checksums. So the cost follows what the layers touch: a base whose
 * database directory lists 4,000 files costs one dirtree of that size, not ostree's start-up and merge of it.
 *
 * A name that is a file in one commit and a directory in another is left to `ostree` (null), which refuses it with its
 * own message, as do repos this reader cannot read.
 */
import type { CommitFields, ObjectStore } from '../object-writer.js';
import { commitBytes, dirtreeBytes } from '../object-writer.js';
import type { DirRef, ObjectReader } from '../repo-objects.js';

/** The root of `commits` stacked in order, its new directory objects written to `store`; null where ostree must decide. */
export function stackTrees(reader: ObjectReader, store: ObjectStore, commits: readonly string[]): DirRef | null {
  const roots: DirRef[] = [];
  for (const commit of commits) {
    const root = reader.root(commit);
    if (!root) return null;
    roots.push(root);
  }
  return roots.length === 0 ? null : stack(reader, store, roots);
}

function stack(reader: ObjectReader, store: ObjectStore, refs: DirRef[]): DirRef | null {
  const last = refs[refs.length - 1]!;
  if (refs.every((r) => r.tree === last.tree)) return last;
  const files = new Map<string, string>();
  const dirs = new Map<string, DirRef[]>();
  for (const ref of refs) {
    const tree = reader.dirtree(ref.tree);
    for (const [name, checksum] of tree.files) {
      if (dirs.has(name)) return null;
      files.set(name, checksum);
    }
    for (const [name, sub] of tree.dirs) {
      if (files.has(name)) return null;
      const under = dirs.get(name);
      if (under) under.push(sub);
      else dirs.set(name, [sub]);
    }
  }
  const stacked = new Map<string, DirRef>();
  for (const [name, subs] of dirs) {
    const sub = subs.length === 1 ? subs[0]! : stack(reader, store, subs);
    if (!sub) return null;
    stacked.set(name, sub);
  }
  return { tree: store.write(dirtreeBytes(files, stacked), 'dirtree'), meta: last.meta };
}

/** Writes the commit object for `fields`; its checksum. */
export function writeCommit(store: ObjectStore, fields: CommitFields): string {
  return store.write(commitBytes(fields), 'commit');
}
