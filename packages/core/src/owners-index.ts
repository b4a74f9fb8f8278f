/**
 * Which installed package owns a path, for databases that keep one file list per package (dpkg's `info/*.list`,
 * pacman's `local/<name>-<version>/files`) and no index of their own: the lists are read once per database content
 * into one sorted file, kept where the tree says derived data may live (keyed by OSTree's checksum of the database
 * directory), and each later question is a binary search in it. A format names its index file so that two formats never share one.
 *
 * Format (UTF-8 text, one record per line, the path section sorted by bytes so that a search needs no offsets):
 *   ostree-layer owners 2 <header bytes, 12 digits> <file bytes, 12 digits>
 *   <number of packages>
 *   <name>\0<version>\0<arch>            one line per package, numbered from 0
 *   <number of blocks>
 *   <first path>\0<offset>               one line per block of BLOCK_LINES path lines (offset into the path section)
 *   <path>\0<package number>[,<number>…]  one line per path
 * A question reads the header and only the blocks its paths fall in: a base with 200,000 listed paths is a file of
 * 9 MB, and reading it whole was most of what the conflict check cost there.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import type { PackageId } from './backend.js';

const MAGIC = 'ostree-layer owners 2';
const NEWLINE = 0x0a;
const NUL = 0x00;
/** Path lines per block: a block is about 10 KiB, the block table 1/256 of the paths. */
const BLOCK_LINES = 256;
const FIRST_LINE = MAGIC.length + 1 + 12 + 1 + 12 + 1;
const SURROGATE = /[\uD800-\uDFFF]/;
const NON_ASCII = /[^\x00-\x7F]/;
/** Digits of the package number that {@link OwnersIndex.build} tags each path with while sorting (ten million packages). */
const TAG_DIGITS = 7;

/** One package and the paths its `.list` names (the `/.` line dpkg writes for every package left out). */
export interface OwnedList {
  id: PackageId;
  paths: string[];
}

export class OwnersIndex {
  private constructor(
    /** Reads ranges (offset, length) of the path section. */
    private readonly readPaths: (ranges: Array<[number, number]>) => Buffer[],
    private readonly packages: PackageId[],
    /** First path of each block (bytes) and where the block starts in the path section; the end, last. */
    private readonly blocks: Array<{ first: Buffer; offset: number }>,
    private readonly pathBytes: number,
  ) {}

  /**
   * The index of `lists`, as the bytes of its file. Every path is tagged with its package's number and the tagged
   * strings sorted, so that a path's owners come out next to each other, in list order: the first install onto a base
   * builds this from every `.list` (160,000 paths in a big base), and a map of paths plus two buffers per path took
   * 2.3 times as long (allocations and the collections they cost included).
   */
  static build(lists: OwnedList[]): Buffer {
    const tagged: string[] = [];
    lists.forEach(({ paths }, n) => {
      // NUL sorts before every character a path has, so "p" and its owners come before "p-x" and "p/x", as "p" does.
      const tag = `\0${String(n).padStart(TAG_DIGITS, '0')}`;
      for (const path of paths) if (path !== '/.') tagged.push(path + tag);
    });
    // Byte order, as the search compares. JavaScript compares UTF-16 units, which is UTF-8's order as long as no path
    // has a character beyond the BMP (a surrogate pair): then, and only then, the strings are compared as bytes.
    if (tagged.some((t) => SURROGATE.test(t))) sortAsBytes(tagged);
    else tagged.sort();
    const lines: string[] = [];
    let blocks = '';
    let offset = 0;
    let path: string | null = null;
    let owners = '';
    let previous = '';
    const emit = () => {
      const line = `${path}\0${owners}\n`;
      if (lines.length % BLOCK_LINES === 0) blocks += `${path}\0${offset}\n`;
      lines.push(line);
      offset += NON_ASCII.test(line) ? Buffer.byteLength(line) : line.length;
    };
    for (const t of tagged) {
      // The same package listing a path twice: the same tagged string.
      if (t === previous) continue;
      previous = t;
      const cut = t.length - TAG_DIGITS - 1;
      const owner = Number(t.slice(cut + 1));
      if (path !== null && cut === path.length && t.startsWith(path)) {
        owners += `,${owner}`;
      } else {
        if (path !== null) emit();
        path = t.slice(0, cut);
        owners = String(owner);
      }
    }
    if (path !== null) emit();
    const packages = lists.map(({ id }) => `${id.name}\0${id.version}\0${id.arch}\n`).join('');
    const body = `${lists.length}\n${packages}${Math.ceil(lines.length / BLOCK_LINES)}\n${blocks}`;
    const header = FIRST_LINE + Buffer.byteLength(body);
    const first = `${MAGIC} ${String(header).padStart(12, '0')} ${String(header + offset).padStart(12, '0')}\n`;
    return Buffer.from(first + body + lines.join(''));
  }

