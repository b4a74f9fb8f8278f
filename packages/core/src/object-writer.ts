/**
 * Writes a layer commit straight into a `bare` repo's object store, as `ostree commit --tree=tar=-` would, without the
 * tar stream and the process: for a small package the `ostree commit` process (its start-up, its own pass over the
 * tar) was most of the import, and for a large one the tar hand-off kept the import behind `xz -dc | ostree commit`.
 *
 * Hand-written because no Node library writes OSTree objects. The layouts are ostree's (`ostree-core.h`), serialised
 * by GVariant's rules (repo-objects.ts reads the same shapes back):
 * - a file object is the file itself, owner and mode as given and mtime 0; its checksum is SHA-256 over the file
 *   header `(uuuusa(ayay))` (uid, gid, mode, rdev, symlink target, xattrs; integers big-endian) preceded by its size
 *   as a big-endian u32 and 4 bytes of padding, then the content;
 * - a dirmeta `(uuua(ayay))`, a dirtree `(a(say)a(sayay))` with names sorted bytewise, and a commit
 *   `(a{sv}aya(say)sstayay)` are files of their serialised bytes, named by the SHA-256 of those bytes.
 * What this writer produces is byte for byte what ostree writes for the same tree (object-writer.test.ts compares the
 * checksums). Extended attributes are never written (the layers carry none), and each object is written under the
 * repo's tmp and renamed into place, so a reader sees it whole or not at all; the caller flushes the file system
 * before a ref names the commit, as ostree's own transaction does.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, fchmodSync, fchownSync, futimesSync, lchownSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statfsSync, symlinkSync, writeSync, type StatsFs } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { parseIni } from './discover/ini.js';
import { PackageFormatError } from './errors.js';
import type { DirMeta, LayerSink } from './import/layer-tar.js';
import { ancestors, parentPath } from './paths.js';
import type { DirRef, ElementArray } from './repo-objects.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** Files up to this size are gathered in memory and written once their checksum is known (most of a package). */
const IN_MEMORY = 1 << 20;

let temps = 0;

interface Dir {
  meta: DirMeta;
  files: Map<string, string>;
  dirs: Set<string>;
}

/** The same calls as LayerTar (directories, files in chunks, symlinks, hardlinks), written as objects. */
export class ObjectWriter implements LayerSink {
  private readonly dirs = new Map<string, Dir>();
  private readonly checksums = new Map<string, string>();
  private current?: { path: string; meta: DirMeta; size: number; left: number; hash: Hash; chunks: Buffer[]; fd?: number; temp?: string };
  private readonly store: ObjectStore;

  /**
   * `dirMeta` says what an implicit ancestor directory looks like (the base's metadata, or the default); `source` is
   * the package file the layer comes from, named when its entries cannot form a tree.
   */
  constructor(
    readonly repoPath: string,
    private readonly dirMeta: (path: string) => Promise<DirMeta>,
    private readonly source?: string,
  ) {
    this.reserve = freeSpaceReserve(repoPath);
    this.store = new ObjectStore(repoPath);
  }

  /** Bytes ostree keeps free on the repo's disk (`core.min-free-space-percent` / `-size`). */
  private readonly reserve: (st: StatsFs) => number;

  /** Refuses a write of `bytes` that would eat into the reserve, as ostree's own commit does (its message). */
  private checkSpace(bytes: number): void {
    const st = statfsSync(this.repoPath);
    const free = st.bavail * st.bsize;
    if (free - bytes >= this.reserve(st)) return;
    const err: NodeJS.ErrnoException = new Error(`min-free-space would be exceeded writing ${bytes} bytes (${free} free, ${this.reserve(st)} kept free)`);
    err.code = 'ENOSPC';
    err.path = this.repoPath;
    throw err;
  }

  private async ensureParents(path: string): Promise<void> {
    for (const dir of ['/', ...ancestors(path)]) {
      if (this.dirs.has(dir)) continue;
      this.addDir(dir, await this.dirMeta(dir));
    }
  }

  private addDir(path: string, meta: DirMeta): void {
    if (path !== '/') {
      const parent = this.dirs.get(parentPath(path))!;
      if (parent.files.has(baseName(path))) this.refuse(`${path} is both a file and a directory (or lies below a file) in this layer`);
      parent.dirs.add(baseName(path));
    }
    this.dirs.set(path, { meta, files: new Map(), dirs: new Set() });
  }

