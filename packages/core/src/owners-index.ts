/**
 * Which installed package owns a path, for databases that keep one file list per package (dpkg's `info/*.list`,
 * pacman's `local/<name>-<version>/files`) and no index of their own: the lists are read once per database content
 * into one sorted file, kept where the tree says derived data may live (keyed by OSTree's checksum of the database
 * directory), and each later question is a binary search in it. A format names its index file so that two formats never share one.
 *
 * Format (UTF-8 text, one record per line, the path section sorted by bytes so that a search needs no offsets):
 *   ostree-layer owners 1
 *   <number of packages>
 *   <name>\0<version>\0<arch>            one line per package, numbered from 0
 *   <path>\0<package number>[,<number>…]  one line per path
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { PackageId } from './backend.js';

const MAGIC = 'ostree-layer owners 1';
const NEWLINE = 0x0a;
const NUL = 0x00;

/** One package and the paths its `.list` names (the `/.` line dpkg writes for every package left out). */
export interface OwnedList {
  id: PackageId;
  paths: string[];
}

export class OwnersIndex {
  private constructor(
    private readonly buf: Buffer,
    private readonly packages: PackageId[],
    /** Byte offset of the first path line. */
    private readonly start: number,
  ) {}

  /** The index of `lists`, as the bytes of its file. */
  static build(lists: OwnedList[]): Buffer {
    const owners = new Map<string, number[]>();
    lists.forEach(({ paths }, n) => {
      for (const path of paths) {
        if (path === '/.') continue;
        const list = owners.get(path);
        if (!list) owners.set(path, [n]);
        else if (list.at(-1) !== n) list.push(n);
      }
    });
    const lines = [...owners].map(([path, ns]) => Buffer.from(`${path}\0${ns.join(',')}\n`));
    // Byte order, as the search compares: JavaScript's string order differs from UTF-8's beyond the BMP.
    lines.sort((a, b) => Buffer.compare(a.subarray(0, a.indexOf(NUL)), b.subarray(0, b.indexOf(NUL))));
    const head = `${MAGIC}\n${lists.length}\n${lists.map(({ id }) => `${id.name}\0${id.version}\0${id.arch}\n`).join('')}`;
    return Buffer.concat([Buffer.from(head), ...lines]);
  }

  /** Reads an index built by {@link build}; null when `buf` is not one (a truncated or foreign file). */
  static parse(buf: Buffer): OwnersIndex | null {
    let at = 0;
    const line = (): string | null => {
      const end = buf.indexOf(NEWLINE, at);
      if (end < 0) return null;
      const text = buf.toString('utf8', at, end);
      at = end + 1;
      return text;
    };
    if (line() !== MAGIC) return null;
    const count = Number(line());
    if (!Number.isInteger(count) || count < 0) return null;
    const packages: PackageId[] = [];
    for (let i = 0; i < count; i++) {
      const fields = line()?.split('\0');
      if (fields?.length !== 3) return null;
      packages.push({ name: fields[0]!, version: fields[1]!, arch: fields[2]! });
    }
    if (buf.length > at && buf[buf.length - 1] !== NEWLINE) return null;
    return new OwnersIndex(buf, packages, at);
  }

  /** The owners of `path`, or undefined when no package lists it. */
  lookup(path: string): PackageId[] | undefined {
    const target = Buffer.from(path);
    const { buf } = this;
    let lo = this.start;
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

  /** The owners of each of `paths` that some package lists (`InstalledDatabase.owners`). */
  ownersOf(paths: string[]): Map<string, PackageId[]> {
    const out = new Map<string, PackageId[]>();
    for (const path of paths) {
      const found = this.lookup(path);
      if (found) out.set(path, found);
    }
    return out;
  }
}

/**
 * The index kept at `cachePath` when one is there and readable, else one built by `read` (and written there for the
 * next transaction; a cache that cannot be written is only slower).
 */
export async function loadOwnersIndex(cachePath: string | null, read: () => Promise<OwnedList[]>): Promise<OwnersIndex> {
  if (cachePath) {
    const cached = await readFile(cachePath).then(OwnersIndex.parse, () => null);
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
