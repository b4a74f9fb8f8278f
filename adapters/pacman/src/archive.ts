/**
 * Opening a pacman package: one compressed tar (zstd, xz or gzip, told by magic bytes, never by name) whose first
 * members are the metadata files makepkg writes — `.PKGINFO`, `.MTREE`, `.INSTALL`, `.BUILDINFO` — held in memory
 * (they are small), followed by the payload, streamed on demand. Like libalpm, every member whose name starts with a
 * dot is metadata, never payload.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import {
  LayerError,
  PackageFormatError,
  normalizeArchivePath,
  tarEntryBody,
  tarHeaderEntry,
  type EntryType,
  type PackageEntry,
  type PackageFile,
  type PackageId,
  type PayloadItem,
} from '@ostree-layer/core';
import { decompress, type Compression } from '@ostree-layer/core';
import { buildMetadata } from './inspect.js';
import { mtreeMd5s, parseMtree, type MtreeEntry } from './mtree.js';
import { PkgInfoError, parsePkgInfo, type PkgInfo } from './pkginfo.js';

/** Metadata members are read whole; real ones are a few KiB (a big package's .MTREE some hundred KiB). */
const MAX_METADATA_MEMBER = 32 << 20;

/** The compression of a package by its first bytes, or null when it is none pacman writes. */
export async function sniffCompression(file: string): Promise<Compression | null> {
  const fd = await open(file, 'r');
  try {
    const magic = Buffer.alloc(262);
    const { bytesRead } = await fd.read(magic, 0, 262, 0);
    if (bytesRead >= 4 && magic.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    if (bytesRead >= 6 && magic.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (bytesRead >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
    if (bytesRead >= 262 && magic.subarray(257, 262).toString('latin1') === 'ustar') return 'none';
    return null;
  } finally {
    await fd.close();
  }
}

/** A package opened by {@link openPacmanPackage}. */
export class PacmanPackage implements PackageFile {
  readonly id: PackageId;
  readonly hasScripts: boolean;
  readonly fileDigest?: { algorithm: string; wanted(path: string): boolean };
  private metadataCache?: Record<string, unknown>;

  constructor(
    readonly file: string,
    readonly compression: Compression,
    readonly info: PkgInfo,
    /** `.MTREE` as shipped (gzip'd): the database keeps it byte for byte. */
    readonly mtreeRaw: Buffer | undefined,
    readonly mtree: MtreeEntry[],
    /** `.INSTALL`, the install scriptlet pacman sources (post_install…). */
    readonly install: Buffer | undefined,
  ) {
    this.id = { name: info.pkgname, version: info.pkgver, arch: info.arch };
    this.hasScripts = install !== undefined;
    // %BACKUP% records each config file's md5; a .MTREE without one (not makepkg's) leaves the engine to compute it.
    const known = mtreeMd5s(mtree);
    const missing = new Set(this.backup.filter((path) => !known.has(path)));
    if (missing.size > 0) this.fileDigest = { algorithm: 'md5', wanted: (path: string) => missing.has(path) };
  }

  get metadata(): Record<string, unknown> {
    this.metadataCache ??= buildMetadata(this);
    return this.metadataCache;
  }

  /** Absolute paths of the configuration files (`backup`). */
  get backup(): string[] {
    return this.info.lists.backup.map((p) => '/' + p.replace(/^\/+/, ''));
  }

  /** md5 of each regular file as the .MTREE records it. */
  md5s(): Map<string, string> {
    return mtreeMd5s(this.mtree);
  }

  payload(): AsyncIterable<PayloadItem> {
    return readPayload(this);
  }

  /** The content of the regular files at `paths` (small ones: hook files), read from the payload. */
  async readFiles(paths: Set<string>): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for await (const { entry, body } of this.payload()) {
      if (!body) continue;
      if (paths.has(entry.path)) out.set(entry.path, await readAll(body, MAX_METADATA_MEMBER, entry.path));
      else for await (const _ of body) void _;
      if (out.size === paths.size) break;
    }
    return out;
  }
}

function wrap(file: string, what: string, err: unknown): LayerError {
  if (err instanceof LayerError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new PackageFormatError(file, `${what}: ${msg}; the package is corrupt or truncated`, { cause: err });
}

/** A tar member as tar-stream yields it (a streamx stream), seen through Node's Readable interface. */
type TarEntry = Readable & { header: tar.Header };

/** The decompressed tar members of `file`, in archive order; closing the iterator stops the decompressor. */
async function* members(file: string, compression: Compression): AsyncGenerator<TarEntry> {
  const input = decompress(createReadStream(file, { highWaterMark: 1 << 20 }), compression, file, 'package');
  const extract = tar.extract();
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) yield entry as unknown as TarEntry;
  } finally {
    input.destroy();
  }
}

/**
 * A member that libalpm treats as metadata (it skips every name starting with a dot). A ".." component is not
 * metadata but a path that leaves the package, refused as such by the path check.
 */
function isMetadataMember(name: string): boolean {
  const first = name.replace(/^(\.\/)+/, '').split('/')[0]!;
  return first.startsWith('.') && first !== '..';
}

async function readAll(stream: AsyncIterable<unknown>, limit: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > limit) throw new Error(`${what} is larger than ${limit >> 20} MiB; no real package needs that`);
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts, n);
}