  private addFile(path: string, checksum: string): void {
    const parent = this.dirs.get(parentPath(path))!;
    if (parent.dirs.has(baseName(path))) this.refuse(`${path} is both a directory and a file in this layer`);
    parent.files.set(baseName(path), checksum);
    this.checksums.set(path, checksum);
  }

  private refuse(detail: string): never {
    if (this.source) throw new PackageFormatError(this.source, `${detail}; a tree cannot hold that`);
    throw new Error(`object writer: ${detail}`);
  }

  /** A directory; the first metadata given for a path is kept (as the tar stream's first entry would be). */
  async directory(path: string, meta: DirMeta): Promise<void> {
    await this.ensureParents(path);
    if (!this.dirs.has(path)) this.addDir(path, meta);
  }

  async file(path: string, meta: DirMeta, size: number, body: Readable | Buffer | string): Promise<void> {
    await this.beginFile(path, meta, size);
    if (typeof body === 'string' || Buffer.isBuffer(body)) this.write(typeof body === 'string' ? Buffer.from(body) : body);
    else for await (const chunk of body) this.write(chunk as Buffer);
    await this.endFile();
  }

  async beginFile(path: string, meta: DirMeta, size: number): Promise<void> {
    await this.ensureParents(path);
    const hash = createHash('sha256').update(fileHeader(meta.uid, meta.gid, S_IFREG | (meta.mode & 0o7777), ''));
    this.current = { path, meta, size, left: size, hash, chunks: [] };
    if (size > IN_MEMORY) {
      this.checkSpace(size);
      const temp = this.tempPath();
      this.current.temp = temp;
      this.current.fd = openSync(temp, 'wx', 0o600);
    }
  }

  /** Content of the file begun last; written at once (never behind: the return is for LayerTar's callers). */
  write(chunk: Buffer): undefined {
    const file = this.current!;
    if (chunk.length > file.left) throw new Error(`object writer: ${chunk.length} bytes written where ${file.left} were left`);
    file.left -= chunk.length;
    file.hash.update(chunk);
    if (file.fd !== undefined) writeAll(file.fd, chunk);
    else file.chunks.push(chunk);
    return undefined;
  }

  async endFile(): Promise<void> {
    const file = this.current!;
    if (file.left !== 0) throw new Error(`object writer: file ended ${file.left} bytes short`);
    this.current = undefined;
    const checksum = file.hash.digest('hex');
    const object = this.objectPath(checksum, 'file');
    if (file.fd !== undefined) {
      this.finishFile(file.fd, file.meta);
      if (existsSync(object)) rmSync(file.temp!, { force: true });
      else renameSync(file.temp!, object);
    } else if (!existsSync(object)) {
      this.checkSpace(file.size);
      const temp = this.tempPath();
      const fd = openSync(temp, 'wx', 0o600);
      try {
        for (const chunk of file.chunks) writeAll(fd, chunk);
      } catch (err) {
        closeSync(fd);
        rmSync(temp, { force: true });
        throw err;
      }
      this.finishFile(fd, file.meta);
      renameSync(temp, object);
    }
    this.addFile(file.path, checksum);
  }

  async symlink(path: string, meta: DirMeta, target: string): Promise<void> {
    await this.ensureParents(path);
    const checksum = createHash('sha256').update(fileHeader(meta.uid, meta.gid, S_IFLNK | 0o777, target)).digest('hex');
    const object = this.objectPath(checksum, 'file');
    if (!existsSync(object)) {
      const temp = this.tempPath();
      symlinkSync(target, temp);
      lchownSync(temp, meta.uid, meta.gid);
      renameSync(temp, object);
    }
    this.addFile(path, checksum);
  }

  /** Another name for a file written before (`target`, a path of this layer): the same object. */
  async hardlink(path: string, _meta: DirMeta, target: string): Promise<void> {
    await this.ensureParents(path);
    const checksum = this.checksums.get(target);
    if (!checksum) throw new Error(`object writer: hardlink ${path} to ${target}, which this layer does not have`);
    this.addFile(path, checksum);
  }

  /**
   * Writes the directory objects and the commit; returns its checksum. Metadata as `ostree commit` writes it:
   * `ostree.ref-binding` (the branch, or none), sorted by key with the given strings.
   */
  finish(options: Omit<CommitFields, 'root'>): string {
    const [tree, meta] = this.writeDir('/');
    return this.store.write(commitBytes({ ...options, root: { tree, meta } }), 'commit');
  }

