/**
 * The compact form of one verified Packages index, kept beside it as `<cache>/dpkg/parsed/<sha256>.bin` so that a warm
 * run never decompresses or scans the text again, and never turns 60k packages into JS objects either: the file is
 * read into one Buffer (outside the V8 heap) and a row becomes strings only when asked for.
 *
 * Layout (little-endian u32s): magic "OLPI", format, row count, byte lengths of the field list, the keys and the rows
 * sections; then the field list (INDEX_FIELDS joined by ","), the row offsets (count + 1, relative to the rows
 * section), the keys section (per row: its Package and every Provides name, \x1f-separated, rows \n-separated) and the
 * rows section (per row: its field values \0-separated). A file whose header, lengths or fields do not match what this
 * code writes is treated as absent and rebuilt from the verified index text.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { F, INDEX_FIELDS, type IndexRow } from './packages-index.js';

/** Bumped whenever the layout or what a row holds changes: an older file is then rebuilt. */
export const INDEX_CACHE_FORMAT = 2;
const MAGIC = 0x49504c4f; // "OLPI" read as a little-endian u32
const HEADER = 6 * 4;

/** One index's packages, decoded a row at a time; rows keep the index's order. */
export class CompactIndex {
  private readonly byName = new Map<string, number[]>();

  private constructor(
    private readonly buf: Buffer,
    private readonly offsets: Uint32Array,
    private readonly rowsStart: number,
    readonly size: number,
  ) {}

  /** Field values of row `i` in {@link INDEX_FIELDS} order ('' when absent). */
  row(i: number): IndexRow {
    return this.buf.toString('utf8', this.rowsStart + this.offsets[i], this.rowsStart + this.offsets[i + 1]).split('\0');
  }

  /** Rows whose Package or one of whose Provides is `name`, in index order. */
  rowsFor(name: string): readonly number[] {
    return this.byName.get(name) ?? [];
  }

  /** Parses a cache file's bytes; undefined when they are not a complete file of this format and field list. */
  static parse(buf: Buffer): CompactIndex | undefined {
    if (buf.length < HEADER || buf.readUInt32LE(0) !== MAGIC || buf.readUInt32LE(4) !== INDEX_CACHE_FORMAT) return undefined;
    const [count, fieldsLen, keysLen, rowsLen] = [8, 12, 16, 20].map((at) => buf.readUInt32LE(at));
    const offsetsAt = HEADER + fieldsLen;
    const keysAt = offsetsAt + 4 * (count + 1);
    const rowsStart = keysAt + keysLen;
    if (rowsStart + rowsLen !== buf.length) return undefined;
    if (buf.toString('utf8', HEADER, offsetsAt) !== INDEX_FIELDS.join(',')) return undefined;
    // Copied out so that the offsets need no 4-byte alignment of the file's sections.
    const offsets = new Uint32Array(count + 1);
    for (let i = 0; i <= count; i++) {
      offsets[i] = buf.readUInt32LE(offsetsAt + 4 * i);
      if (i > 0 && offsets[i] < offsets[i - 1]) return undefined;
    }
    if (offsets[0] !== 0 || offsets[count] !== rowsLen) return undefined;
    const index = new CompactIndex(buf, offsets, rowsStart, count);
    const keys = buf.toString('utf8', keysAt, rowsStart).split('\n');
    if (keys.length !== count + 1) return undefined;
    for (let i = 0; i < count; i++) {
      for (const name of keys[i].split('\x1f')) {
        const list = index.byName.get(name);
        if (!list) index.byName.set(name, [i]);
        else if (list[list.length - 1] !== i) list.push(i);
      }
    }
    return index;
  }

  /** The cache file's bytes for `rows` (rows must not contain \0 or \n, which deb822 values cannot). */
  static encode(rows: readonly IndexRow[]): Buffer {
    const fields = Buffer.from(INDEX_FIELDS.join(','), 'utf8');
    const keys = Buffer.from(rows.map((r) => [r[F.Package], ...providedNames(r[F.Provides])].join('\x1f')).join('\n') + '\n', 'utf8');
    const encoded = rows.map((r) => Buffer.from(r.join('\0'), 'utf8'));
    const offsets = Buffer.alloc(4 * (rows.length + 1));
    let at = 0;
    encoded.forEach((b, i) => {
      offsets.writeUInt32LE(at, 4 * i);
      at += b.length;
    });
    offsets.writeUInt32LE(at, 4 * rows.length);
    const header = Buffer.alloc(HEADER);
    [MAGIC, INDEX_CACHE_FORMAT, rows.length, fields.length, keys.length, at].forEach((v, i) => header.writeUInt32LE(v, 4 * i));
    return Buffer.concat([header, fields, offsets, keys, ...encoded]);
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
    return CompactIndex.parse(await readFile(path));
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
  return CompactIndex.parse(bytes)!;
}
