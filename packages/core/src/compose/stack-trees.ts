/**
 * The compose of a `bare` repo, done on its objects in-process: commits stacked as `ostree commit --tree=ref=A
 * --tree=ref=B …` stacks them, later ones winning (a file replaces the one before it, a directory takes the metadata of
 * the last commit that has it), without the `ostree` process, its re-read of every layer after the first (see
 * layer-routes.ts) or a checkout. Only directories that two commits both hold are read and written again; a
 * subdirectory one commit alone has keeps its checksums, and of a directory several hold, the largest one's entries
 * are copied as bytes around the names the others add. So the cost follows what the layers touch: adding four files to
 * a database directory of 4,000 is four lookups and one copy, not a decode and re-encode of every entry.
 *
 * A name that is a file in one commit and a directory in another is left to `ostree` (null), which refuses it with its
 * own message, as do repos this reader cannot read.
 */
import { commitBytes, dirtreeOfArrays, ElementArrayWriter, type CommitFields, type ObjectStore } from '../object-writer.js';
import type { DirRef, DirTree, ElementArray, ObjectReader } from '../repo-objects.js';

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
  const trees = refs.map((r) => reader.dirtree(r.tree));
  // The largest directory (a base's, usually) is kept as bytes: only the names the others hold are looked up in it.
  const size = (t: DirTree) => t.fileEntries.length + t.dirEntries.length;
  const bulk = trees.reduce((best, t, i) => (size(t) > size(trees[best]!) ? i : best), 0);
  const touched = new Map<string, Array<{ at: number; file?: string; dir?: DirRef }>>();
  const note = (name: string, entry: { at: number; file?: string; dir?: DirRef }) => {
    const list = touched.get(name);
    if (list) list.push(entry);
    else touched.set(name, [entry]);
  };
  trees.forEach((tree, at) => {
    if (at === bulk) return;
    for (const [name, file] of tree.files) note(name, { at, file });
    for (const [name, dir] of tree.dirs) note(name, { at, dir });
  });
  const files: Replacement[] = [];
  const dirs: Replacement[] = [];
  for (const [name, entries] of touched) {
    const file = trees[bulk]!.file(name);
    const dir = file === undefined ? trees[bulk]!.dir(name) : undefined;
    if (file !== undefined || dir !== undefined) entries.push({ at: bulk, file, dir });
    // A name that is a file in one tree and a directory in another: ostree's rules (it refuses).
    if (entries.some((e) => e.file !== undefined) && entries.some((e) => e.dir !== undefined)) return null;
    entries.sort((a, b) => a.at - b.at);
    if (entries[0]!.file !== undefined) {
      files.push({ name: Buffer.from(name), checksums: [entries.at(-1)!.file!] });
      continue;
    }
    const sub = entries.length === 1 ? entries[0]!.dir! : stack(reader, store, entries.map((e) => e.dir!));
    if (!sub) return null;
    dirs.push({ name: Buffer.from(name), checksums: [sub.tree, sub.meta] });
  }
  const tree = dirtreeOfArrays(spliced(trees[bulk]!.fileEntries, files), spliced(trees[bulk]!.dirEntries, dirs));
  return { tree: store.write(tree, 'dirtree'), meta: last.meta };
}

interface Replacement {
  name: Buffer;
  checksums: string[];
}

/** `array` with each replacement put in its sorted place (taking the place of an element of the same name). */
function spliced(array: ElementArray, replacements: Replacement[]): Buffer {
  replacements.sort((a, b) => Buffer.compare(a.name, b.name));
  const out = new ElementArrayWriter();
  let next = 0;
  for (const r of replacements) {
    const at = array.lowerBound(r.name);
    out.copy(array, next, at);
    out.add(r.name, r.checksums);
    next = array.named(at, r.name) ? at + 1 : at;
  }
  out.copy(array, next, array.length);
  return out.bytes();
}

/** Writes the commit object for `fields`; its checksum. */
export function writeCommit(store: ObjectStore, fields: CommitFields): string {
  return store.write(commitBytes(fields), 'commit');
}