  /** Stops after a failure: the file being written goes (objects already renamed into place are whole and harmless). */
  destroy(): void {
    const file = this.current;
    this.current = undefined;
    if (file?.fd !== undefined) {
      try {
        closeSync(file.fd);
      } catch {
        // closed already
      }
      rmSync(file.temp!, { force: true });
    }
  }

  private finishFile(fd: number, meta: DirMeta): void {
    try {
      // Owner first: chown clears setuid and setgid bits, which the mode then puts back. mtime 0, as ostree sets it.
      fchownSync(fd, meta.uid, meta.gid);
      fchmodSync(fd, meta.mode & 0o7777);
      futimesSync(fd, 0, 0);
    } finally {
      closeSync(fd);
    }
  }

  /** The dirtree and dirmeta of `path` and everything below, written bottom-up; their checksums. */
  private writeDir(path: string): [string, string] {
    const dir = this.dirs.get(path)!;
    const prefix = path === '/' ? '/' : `${path}/`;
    const dirs = new Map<string, DirRef>();
    for (const name of dir.dirs) {
      const [tree, meta] = this.writeDir(prefix + name);
      dirs.set(name, { tree, meta });
    }
    return [this.store.write(dirtreeBytes(dir.files, dirs), 'dirtree'), this.store.write(dirmetaBytes(dir.meta), 'dirmeta')];
  }

  private objectPath(checksum: string, kind: string): string {
    return this.store.objectPath(checksum, kind);
  }

  private tempPath(): string {
    return this.store.tempPath();
  }
}

/** The fields of a commit object, as `ostree commit` fills them. */
export interface CommitFields {
  root: DirRef;
  subject: string;
  /** The ref the commit is made for: recorded as `ostree.ref-binding` (none for an orphan). */
  branch?: string;
  /** The commit it follows (`ostree commit --branch` takes the ref's current one); none for an orphan. */
  parent?: string;
  metadata?: Record<string, string>;
  timestamp?: number;
}

/**
 * Where the objects of a `bare` repo go: `objects/<2>/<62>.<kind>`, each written under the repo's tmp and renamed
 * into place, so a reader sees an object whole or not at all.
 */
export class ObjectStore {
  private readonly objectDirs = new Set<string>();

  constructor(readonly repoPath: string) {}

  objectPath(checksum: string, kind: string): string {
    const dir = join(this.repoPath, 'objects', checksum.slice(0, 2));
    if (!this.objectDirs.has(dir)) {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      this.objectDirs.add(dir);
    }
    return join(dir, `${checksum.slice(2)}.${kind}`);
  }

  tempPath(): string {
    return join(this.repoPath, 'tmp', `ostree-layer-object-${process.pid}-${++temps}`);
  }

  /** A metadata object (dirtree, dirmeta, commit) of these serialised bytes; its checksum. */
  write(bytes: Buffer, kind: 'dirtree' | 'dirmeta' | 'commit'): string {
    const checksum = createHash('sha256').update(bytes).digest('hex');
    const object = this.objectPath(checksum, kind);
    if (!existsSync(object)) {
      const temp = this.tempPath();
      const fd = openSync(temp, 'wx', 0o644);
      try {
        writeAll(fd, bytes);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, object);
    }
    return checksum;
  }
}

/** A dirtree `(a(say)a(sayay))`: files and subdirectories, each sorted by name bytewise. */
export function dirtreeBytes(files: ReadonlyMap<string, string>, dirs: ReadonlyMap<string, DirRef>): Buffer {
  const fileArray = new ElementArrayWriter();
  for (const name of sortedNames(files.keys())) fileArray.add(Buffer.from(name), [files.get(name)!]);
  const dirArray = new ElementArrayWriter();
  for (const name of sortedNames(dirs.keys())) dirArray.add(Buffer.from(name), [dirs.get(name)!.tree, dirs.get(name)!.meta]);
  return dirtreeOfArrays(fileArray.bytes(), dirArray.bytes());
}

/** A dirtree of its two serialised arrays (files, then subdirectories). */
export function dirtreeOfArrays(files: Buffer, dirs: Buffer): Buffer {
  return tuple([member(files), member(dirs)]);
}

/**
 * Builds a GVariant array of `(s ay…)` tuples (a name and 32-byte checksums, as dirtrees hold) from new elements and
 * runs of another array's elements copied as they are: an element's framing offsets are relative to its own start
 * and sized by its own length, so its bytes mean the same anywhere. Only the array's offset table is new.
 */
