/**
 * Reads commits of a `bare` repo straight from its object store, without a process per question: an install asks
 * the base about a few dozen directories and files (the path policy, the package database, the layer records), and
 * each `ostree ls`/`ostree cat` costs 30–90 ms of process start-up, most of a small transaction's time. Read-only:
 * objects are opened for reading and never through a path that could write them.
 *
 * Hand-written because no Node library reads OSTree objects: it decodes only the three metadata shapes ostree's
 * `ostree-core.h` declares (commit, dirtree, dirmeta), with GVariant's serialisation rules (framing offsets at the end
 * of containers, sized by the container). In a `bare` repo a file object is the file itself (content, mode and owner),
 * a symlink object a real symlink. Other modes (`bare-user` keeps ownership in an xattr, `archive` compresses) and
 * repos with a parent fall back to the `ostree` binary: {@link ObjectReader.open} answers null for them.
 */
import { chmodSync, chownSync, copyFileSync, lchownSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, type Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseIni } from './discover/ini.js';
import type { TreeStat } from './tree.js';

/**
 * A dirtree `(a(say)a(sayay))`, read where it lies in its object's bytes: a name is found by binary search over the
 * sorted entries (ostree sorts them bytewise), and the whole maps are decoded only for a caller that walks them. A
 * package database directory holds thousands of entries, and a lookup or an added file should not decode them all.
 */
export class DirTree {
  readonly fileEntries: ElementArray;
  readonly dirEntries: ElementArray;
  private fileMap?: Map<string, string>;
  private dirMap?: Map<string, DirRef>;

  constructor(buf: Buffer) {
    const [files, dirs] = tupleMembers(buf, [V, V]);
    this.fileEntries = new ElementArray(files!);
    this.dirEntries = new ElementArray(dirs!);
  }

  /** Name → content checksum, every file (decoded on first use). */
  get files(): Map<string, string> {
    if (!this.fileMap) {
      const map = (this.fileMap = new Map<string, string>());
      for (let i = 0; i < this.fileEntries.length; i++) map.set(this.fileEntries.name(i), this.fileEntries.checksum(i, 0));
    }
    return this.fileMap;
  }

  /** Name → dirtree and dirmeta checksums, every subdirectory (decoded on first use). */
  get dirs(): Map<string, DirRef> {
    if (!this.dirMap) {
      const map = (this.dirMap = new Map<string, DirRef>());
      for (let i = 0; i < this.dirEntries.length; i++) map.set(this.dirEntries.name(i), { tree: this.dirEntries.checksum(i, 0), meta: this.dirEntries.checksum(i, 1) });
    }
    return this.dirMap;
  }

  /** The content checksum of file `name`, or undefined. */
  file(name: string): string | undefined {
    if (this.fileMap) return this.fileMap.get(name);
    const i = this.fileEntries.find(Buffer.from(name));
    return i < 0 ? undefined : this.fileEntries.checksum(i, 0);
  }

  /** Subdirectory `name`, or undefined. */
  dir(name: string): DirRef | undefined {
    if (this.dirMap) return this.dirMap.get(name);
    const i = this.dirEntries.find(Buffer.from(name));
    return i < 0 ? undefined : { tree: this.dirEntries.checksum(i, 0), meta: this.dirEntries.checksum(i, 1) };
  }
}

/**
 * A GVariant array of `(s ay…)` tuples (a name and 32-byte checksums), elements read in place: element i ends where
 * the offset table after the elements says; a name runs to its NUL, the checksums follow it.
 */
export class ElementArray {
  readonly length: number;
  private readonly width: number;
  private readonly table: number;

  constructor(readonly bytes: Buffer) {
    if (bytes.length === 0) {
      this.length = this.width = this.table = 0;
      return;
    }
    this.width = offsetSize(bytes.length);
    this.table = readOffset(bytes, bytes.length - this.width, this.width);
    const count = (bytes.length - this.table) / this.width;
    if (!Number.isInteger(count) || this.table > bytes.length) throw new Error('malformed GVariant array');
    this.length = count;
  }

  /** Where element i starts and ends in {@link bytes}. */
  start(i: number): number {
    return i === 0 ? 0 : this.end(i - 1);
  }

  end(i: number): number {
    const end = readOffset(this.bytes, this.table + i * this.width, this.width);
    if (end > this.table) throw new Error('malformed GVariant array');
    return end;
  }

  private nameEnd(i: number): number {
    const nul = this.bytes.indexOf(0, this.start(i));
    if (nul < 0 || nul >= this.end(i)) throw new Error('malformed dirtree entry');
    return nul;
  }

  name(i: number): string {
    return this.bytes.toString('utf8', this.start(i), this.nameEnd(i));
  }

  /** Checksum k of element i (hex). */
  checksum(i: number, k: number): string {
    const at = this.nameEnd(i) + 1 + 32 * k;
    if (at + 32 > this.end(i)) throw new Error('malformed checksum in an OSTree object');
    return this.bytes.toString('hex', at, at + 32);
  }