  /** Reads an index built by {@link build}; null when `buf` is not one (a truncated or foreign file). */
  static parse(buf: Buffer): OwnersIndex | null {
    const header = OwnersIndex.header(buf.subarray(0, FIRST_LINE), buf.length);
    if (!header) return null;
    return OwnersIndex.fromHeader(buf.subarray(FIRST_LINE, header), buf.length - header, (ranges) => ranges.map(([offset, length]) => buf.subarray(header + offset, header + offset + length)));
  }

  /**
   * Opens the index file at `path`, reading only its header; null when it is not one. Each {@link ownersOf} reads just
   * the blocks its paths fall in (the file's name is its content's key: a file renamed over it has the same bytes).
   */
  static open(path: string): OwnersIndex | null {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return null;
    }
    try {
      const { size } = fstatSync(fd);
      const first = Buffer.alloc(Math.min(FIRST_LINE, size));
      readAt(fd, first, 0);
      const header = OwnersIndex.header(first, size);
      if (header === null) return null;
      const head = Buffer.alloc(header - FIRST_LINE);
      readAt(fd, head, FIRST_LINE);
      return OwnersIndex.fromHeader(head, size - header, (ranges) => {
        const again = openSync(path, 'r');
        try {
          return ranges.map(([offset, length]) => {
            const block = Buffer.alloc(length);
            return block.subarray(0, readAt(again, block, header + offset));
          });
        } finally {
          closeSync(again);
        }
      });
    } finally {
      closeSync(fd);
    }
  }

  /** The header's length when `first` is the first line of an index of `size` bytes, else null. */
  private static header(first: Buffer, size: number): number | null {
    const m = /^ostree-layer owners 2 (\d{12}) (\d{12})\n$/.exec(first.toString('latin1'));
    if (!m) return null;
    const header = Number(m[1]);
    return Number(m[2]) === size && header >= FIRST_LINE && header <= size ? header : null;
  }

  private static fromHeader(head: Buffer, pathBytes: number, readPaths: (ranges: Array<[number, number]>) => Buffer[]): OwnersIndex | null {
    let at = 0;
    const line = (): Buffer | null => {
      const end = head.indexOf(NEWLINE, at);
      if (end < 0) return null;
      const text = head.subarray(at, end);
      at = end + 1;
      return text;
    };
    const count = Number(line()?.toString('latin1'));
    if (!Number.isInteger(count) || count < 0) return null;
    const packages: PackageId[] = [];
    for (let i = 0; i < count; i++) {
      const fields = line()?.toString('utf8').split('\0');
      if (fields?.length !== 3) return null;
      packages.push({ name: fields[0]!, version: fields[1]!, arch: fields[2]! });
    }
    const blockCount = Number(line()?.toString('latin1'));
    if (!Number.isInteger(blockCount) || blockCount < 0) return null;
    const blocks: Array<{ first: Buffer; offset: number }> = [];
    for (let i = 0; i < blockCount; i++) {
      const l = line();
      const nul = l?.lastIndexOf(NUL) ?? -1;
      if (!l || nul < 0) return null;
      const offset = Number(l.subarray(nul + 1).toString('latin1'));
      if (!Number.isInteger(offset) || offset > pathBytes || (blocks.length > 0 && offset <= blocks.at(-1)!.offset)) return null;
      blocks.push({ first: Buffer.from(l.subarray(0, nul)), offset });
    }
    if (at !== head.length || (blockCount === 0) !== (pathBytes === 0)) return null;
    return new OwnersIndex(readPaths, packages, blocks, pathBytes);
  }

  /** The owners of `path`, or undefined when no package lists it. */
  async lookup(path: string): Promise<PackageId[] | undefined> {
    return (await this.ownersOf([path])).get(path);
  }

  /** The owners of each of `paths` that some package lists (`InstalledDatabase.owners`): each block read once. */
  async ownersOf(paths: string[]): Promise<Map<string, PackageId[]>> {
    const byBlock = new Map<number, Array<{ path: string; bytes: Buffer }>>();
    for (const path of paths) {
      const bytes = Buffer.from(path);
      const block = this.blockOf(bytes);
      if (block < 0) continue;
      const list = byBlock.get(block);
      if (list) list.push({ path, bytes });
      else byBlock.set(block, [{ path, bytes }]);
    }
    const out = new Map<string, PackageId[]>();
    const wanted = [...byBlock.keys()];
    const read = this.readPaths(wanted.map((block) => {
      const start = this.blocks[block]!.offset;
      return [start, (this.blocks[block + 1]?.offset ?? this.pathBytes) - start];
    }));
    wanted.forEach((block, i) => {
      const lines = read[i]!;
      const length = (this.blocks[block + 1]?.offset ?? this.pathBytes) - this.blocks[block]!.offset;
      if (lines.length !== length || (length > 0 && lines[length - 1] !== NEWLINE)) throw new Error('owners index: a block is truncated');
      for (const { path, bytes } of byBlock.get(block)!) {
        const found = this.search(lines, bytes);
        if (found) out.set(path, found);
      }
    });
    return out;
  }

  /** The block whose first path is the last one not above `path`; -1 when `path` sorts before every block. */
  private blockOf(path: Buffer): number {
    let lo = 0;
    let hi = this.blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.blocks[mid]!.first, path) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** Binary search of the lines of one block. */
  private search(buf: Buffer, target: Buffer): PackageId[] | undefined {
    let lo = 0;
    let hi = buf.length;
    // lo and hi are always line starts; the line holding the middle byte is compared.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const lineStart = buf.lastIndexOf(NEWLINE, mid - 1) + 1;
      const lineEnd = buf.indexOf(NEWLINE, lineStart);
      const keyEnd = buf.indexOf(NUL, lineStart);
      const order = buf.compare(target, 0, target.length, lineStart, keyEnd);
      if (order === 0) return buf.toString('latin1', keyEnd + 1, lineEnd).split(',').map((n) => this.packages[Number(n)]!);
      if (order < 0) lo = lineEnd + 1;
      else hi = lineStart;
    }
    return undefined;
  }
}

/**
 * The index kept at `cachePath` when one is there and readable, else one built by `read` (and written there for the
 * next transaction; a cache that cannot be written is only slower).
 */
export async function loadOwnersIndex(cachePath: string | null, read: () => Promise<OwnedList[]>): Promise<OwnersIndex> {
  if (cachePath) {
    const cached = OwnersIndex.open(cachePath);
    if (cached) return cached;
  }
  const bytes = OwnersIndex.build(await read());
  if (cachePath) {
    const temporary = `${cachePath}.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      await writeFile(temporary, bytes);
      await rename(temporary, cachePath);
    } catch {
      await rm(temporary, { force: true });
    }
  }
  return OwnersIndex.parse(bytes)!;
}

/** Fills `buf` from `fd` at `position` (short only at the end of the file); the bytes read. */
function readAt(fd: number, buf: Buffer, position: number): number {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Sorts `strings` in place by their UTF-8 bytes, each encoded once. */
function sortAsBytes(strings: string[]): void {
  const keyed = strings.map((text) => ({ text, bytes: Buffer.from(text) }));
  keyed.sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  keyed.forEach(({ text }, i) => (strings[i] = text));
}