export class ElementArrayWriter {
  private readonly parts: Buffer[] = [];
  private readonly ends: number[] = [];
  private size = 0;

  /** A new element: the name, its NUL, the checksums, then the end offsets of every member but the last, in reverse. */
  add(name: Buffer, checksums: string[]): void {
    const k = checksums.length;
    const body = name.length + 1 + 32 * k;
    const width = offsetWidth(body, k);
    const out = Buffer.alloc(body + width * k);
    name.copy(out, 0);
    let at = name.length + 1;
    for (const sum of checksums) at += out.write(sum, at, 32, 'hex');
    for (let m = k - 1; m >= 0; m--) at = writeOffset(out, at, name.length + 1 + 32 * m, width);
    this.push(out, [out.length]);
  }

  /** Elements [from, to) of `array`, copied in one piece. */
  copy(array: ElementArray, from: number, to: number): void {
    if (from >= to) return;
    const base = array.start(from);
    const ends: number[] = [];
    for (let i = from; i < to; i++) ends.push(array.end(i) - base);
    this.push(array.bytes.subarray(base, array.end(to - 1)), ends);
  }

  private push(bytes: Buffer, ends: number[]): void {
    for (const end of ends) this.ends.push(this.size + end);
    this.parts.push(bytes);
    this.size += bytes.length;
  }

  bytes(): Buffer {
    if (this.ends.length === 0) return Buffer.alloc(0);
    const width = offsetWidth(this.size, this.ends.length);
    const table = Buffer.alloc(width * this.ends.length);
    let at = 0;
    for (const end of this.ends) at = writeOffset(table, at, end, width);
    return Buffer.concat([...this.parts, table]);
  }
}

function writeOffset(out: Buffer, at: number, value: number, width: number): number {
  if (width === 1) out.writeUInt8(value, at);
  else if (width === 2) out.writeUInt16LE(value, at);
  else if (width === 4) out.writeUInt32LE(value, at);
  else out.writeBigUInt64LE(BigInt(value), at);
  return at + width;
}

/** A dirmeta `(uuua(ayay))` without extended attributes. */
export function dirmetaBytes(m: DirMeta): Buffer {
  const meta = Buffer.alloc(12);
  meta.writeUInt32BE(m.uid, 0);
  meta.writeUInt32BE(m.gid, 4);
  meta.writeUInt32BE(S_IFDIR | (m.mode & 0o7777), 8);
  return meta;
}

/**
 * A commit `(a{sv}aya(say)sstayay)`. Metadata as `ostree commit` writes it: `ostree.ref-binding` (the branch, or
 * none), sorted by key with the given strings.
 */
export function commitBytes(options: CommitFields): Buffer {
  const entries: Array<[string, Buffer]> = Object.entries(options.metadata ?? {}).map(([k, v]) => [k, variant(gstring(v), 's')]);
  entries.push(['ostree.ref-binding', variant(stringArray(options.branch ? [options.branch] : []), 'as')]);
  entries.sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const metadata = array(entries.map(([k, v]) => tuple([member(gstring(k)), member(v, 8)])), 8);
  const timestamp = Buffer.alloc(8);
  timestamp.writeBigUInt64BE(BigInt(options.timestamp ?? Math.floor(Date.now() / 1000)));
  return tuple([
    member(metadata, 8),
    member(options.parent ? Buffer.from(options.parent, 'hex') : Buffer.alloc(0)),
    member(Buffer.alloc(0)),
    member(gstring(options.subject)),
    member(gstring('')),
    member(timestamp, 8, true),
    member(Buffer.from(options.root.tree, 'hex')),
    member(Buffer.from(options.root.meta, 'hex')),
  ]);
}

/**
 * What the repo's config keeps free: `core.min-free-space-size` (a number with MB, GB or TB) when set, else
 * `core.min-free-space-percent` of the disk (ostree's default 3).
 */
function freeSpaceReserve(repoPath: string): (st: StatsFs) => number {
  let core: Record<string, string> = {};
  try {
    core = parseIni(readFileSync(join(repoPath, 'config'), 'utf8')).core ?? {};
  } catch {
    // No config: ostree's defaults.
  }
  const size = /^\s*(\d+)\s*(MB|GB|TB)\s*$/i.exec(core['min-free-space-size'] ?? '');
  if (size) {
    const bytes = Number(size[1]) * 1024 ** { MB: 2, GB: 3, TB: 4 }[size[2]!.toUpperCase() as 'MB' | 'GB' | 'TB'];
    return () => bytes;
  }
  const percent = Number(core['min-free-space-percent'] ?? 3);
  return (st) => (st.blocks * st.bsize * (Number.isFinite(percent) ? percent : 3)) / 100;
}