  /** The first element whose name is not below `name` (bytewise), or {@link length}. */
  lowerBound(name: Buffer): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      // The element's name against `name`: below it, the answer lies after mid.
      if (this.bytes.compare(name, 0, name.length, this.start(mid), this.nameEnd(mid)) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether element i is named `name`. */
  named(i: number, name: Buffer): boolean {
    return i < this.length && this.bytes.compare(name, 0, name.length, this.start(i), this.nameEnd(i)) === 0;
  }

  /** The element named `name`, or -1. */
  find(name: Buffer): number {
    const i = this.lowerBound(name);
    return this.named(i, name) ? i : -1;
  }
}

export interface DirRef {
  tree: string;
  meta: string;
}

/** What a path of a commit is: a directory (its checksums) or a file object (regular or symlink). */
export type ObjectNode = { kind: 'directory'; dir: DirRef } | { kind: 'file'; checksum: string };

export class ObjectReader {
  private readonly trees = new Map<string, DirTree>();
  private readonly metas = new Map<string, TreeStat>();
  private readonly roots = new Map<string, DirRef>();

  private constructor(readonly repoPath: string) {}

  /** A reader for `repoPath`, or null when its objects are not laid out as `bare` (or live partly in a parent repo). */
  static open(repoPath: string): ObjectReader | null {
    let config;
    try {
      config = parseIni(readFileSync(join(repoPath, 'config'), 'utf8'));
    } catch {
      return null;
    }
    if (config.core?.mode !== 'bare' || config.core.parent) return null;
    return new ObjectReader(repoPath);
  }

