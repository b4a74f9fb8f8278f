/**
 * The compact form of one verified Packages index, kept beside it as `<cache>/dpkg/parsed/<sha256>.bin` so that a warm
 * run never decompresses or scans the text again, and never holds 60k packages in memory either: only the row offsets
 * and the hash slots are read up front (about 1.5 MB for Debian's main, kept in Buffers, not JS objects); a name's
 * entry and a row are read from the file when asked for and a row becomes strings only then, so a request that
 * touches 4k packages reads 4k rows.
 *
 * Layout (little-endian u32s): a header (magic "OLPI", format, row count, byte lengths of the field list, the name
 * table and the rows section, the number of hash slots), the field list (INDEX_FIELDS joined by ","), the row offsets
 * (count + 1, relative to the rows section), the hash slots (two u32s each: 0 = empty, else 1 + an entry's offset in
 * the name table, then the FNV-1a hash of its name; linear probing), the name table (per name: u16 length, the name,
 * u32 row count, the rows naming or providing it in index order) and the rows (per row: its field values
 * \0-separated). A file whose header, lengths or field list do not match what this code writes is treated as absent
 * and rebuilt from the verified index text.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { F, INDEX_FIELDS, type IndexRow } from './packages-index.js';

/** Bumped whenever the layout or what a row holds changes: an older file is then rebuilt. */
export const INDEX_CACHE_FORMAT = 4;
const MAGIC = 0x49504c4f; // "OLPI" read as a little-endian u32
const HEADER = 7 * 4;
const NONE: readonly number[] = Object.freeze([]);

/** The descriptors of indexes nobody holds any more are closed when they are collected. */
const descriptors = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
});

function fnv1a(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h;
}

/** One index's packages, read a row at a time from the cache file (or from the bytes just built); rows keep the index's order. */
export class CompactIndex {
  private constructor(
    /** Reads `length` bytes at `position` of the cache file (a view of the bytes when they are in memory). */
    private readonly read: (position: number, length: number) => Buffer,
    private readonly offsets: Uint32Array,
    private readonly slots: Buffer,
    private readonly namesStart: number,
    private readonly rowsStart: number,
    readonly size: number,
  ) {}

  /** Field values of row `i` in {@link INDEX_FIELDS} order ('' when absent). */
  row(i: number): IndexRow {
    const bytes = this.read(this.rowsStart + this.offsets[i], this.offsets[i + 1] - this.offsets[i]);
    // Each field decoded on its own: a value split out of one row string would keep the whole row alive.
    const out: IndexRow = [];
    let from = 0;
    for (let at = bytes.indexOf(0); at >= 0; from = at + 1, at = bytes.indexOf(0, from)) out.push(bytes.toString('utf8', from, at));
    out.push(bytes.toString('utf8', from));
    return out;
  }

  /** Rows whose Package or one of whose Provides is `name`, in index order. */
  rowsFor(name: string): readonly number[] {
    const key = Buffer.from(name, 'utf8');
    const count = this.slots.length / 8;
    if (count === 0) return NONE;
    const hash = fnv1a(key);
    for (let slot = hash % count; ; slot = (slot + 1) % count) {
      const entry = this.slots.readUInt32LE(8 * slot);
      if (entry === 0) return NONE;
      if (this.slots.readUInt32LE(8 * slot + 4) !== hash) continue;
      // Most entries fit in one read: length, name, row count and a few rows.
      const at = this.namesStart + entry - 1;
      let bytes = this.read(at, 6 + key.length + 4 * 8);
      if (bytes.readUInt16LE(0) !== key.length || bytes.compare(key, 0, key.length, 2, 2 + key.length) !== 0) continue;
      const n = bytes.readUInt32LE(2 + key.length);
      const length = 6 + key.length + 4 * n;
      if (bytes.length < length) bytes = this.read(at, length);
      const out = new Array<number>(n);
      for (let k = 0; k < n; k++) out[k] = bytes.readUInt32LE(6 + key.length + 4 * k);
      return out;
    }
  }