function writeAll(fd: number, bytes: Buffer): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * Names in ostree's order: strcmp of their UTF-8 bytes. Below U+D800 JavaScript's UTF-16 order is the same order, so
 * only names with characters from there up are compared as bytes (encoded once, not once per comparison).
 */
function sortedNames(names: Iterable<string>): string[] {
  const list = [...names];
  if (!list.some((name) => BEYOND_UTF16_ORDER.test(name))) return list.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const keyed = list.map((name) => ({ name, bytes: Buffer.from(name) }));
  keyed.sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  return keyed.map((k) => k.name);
}

const BEYOND_UTF16_ORDER = /[\ud800-\uffff]/;

/** The file header ostree checksums before a file's content: its serialised size, padding, then the header. */
function fileHeader(uid: number, gid: number, mode: number, symlinkTarget: string): Buffer {
  const ids = Buffer.alloc(16);
  ids.writeUInt32BE(uid, 0);
  ids.writeUInt32BE(gid, 4);
  ids.writeUInt32BE(mode, 8);
  // rdev 0, then the target and an empty xattr array.
  const header = tuple([member(ids, 4, true), member(gstring(symlinkTarget)), member(Buffer.alloc(0))]);
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32BE(header.length, 0);
  return Buffer.concat([prefix, header]);
}

// GVariant serialisation, only the shapes above.

interface Member {
  bytes: Buffer;
  align: number;
  fixed: boolean;
}

function member(bytes: Buffer, align = 1, fixed = false): Member {
  return { bytes, align, fixed };
}

/** Framing offsets are as wide as the container's whole size needs (1, 2, 4 or 8 bytes). */
function offsetWidth(body: number, offsets: number): number {
  if (offsets === 0) return 0;
  for (const [width, max] of [[1, 0xff], [2, 0xffff], [4, 0xffffffff]] as const) if (body + offsets * width <= max) return width;
  return 8;
}

function offsetBytes(values: number[], width: number): Buffer {
  const out = Buffer.alloc(values.length * width);
  values.forEach((v, i) => {
    if (width === 1) out.writeUInt8(v, i);
    else if (width === 2) out.writeUInt16LE(v, i * 2);
    else if (width === 4) out.writeUInt32LE(v, i * 4);
    else out.writeBigUInt64LE(BigInt(v), i * 8);
  });
  return out;
}

/**
 * A tuple that is not of fixed size (each of these ends in a variable member): members aligned in order, the end of
 * every variable member but the last recorded at the end, the first member's last.
 */
function tuple(members: Member[]): Buffer {
  const parts: Buffer[] = [];
  const ends: number[] = [];
  let size = 0;
  members.forEach((m, i) => {
    const pad = (m.align - (size % m.align)) % m.align;
    if (pad) parts.push(Buffer.alloc(pad));
    parts.push(m.bytes);
    size += pad + m.bytes.length;
    if (!m.fixed && i < members.length - 1) ends.push(size);
  });
  const width = offsetWidth(size, ends.length);
  parts.push(offsetBytes(ends.reverse(), width));
  return Buffer.concat(parts);
}

/** An array of variable-size elements: each aligned, their end offsets after them in order. */
function array(elements: Buffer[], align: number): Buffer {
  if (elements.length === 0) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  const ends: number[] = [];
  let size = 0;
  for (const e of elements) {
    const pad = (align - (size % align)) % align;
    if (pad) parts.push(Buffer.alloc(pad));
    parts.push(e);
    size += pad + e.length;
    ends.push(size);
  }
  parts.push(offsetBytes(ends, offsetWidth(size, ends.length)));
  return Buffer.concat(parts);
}

function gstring(text: string): Buffer {
  return Buffer.concat([Buffer.from(text, 'utf8'), Buffer.alloc(1)]);
}

function stringArray(items: string[]): Buffer {
  return array(items.map(gstring), 1);
}

/** A variant: the value, a NUL, its type string. */
function variant(value: Buffer, type: string): Buffer {
  return Buffer.concat([value, Buffer.alloc(1), Buffer.from(type, 'latin1')]);
}
