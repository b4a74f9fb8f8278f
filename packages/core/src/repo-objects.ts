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

/** A dirtree: the files (name → content checksum) and subdirectories (name → dirtree and dirmeta checksums). */
export interface DirTree {
  files: Map<string, string>;
  dirs: Map<string, DirRef>;
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
    if (!found) this.trees.set(checksum, (found = parseDirTree(readFileSync(this.objectPath(checksum, 'dirtree')))));
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
      const sub = tree.dirs.get(name);
      if (sub) {
        dir = sub;
        continue;
      }
      const file = tree.files.get(name);
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

/** The elements of an array of variable-size elements: their end offsets follow them. */
function arrayElements(buf: Buffer, align: number): Buffer[] {
  if (buf.length === 0) return [];
  const width = offsetSize(buf.length);
  const tableStart = readOffset(buf, buf.length - width, width);
  const count = (buf.length - tableStart) / width;
  if (!Number.isInteger(count) || tableStart > buf.length) throw new Error('malformed GVariant array');
  const out: Buffer[] = [];
  let pos = 0;
  for (let i = 0; i < count; i++) {
    const end = readOffset(buf, tableStart + i * width, width);
    pos = Math.ceil(pos / align) * align;
    if (end < pos || end > tableStart) throw new Error('malformed GVariant array');
    out.push(buf.subarray(pos, end));
    pos = end;
  }
  return out;
}

/** A GVariant string: its bytes up to the terminating NUL. */
function gstring(buf: Buffer): string {
  return buf.toString('utf8', 0, buf.length > 0 && buf[buf.length - 1] === 0 ? buf.length - 1 : buf.length);
}

function checksumHex(buf: Buffer): string {
  if (buf.length !== 32) throw new Error('malformed checksum in an OSTree object');
  return buf.toString('hex');
}

const V = { size: 0, align: 1 };

/** dirtree `(a(say)a(sayay))`. */
export function parseDirTree(buf: Buffer): DirTree {
  const [files, dirs] = tupleMembers(buf, [V, V]);
  const out: DirTree = { files: new Map(), dirs: new Map() };
  for (const element of arrayElements(files!, 1)) {
    const [name, checksum] = tupleMembers(element, [V, V]);
    out.files.set(gstring(name!), checksumHex(checksum!));
  }
  for (const element of arrayElements(dirs!, 1)) {
    const [name, tree, meta] = tupleMembers(element, [V, V, V]);
    out.dirs.set(gstring(name!), { tree: checksumHex(tree!), meta: checksumHex(meta!) });
  }
  return out;
}

/** commit `(a{sv}aya(say)sstayay)`: the last two members are the root dirtree and dirmeta checksums. */
export function parseCommitRoot(buf: Buffer): DirRef {
  const members = tupleMembers(buf, [{ size: 0, align: 8 }, V, V, V, V, { size: 8, align: 8 }, V, V]);
  return { tree: checksumHex(members[6]!), meta: checksumHex(members[7]!) };
}