  objectPath(checksum: string, kind: 'commit' | 'dirtree' | 'dirmeta' | 'file'): string {
    return join(this.repoPath, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.${kind}`);
  }

  /** The root directory of `commit`; null when the repo holds no such commit object (yet: a pull may bring it). */
  root(commit: string): DirRef | null {
    let found = this.roots.get(commit);
    if (!found) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(this.objectPath(commit, 'commit'));
      } catch {
        return null;
      }
      this.roots.set(commit, (found = parseCommitRoot(bytes)));
    }
    return found;
  }

  dirtree(checksum: string): DirTree {
    let found = this.trees.get(checksum);
    if (!found) this.trees.set(checksum, (found = new DirTree(readFileSync(this.objectPath(checksum, 'dirtree')))));
    return found;
  }

  /** A directory's owner and mode, as `lstat` reports them for a checkout. */
  dirmeta(checksum: string): TreeStat {
    let found = this.metas.get(checksum);
    if (!found) {
      const bytes = readFileSync(this.objectPath(checksum, 'dirmeta'));
      // (uuua(ayay)): uid, gid and mode, big-endian, then the xattrs.
      if (bytes.length < 12) throw new Error(`dirmeta ${checksum} is truncated`);
      found = { type: 'directory', mode: bytes.readUInt32BE(8) & 0o7777, uid: bytes.readUInt32BE(0), gid: bytes.readUInt32BE(4), size: 0 };
      this.metas.set(checksum, found);
    }
    return found;
  }

  /** The node at `path` of `commit` (no symlink followed, as `ostree ls` resolves paths); null when there is none. */
  resolve(commit: string, path: string): ObjectNode | null {
    const root = this.root(commit);
    if (!root) return null;
    let dir = root;
    const names = path.split('/').filter((n) => n !== '' && n !== '.');
    for (let i = 0; i < names.length; i++) {
      const tree = this.dirtree(dir.tree);
      const name = names[i]!;
      const sub = tree.dir(name);
      if (sub) {
        dir = sub;
        continue;
      }
      const file = tree.file(name);
      return file !== undefined && i === names.length - 1 ? { kind: 'file', checksum: file } : null;
    }
    return { kind: 'directory', dir };
  }

  /** The object file holding the regular file `path` of `commit`; null when that is no regular file (or no commit). */
  async regularFile(commit: string, path: string): Promise<string | null> {
    const node = this.resolve(commit, path);
    if (node?.kind !== 'file') return null;
    const file = this.objectPath(node.checksum, 'file');
    return (await lstat(file)).isFile() ? file : null;
  }

  /** Stat of a node, in the numbers `ostree ls` prints (symlinks and directories have size 0). */
  async stat(node: ObjectNode): Promise<{ stat: TreeStat; target?: string }> {
    if (node.kind === 'directory') return { stat: this.dirmeta(node.dir.meta) };
    const path = this.objectPath(node.checksum, 'file');
    const st = await lstat(path);
    if (st.isSymbolicLink()) return { stat: fileStat(st, 'symlink'), target: await readlink(path) };
    return { stat: fileStat(st, 'file') };
  }

  /**
   * Checks `commits` out into `dest` as one tree, later commits winning as in a stacked `ostree commit` (a directory
   * takes the metadata of the last commit that has it), the way `ostree checkout` writes a bare repo's files:
   * directories made with their mode and owner, every file and symlink a hardlink of its object. `dest` may exist
   * (union: what is in the way is replaced). Answers false, having written nothing, where ostree's own rules are
   * needed: a directory carrying extended attributes (Node cannot set them) or a path one commit has as a directory
   * and another as a file (ostree refuses some of those).
   */
  checkout(commits: readonly string[], dest: string): boolean {
    const entries = new Map<string, { dir?: string; file?: string }>();
    let kindChanged = false;
    const walk = (path: string, dir: DirRef): void => {
      if (entries.get(path)?.file !== undefined) kindChanged = true;
      entries.set(path, { dir: dir.meta });
      const tree = this.dirtree(dir.tree);
      for (const [name, checksum] of tree.files) {
        const child = `${path}/${name}`;
        if (entries.get(child)?.dir !== undefined) kindChanged = true;
        entries.set(child, { file: checksum });
      }
      for (const [name, sub] of tree.dirs) walk(`${path}/${name}`, sub);
    };
    for (const commit of commits) {
      const root = this.root(commit);
      if (!root) throw new Error(`no commit ${commit} in ${this.repoPath}`);
      walk('', root);
      if (kindChanged) return false;
    }
    // A dirmeta without xattrs is exactly 12 bytes (an empty GVariant array takes none).
    for (const { dir } of entries.values()) if (dir !== undefined && readFileSync(this.objectPath(dir, 'dirmeta')).length > 12) return false;
    // Each path is written once, parents first (a path enters the map after its directory); into an empty `dest`
    // nothing is in the way.
    const clean = (lstatSafe(dest)?.isDirectory() ?? false) ? readdirSync(dest).length === 0 : !lstatSafe(dest);
    for (const [path, entry] of entries) {
      const target = dest + path;
      const existing = clean && path !== '' ? undefined : lstatSafe(target);
      if (entry.dir !== undefined) {
        const meta = this.dirmeta(entry.dir);
        if (existing && !existing.isDirectory()) rmSync(target, { force: true });
        if (!existing?.isDirectory()) mkdirSync(target);
        // Owner first: chown clears setuid and setgid bits, which the mode then puts back.
        chownSync(target, meta.uid, meta.gid);
        chmodSync(target, meta.mode);
        continue;
      }
      const object = this.objectPath(entry.file!, 'file');
      if (existing) rmSync(target, { recursive: true, force: true });
      try {
        linkSync(object, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EMLINK') throw err;
        // The object has as many links as the file system allows (ext4: 65000): a copy, as ostree makes then.
        const st = lstatSync(object);
        if (st.isSymbolicLink()) {
          symlinkSync(readlinkSync(object), target);
          lchownSync(target, st.uid, st.gid);
        } else {
          copyFileSync(object, target);
          chownSync(target, st.uid, st.gid);
          chmodSync(target, st.mode & 0o7777);
        }
      }
    }
    return true;
  }
}

function lstatSafe(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

function fileStat(st: Stats, type: 'file' | 'symlink'): TreeStat {
  return { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: type === 'symlink' ? 0 : st.size };
}

// GVariant: the serialised size of a container decides how wide its framing offsets are.
function offsetSize(size: number): number {
  return size <= 0xff ? 1 : size <= 0xffff ? 2 : 4;
}

function readOffset(buf: Buffer, at: number, width: number): number {
  return width === 1 ? buf[at]! : width === 2 ? buf.readUInt16LE(at) : buf.readUInt32LE(at);
}

/**
 * The members of a tuple `buf`: `shape` gives each member's fixed size and alignment (size 0: variable). Variable
 * members other than the last end where the framing offsets at the tuple's end say, the first of them last.
 */
function tupleMembers(buf: Buffer, shape: Array<{ size: number; align: number }>): Buffer[] {
  const width = offsetSize(buf.length);
  const framed = shape.slice(0, -1).filter((m) => m.size === 0).length;
  const bodyEnd = buf.length - framed * width;
  const out: Buffer[] = [];
  let pos = 0;
  let seen = 0;
  shape.forEach((member, i) => {
    pos = Math.ceil(pos / member.align) * member.align;
    let end: number;
    if (member.size > 0) end = pos + member.size;
    else if (i === shape.length - 1) end = bodyEnd;
    else end = readOffset(buf, buf.length - ++seen * width, width);
    if (end < pos || end > bodyEnd) throw new Error('malformed GVariant tuple');
    out.push(buf.subarray(pos, end));
    pos = end;
  });
  return out;
}

function checksumHex(buf: Buffer): string {
  if (buf.length !== 32) throw new Error('malformed checksum in an OSTree object');
  return buf.toString('hex');
}

const V = { size: 0, align: 1 };

/** commit `(a{sv}aya(say)sstayay)`: the last two members are the root dirtree and dirmeta checksums. */
export function parseCommitRoot(buf: Buffer): DirRef {
  const members = tupleMembers(buf, [{ size: 0, align: 8 }, V, V, V, V, { size: 8, align: 8 }, V, V]);
  return { tree: checksumHex(members[6]!), meta: checksumHex(members[7]!) };
}
