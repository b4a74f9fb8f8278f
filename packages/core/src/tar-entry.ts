/**
 * Tar members as the contract wants them, for adapters whose packages are tar archives read with tar-stream: the
 * header as a {@link PackageEntry}, the body as a Node Readable (tar-stream hands out streamx streams; the wrapper
 * passes their chunks on without copying, with backpressure).
 */
import { Readable } from 'node:stream';
import type * as tar from 'tar-stream';
import type { EntryType, PackageEntry } from './backend.js';
import { PackageFormatError } from './errors.js';
import { normalizeArchivePath } from './paths.js';

/** What the wrapper needs of a tar-stream entry ('data' gives Buffers, 'error' an Error; streamx types them loosely). */
export interface TarEntrySource {
  on(event: 'data' | 'end' | 'error', listener: (...args: any[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * `body` streams the entry; `ended` settles when it has been read to its end, or rejects with the archive's error
 * mapped by `onError` (the same error also reaches the body).
 */
export function tarEntryBody(source: TarEntrySource, onError: (err: unknown) => Error): { body: Readable; ended: Promise<void> } {
  const body = new Readable({
    highWaterMark: 1 << 16,
    read() {
      source.resume();
    },
  });
  // The consumer may be between receiving the body and piping it (awaiting something else) when the archive turns
  // out truncated: the error must not be an unhandled 'error' event. It still reaches the consumer, through the
  // stream's errored state (pipeline, for-await) and through the payload iterator (`ended`).
  body.on('error', () => undefined);
  const ended = new Promise<void>((resolve, reject) => {
    source.on('data', (chunk: Buffer) => {
      if (!body.destroyed && !body.push(chunk)) source.pause();
    });
    source.on('end', () => {
      if (!body.destroyed) body.push(null);
      resolve();
    });
    source.on('error', (err: Error) => {
      const mapped = onError(err);
      body.destroy(mapped);
      reject(mapped);
    });
  });
  ended.catch(() => undefined);
  source.pause();
  return { body, ended };
}

const TAR_TYPES: Record<string, EntryType> = {
  file: 'file', 'contiguous-file': 'file', directory: 'directory', symlink: 'symlink', link: 'hardlink',
  'character-device': 'char-device', 'block-device': 'block-device', fifo: 'fifo',
};

function paxNumber(pax: Record<string, string> | undefined, key: string): number | undefined {
  const value = pax?.[key];
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/** How a format names the archive's members and the tool that rebuilds its packages, for the refusals. */
export interface TarEntryContext {
  /** The package file, named in every error. */
  file: string;
  /** The entry's normalised path. */
  path: string;
  /** Types of the earlier entries of this package, by path (a hardlink must point back at a regular file). */
  seen: ReadonlyMap<string, EntryType>;
  /** "data.tar entry", "entry". */
  what: string;
  /** The tool that builds the format's packages ("dpkg-deb", "makepkg"). */
  builder: string;
}

/**
 * A tar-stream header as a contract entry: pax owner names, ids and mtime over the ustar fields, permission bits only,
 * hardlinks resolved to an earlier regular file of the same package. Refuses what no layer can hold (sparse files,
 * unknown types, a hardlink out of the package) with a PackageFormatError naming the file, the entry and the fix.
 */
export function tarHeaderEntry(h: tar.Header, ctx: TarEntryContext): PackageEntry {
  const { file, what } = ctx;
  const pax = (h.pax ?? undefined) as Record<string, string> | undefined;
  if (pax && Object.keys(pax).some((k) => k.startsWith('GNU.sparse.'))) {
    throw new PackageFormatError(file, `${what} "${h.name}" is a sparse file, which a layer cannot hold; rebuild the package without sparse files`);
  }
  const type = h.type ? TAR_TYPES[h.type] : undefined;
  if (!type) throw new PackageFormatError(file, `${what} "${h.name}" has an unsupported tar type (${h.type}); rebuild the package with ${ctx.builder}`);
  const entry: PackageEntry = {
    path: ctx.path,
    type,
    mode: h.mode & 0o7777,
    user: pax?.uname ?? h.uname ?? '',
    group: pax?.gname ?? h.gname ?? '',
    uid: paxNumber(pax, 'uid') ?? h.uid,
    gid: paxNumber(pax, 'gid') ?? h.gid,
    size: type === 'file' ? h.size : 0,
    mtime: Math.floor(paxNumber(pax, 'mtime') ?? h.mtime.getTime() / 1000),
  };
  if (type === 'symlink') entry.linkTarget = h.linkname ?? undefined;
  if (type === 'hardlink') {
    if (!h.linkname) throw new PackageFormatError(file, `${what} "${h.name}" is a hardlink without a target`);
    const target = normalizeArchivePath(h.linkname, file);
    const targetType = ctx.seen.get(target);
    if (targetType !== 'file' && targetType !== 'hardlink') {
      throw new PackageFormatError(file, `${what} "${h.name}" is a hardlink to "${h.linkname}", which is not an earlier regular file of this package`);
    }
    entry.linkTarget = target;
  }
  if (type === 'char-device' || type === 'block-device') {
    entry.devMajor = h.devmajor;
    entry.devMinor = h.devminor;
  }
  return entry;
}