  /** Opens a cache file; undefined when it is not a complete file of this format and field list. */
  static open(path: string): CompactIndex | undefined {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const read = (position: number, length: number) => {
        const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - position)));
        if (readSync(fd, buf, 0, buf.length, position) !== buf.length) throw new Error(`the index cache ${path} ended early`);
        return buf;
      };
      const index = CompactIndex.fromTables(read, size);
      if (index) descriptors.register(index, fd);
      else closeSync(fd);
      return index;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** The index held by a whole cache file's bytes (just encoded, or read by a test). */
  static parse(bytes: Buffer): CompactIndex | undefined {
    return CompactIndex.fromTables((position, length) => bytes.subarray(position, position + length), bytes.length);
  }

  /**
   * Reads the header, the row offsets and the hash slots (about 1.5 MB for Debian's main); the name table and the
   * rows stay in the file, read a lookup at a time.
   */
  private static fromTables(read: (position: number, length: number) => Buffer, fileSize: number): CompactIndex | undefined {
    if (fileSize < HEADER) return undefined;
    const header = read(0, HEADER);
    const [magic, format, count, fieldsLen, namesLen, rowsLen, slotCount] = Array.from({ length: 7 }, (_, i) => header.readUInt32LE(4 * i));
    if (magic !== MAGIC || format !== INDEX_CACHE_FORMAT) return undefined;
    const tablesLen = fieldsLen + 4 * (count + 1) + 8 * slotCount;
    if (HEADER + tablesLen + namesLen + rowsLen !== fileSize) return undefined;
    const tables = Buffer.from(read(HEADER, tablesLen));
    if (tables.toString('utf8', 0, fieldsLen) !== INDEX_FIELDS.join(',')) return undefined;
    // Copied out so that the offsets need no 4-byte alignment in the file.
    const offsets = new Uint32Array(count + 1);
    for (let i = 0; i <= count; i++) {
      offsets[i] = tables.readUInt32LE(fieldsLen + 4 * i);
      if (i > 0 && offsets[i] < offsets[i - 1]) return undefined;
    }
    if (offsets[0] !== 0 || offsets[count] !== rowsLen) return undefined;
    const slots = tables.subarray(fieldsLen + 4 * (count + 1));
    return new CompactIndex(read, offsets, slots, HEADER + tablesLen, HEADER + tablesLen + namesLen, count);
  }

  /** The cache file's bytes for `rows` (rows must not contain \0, which deb822 values cannot). */
  static encode(rows: readonly IndexRow[]): Buffer {
    const fields = Buffer.from(INDEX_FIELDS.join(','), 'utf8');
    const byName = new Map<string, number[]>();
    rows.forEach((r, i) => {
      for (const name of [r[F.Package], ...providedNames(r[F.Provides])]) {
        const list = byName.get(name);
        if (!list) byName.set(name, [i]);
        else if (list[list.length - 1] !== i) list.push(i);
      }
    });
    const slotCount = byName.size === 0 ? 0 : 2 ** Math.ceil(Math.log2(2 * byName.size));
    const slots = Buffer.alloc(8 * slotCount);
    const entries: Buffer[] = [];
    let namesLen = 0;
    for (const [name, list] of byName) {
      const key = Buffer.from(name, 'utf8');
      const entry = Buffer.alloc(2 + key.length + 4 + 4 * list.length);
      entry.writeUInt16LE(key.length, 0);
      key.copy(entry, 2);
      entry.writeUInt32LE(list.length, 2 + key.length);
      list.forEach((row, k) => entry.writeUInt32LE(row, 6 + key.length + 4 * k));
      const hash = fnv1a(key);
      let slot = hash % slotCount;
      while (slots.readUInt32LE(8 * slot) !== 0) slot = (slot + 1) % slotCount;
      slots.writeUInt32LE(namesLen + 1, 8 * slot);
      slots.writeUInt32LE(hash, 8 * slot + 4);
      entries.push(entry);
      namesLen += entry.length;
    }
    const encoded = rows.map((r) => Buffer.from(r.join('\0'), 'utf8'));
    const offsets = Buffer.alloc(4 * (rows.length + 1));
    let at = 0;
    encoded.forEach((b, i) => {
      offsets.writeUInt32LE(at, 4 * i);
      at += b.length;
    });
    offsets.writeUInt32LE(at, 4 * rows.length);
    const header = Buffer.alloc(HEADER);
    [MAGIC, INDEX_CACHE_FORMAT, rows.length, fields.length, namesLen, at, slotCount].forEach((v, i) => header.writeUInt32LE(v, 4 * i));
    return Buffer.concat([header, fields, offsets, slots, ...entries, ...encoded]);
  }
}

/** The names a Provides field offers ("foo (= 1), bar:any" → foo, bar). */
function providedNames(provides: string): string[] {
  if (!provides) return [];
  return provides.split(',').map((p) => /^\s*([^\s(:]+)/.exec(p)?.[1]).filter((n): n is string => !!n);
}

/** The cached compact index at `path`, or undefined when missing, unreadable or not of this format. */
export async function readIndexCache(path: string): Promise<CompactIndex | undefined> {
  try {
    return CompactIndex.open(path);
  } catch {
    return undefined;
  }
}

/** Writes the compact form of `rows` atomically (a concurrent reader sees the old file or the whole new one). */
export async function writeIndexCache(path: string, rows: readonly IndexRow[]): Promise<CompactIndex> {
  const bytes = CompactIndex.encode(rows);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
  // The rows just built are in memory already; later runs read them from the file.
  return CompactIndex.parse(bytes)!;
}
