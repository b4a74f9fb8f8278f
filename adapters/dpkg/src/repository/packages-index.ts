/**
 * Packages indexes: fetched in the smallest compression the Release lists (by-hash when advertised), verified
 * against the Release's size and SHA256, kept under `<cache>/dpkg/indexes/<sha256>` and converted once into a compact
 * form (`<cache>/dpkg/parsed/<sha256>.json`: only the fields the solver, the downloader and `search` need, one array
 * per package). A later run with the same index hash loads the compact form and never touches the big text again.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { downloadFile, verifyExisting } from '@ostree-layer/core';
import { decompress, type Compression } from '../decompress.js';
import { readIndexCache, writeIndexCache, type CompactIndex } from './index-cache.js';
import type { Release } from './release.js';

/** Fields kept per package, in this order; the compact file stores values positionally. */
export const INDEX_FIELDS = [
  'Package', 'Version', 'Architecture', 'Multi-Arch', 'Essential', 'Depends', 'Pre-Depends', 'Recommends',
  'Conflicts', 'Breaks', 'Provides', 'Filename', 'Size', 'SHA256', 'SHA512', 'Installed-Size', 'Description',
  'Section', 'Priority', 'Source', 'Replaces', 'Suggests',
] as const;
export type IndexField = (typeof INDEX_FIELDS)[number];
export const F = Object.fromEntries(INDEX_FIELDS.map((f, i) => [f, i])) as Record<IndexField, number>;
/** One package: INDEX_FIELDS values ('' when absent). */
export type IndexRow = string[];

const COMPRESSIONS: Array<[string, Compression]> = [['.xz', 'xz'], ['.gz', 'gzip'], ['', 'none']];

export interface IndexLocation {
  /** Release-relative path of the uncompressed index ("main/binary-amd64/Packages"). */
  path: string;
  release: Release;
}

/** Which file to fetch for an index: the first compression the Release lists, by-hash URL when advertised. */
export function pickIndexFile(loc: IndexLocation): { url: string; sha256: string; size: number; compression: Compression } | undefined {
  for (const [suffix, compression] of COMPRESSIONS) {
    const entry = loc.release.files.get(loc.path + suffix);
    if (!entry) continue;
    const dir = loc.path.includes('/') ? loc.path.slice(0, loc.path.lastIndexOf('/') + 1) : '';
    const url = loc.release.acquireByHash
      ? `${loc.release.base}${dir}by-hash/SHA256/${entry.sha256}`
      : `${loc.release.base}${loc.path}${suffix}`;
    return { url, sha256: entry.sha256, size: entry.size, compression };
  }
  return undefined;
}

/** Downloads (or finds in the cache) the index file and returns its packages, parsing at most once per index hash. */
export async function loadIndex(
  loc: IndexLocation,
  cacheDir: string,
  say: (line: string) => void,
): Promise<{ index: CompactIndex; file: string; compression: Compression } | undefined> {
  const pick = pickIndexFile(loc);
  if (!pick) return undefined;
  const dir = join(cacheDir, 'dpkg');
  // Named by the digest the verified Release gives for the index: the compact form is only ever derived from text
  // that matched it, and a new index (new digest) gets a new file.
  const parsed = join(dir, 'parsed', `${pick.sha256}.bin`);
  const file = join(dir, 'indexes', `${pick.sha256}${pick.compression === 'none' ? '' : `.${pick.compression}`}`);
  const cached = await readIndexCache(parsed);
  if (cached) return { index: cached, file, compression: pick.compression };
  if (!(await verifyExisting(file, { size: pick.size, sha256: pick.sha256 }))) {
    say(`Get: ${pick.url} [${pick.size} B]`);
    await downloadFile({
      url: pick.url,
      dest: file,
      expected: { size: pick.size, sha256: pick.sha256 },
      what: `${loc.release.base}${loc.path}`,
    });
  }
  const text = await readIndexText(file, pick.compression);
  const index = await writeIndexCache(parsed, scanPackages(text));
  return { index, file, compression: pick.compression };
}

export async function readIndexText(file: string, compression: Compression): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of decompress(createReadStream(file, { highWaterMark: 1 << 20 }), compression, file, 'Packages')) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A one-pass scanner for Packages text that keeps only {@link INDEX_FIELDS} (the full deb822 parser builds a Map per
 * paragraph, which is several times slower on a 60k-package index). Description keeps its first line only.
 */
export function scanPackages(text: string): IndexRow[] {
  const rows: IndexRow[] = [];
  const index = new Map<string, number>(INDEX_FIELDS.map((f, i) => [f.toLowerCase(), i]));
  let row: IndexRow | null = null;
  let last = -1;
  let pos = 0;
  const n = text.length;
  while (pos <= n) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = n;
    if (end === pos) {
      if (row && row[0]) rows.push(row);
      row = null;
      last = -1;
    } else {
      const c = text.charCodeAt(pos);
      if (c === 32 || c === 9) {
        // Continuation: only relation fields may wrap in practice; Description's long text is dropped.
        if (last >= 0 && last !== F.Description) row![last] += ' ' + text.slice(pos, end).trim();
      } else if (c !== 35) {
        const colon = text.indexOf(':', pos);
        if (colon > pos && colon < end) {
          const i = index.get(text.slice(pos, colon).toLowerCase());
          if (i !== undefined) {
            row ??= new Array<string>(INDEX_FIELDS.length).fill('');
            row[i] = text.slice(colon + 1, end).trim();
            last = i;
          } else last = -1;
        }
      }
    }
    pos = end + 1;
  }
  if (row && row[0]) rows.push(row);
  return rows;
}
