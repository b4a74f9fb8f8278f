/**
 * Streams an rpm payload as contract entries: decompress (core's helper: in-process for gzip and small xz, the system's
 * tools for the rest), read cpio, and take every entry's metadata from the header, which is what rpm itself trusts.
 */
import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { PackageFormatError, decompress as decompressStream, normalizeArchivePath, type PackageEntry, type PayloadItem } from '@ostree-layer/core';
import { asFormatError, sniffCompressor, type Compressor, type RpmArchive } from './archive.js';
import { readCpio } from './cpio.js';
import { FileFlag, type HeaderFile } from './files.js';

/** The decompressed payload bytes (core's decompression); a failing decompressor ends in a PackageFormatError. */
export function decompress(file: string, offset: number, kind: Compressor): Readable {
  const input = createReadStream(file, { start: offset, highWaterMark: 1 << 20 });
  return decompressStream(input, kind, file, `the ${kind} payload`, { size: statSync(file).size - offset });
}

function toEntry(f: HeaderFile, file: string): PackageEntry {
  if (f.type === 'socket') throw new PackageFormatError(file, `${f.path} is a socket; packages cannot ship sockets`);
  const entry: PackageEntry = {
    path: f.path, type: f.type, mode: f.mode, user: f.user, group: f.group,
    size: f.type === 'file' ? f.size : 0, mtime: f.mtime,
  };
  if (f.type === 'symlink') entry.linkTarget = f.linkTo;
  if (f.type === 'char-device' || f.type === 'block-device') {
    entry.devMajor = (f.rdev >>> 8) & 0xfff;
    entry.devMinor = (f.rdev & 0xff) | ((f.rdev >>> 12) & 0xfff00);
  }
  if (f.flags & FileFlag.Config) entry.config = true;
  if (f.flags & FileFlag.Ghost) entry.ghost = true;
  return entry;
}

/** Hardlink sets by (device, inode), regular non-ghost files only, in file-index order. */
function hardlinkSets(files: HeaderFile[]): Map<number, number[]> {
  const byKey = new Map<string, number[]>();
  for (const f of files) {
    if (f.type !== 'file' || f.flags & FileFlag.Ghost) continue;
    const key = `${f.device}:${f.inode}`;
    const list = byKey.get(key) ?? [];
    list.push(f.index);
    byKey.set(key, list);
  }
  const out = new Map<number, number[]>();
  for (const list of byKey.values()) if (list.length > 1) for (const i of list) out.set(i, list);
  return out;
}

/**
 * Payload items in archive order, then the header's %ghost entries (owned, never shipped). In a hardlink set rpm
 * writes the content with one member only (the last); members seen before it are held back and follow it as
 * hardlinks, so every hardlink names an entry already yielded.
 */
export async function* payloadItems(a: RpmArchive, files: HeaderFile[]): AsyncGenerator<PayloadItem> {
  const file = a.file;
  const byPath = new Map(files.map((f) => [f.path, f]));
  const links = hardlinkSets(files);
  const seen = new Set<number>();
  const leaders = new Map<number[], string>();
  const held = new Map<number[], HeaderFile[]>();
  let payload: Readable | undefined;
  const strippedSize = (index: number) => {
    const f = files[index];
    if (!f) throw new PackageFormatError(file, `payload names file #${index}, which the header does not list`);
    const set = links.get(index);
    if (f.type !== 'file' || (set && set[set.length - 1] !== index)) return 0;
    return f.size;
  };
  try {
    const kind = await sniffCompressor(a);
    // Destroyed however the loop ends: a consumer that stops early must not leave a decompressor waiting on its pipe.
    payload = decompress(file, a.payloadOffset, kind);
    for await (const { entry, body } of readCpio(payload, file, strippedSize)) {
      let f: HeaderFile | undefined;
      if (entry.index !== undefined) {
        f = files[entry.index];
      } else {
        // rpm looks cpio names up in the header ("./usr/x" and "/usr/x" alike; nfpm writes the latter) and installs
        // at the header's path, so an absolute name is only a lookup key; ".." is still refused.
        const path = normalizeArchivePath(entry.name!, file, true);
        f = byPath.get(path);
        if (!f) throw new PackageFormatError(file, `payload has ${path}, which the header does not list; the package is corrupt`);
      }
      if (!f) throw new PackageFormatError(file, `payload names file #${entry.index}, which the header does not list`);
      if (seen.has(f.index)) throw new PackageFormatError(file, `payload has ${f.path} twice; the package is corrupt`);
      seen.add(f.index);
      const item = toEntry(f, file);
      const set = links.get(f.index);
      if (set) {
        const leader = leaders.get(set);
        if (leader) {
          yield { entry: { ...item, type: 'hardlink', size: 0, linkTarget: leader } };
        } else if (entry.size === 0 && f.size > 0) {
          held.set(set, [...(held.get(set) ?? []), f]);
        } else {
          leaders.set(set, f.path);
          yield { entry: item, body };
          for (const h of held.get(set) ?? []) yield { entry: { ...toEntry(h, file), type: 'hardlink', size: 0, linkTarget: f.path } };
          held.delete(set);
        }
        continue;
      }
      if (f.type === 'file') {
        if (entry.size !== f.size) throw new PackageFormatError(file, `${f.path} has ${entry.size} bytes in the payload but ${f.size} in the header; the package is corrupt`);
        yield { entry: item, body };
      } else {
        yield { entry: item };
      }
    }
  } catch (err) {
    throw asFormatError(file, err, 'reading the payload failed');
  } finally {
    payload?.destroy();
  }
  if (held.size) throw new PackageFormatError(file, `a hardlink set (${[...held.values()][0].map((f) => f.path).join(', ')}) has no member carrying its content; the package is corrupt`);
  const missing = files.filter((f) => !seen.has(f.index) && !(f.flags & FileFlag.Ghost));
  if (missing.length) throw new PackageFormatError(file, `payload lacks ${missing.length} file(s) the header lists (first: ${missing[0].path}); the package is truncated or corrupt`);
  for (const f of files) if (f.flags & FileFlag.Ghost) yield { entry: toEntry(f, file) };
}