/** Reads the metadata members at the front of the archive and returns the opened package. */
export async function openPacmanPackage(file: string): Promise<PacmanPackage> {
  const compression = await sniffCompression(file).catch((err) => {
    throw new PackageFormatError(file, `cannot read it (${(err as Error).message})`, { cause: err });
  });
  if (!compression) throw new PackageFormatError(file, 'not a pacman package: not a zstd, xz or gzip compressed tar');
  const meta = new Map<string, Buffer>();
  const it = members(file, compression);
  try {
    for (let next = await it.next(); !next.done; next = await it.next()) {
      const entry = next.value;
      if (!isMetadataMember(entry.header.name)) {
        entry.resume();
        break;
      }
      const name = entry.header.name.replace(/^(\.\/)+/, '');
      meta.set(name, await readAll(entry, MAX_METADATA_MEMBER, name));
    }
  } catch (err) {
    throw wrap(file, 'reading the package metadata', err);
  } finally {
    await it.return(undefined);
  }
  const pkginfo = meta.get('.PKGINFO');
  if (!pkginfo) throw new PackageFormatError(file, 'not a pacman package: no .PKGINFO before the payload (build it with makepkg)');
  let info: PkgInfo;
  try {
    info = parsePkgInfo(pkginfo.toString('utf8'));
  } catch (err) {
    if (err instanceof PkgInfoError) throw new PackageFormatError(file, `.PKGINFO: ${err.message}; pacman refuses it too, so the package must be rebuilt`);
    throw err;
  }
  const mtreeRaw = meta.get('.MTREE');
  let mtree: MtreeEntry[] = [];
  try {
    if (mtreeRaw) mtree = parseMtree(mtreeRaw);
  } catch (err) {
    throw new PackageFormatError(file, `.MTREE cannot be read (${(err as Error).message}); the package is corrupt`, { cause: err });
  }
  return new PacmanPackage(file, compression, info, mtreeRaw, mtree, meta.get('.INSTALL'));
}

/** A tar header as a contract entry (core's tar rules, plus what libalpm refuses too); `backup` files are config. */
function toEntry(h: tar.Header, pkg: PacmanPackage, path: string, seen: Map<string, EntryType>, backup: Set<string>): PackageEntry {
  const file = pkg.file;
  if (h.name.includes('\uFFFD') || h.linkname?.includes('\uFFFD')) {
    throw new PackageFormatError(file, `entry ${JSON.stringify(h.name)} has a name that is not valid UTF-8; rebuild the package with UTF-8 names`);
  }
  if (h.type === 'symlink' && !h.linkname) throw new PackageFormatError(file, `symlink "${h.name}" has no target`);
  const entry = tarHeaderEntry(h, { file, path, seen, what: 'entry', builder: 'makepkg' });
  if (backup.has(path)) entry.config = true;
  return entry;
}


async function* readPayload(pkg: PacmanPackage): AsyncGenerator<PayloadItem> {
  const file = pkg.file;
  const it = members(file, pkg.compression);
  try {
    const seen = new Map<string, EntryType>();
    const backup = new Set(pkg.backup);
    for (let next = await it.next(); !next.done; next = await it.next()) {
      const source = next.value;
      const h = source.header;
      const path = isMetadataMember(h.name) ? '/' : normalizeArchivePath(h.name, file);
      if (path === '/') {
        source.resume();
        continue;
      }
      const entry = toEntry(h, pkg, path, seen, backup);
      seen.set(path, entry.type);
      if (entry.type !== 'file' || h.size === 0) {
        source.resume();
        yield { entry, body: entry.type === 'file' ? Readable.from([]) : undefined };
        continue;
      }
      const { body, ended } = tarEntryBody(source, (err) => wrap(file, 'reading the payload', err));
      yield { entry, body };
      // The consumer may have left the body unread or destroyed it: drain the rest so the tar parser moves on.
      if (!body.readableEnded) {
        source.removeAllListeners('data');
        source.on('data', () => undefined);
        source.resume();
      }
      await ended;
    }
  } catch (err) {
    throw wrap(file, 'reading the payload', err);
  } finally {
    await it.return(undefined);
  }
}
