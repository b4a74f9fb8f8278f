import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CompactIndex, INDEX_CACHE_FORMAT, readIndexCache, writeIndexCache } from './index-cache.js';
import { F, INDEX_FIELDS, loadIndex, scanPackages } from './packages-index.js';
import type { Release } from './release.js';

const TEXT = [
  'Package: a\nVersion: 1\nArchitecture: amd64\nDepends: b (>= 2), c | d\nProvides: v (= 1), w\nFilename: pool/a_1_amd64.deb\nSize: 10\nSHA256: aa\nDescription: first\n long text\n',
  'Package: b\nVersion: 2\nArchitecture: all\nProvides: v\nFilename: pool/b_2_all.deb\nSize: 20\nSHA256: bb\nDescription: second é\n',
  'Package: a\nVersion: 2\nArchitecture: amd64\nFilename: pool/a_2_amd64.deb\nSize: 30\nSHA256: cc\nDescription: third\n',
].join('\n');

describe('dpkg compact index cache', () => {
  it('round-trips every row and finds rows by name and by provided name, in index order', async () => {
    const rows = scanPackages(TEXT);
    const path = join(mkdtempSync(join(tmpdir(), 'olpi-')), 'x.bin');
    await writeIndexCache(path, rows);
    const index = (await readIndexCache(path))!;
    expect(index.size).toBe(3);
    expect(Array.from({ length: 3 }, (_, i) => index.row(i))).toEqual(rows);
    expect(index.row(1)[F.Description]).toBe('second é');
    expect(index.rowsFor('a')).toEqual([0, 2]);
    expect(index.rowsFor('v')).toEqual([0, 1]);
    expect(index.rowsFor('w')).toEqual([0]);
    expect(index.rowsFor('nothing')).toEqual([]);
    expect(CompactIndex.parse(readFileSync(path))!.row(2)).toEqual(rows[2]);
  });

  it('finds names whose row lists are longer than one read, among thousands of names', async () => {
    const text = Array.from({ length: 3000 }, (_, i) => `Package: p${i}\nVersion: 1\nArchitecture: all\nProvides: ${i % 150 === 0 ? 'mail-transport-agent' : `v${i}`}\n`).join('\n');
    const path = join(mkdtempSync(join(tmpdir(), 'olpi-')), 'x.bin');
    await writeIndexCache(path, scanPackages(text));
    const index = (await readIndexCache(path))!;
    expect(index.rowsFor('mail-transport-agent')).toEqual(Array.from({ length: 20 }, (_, k) => 150 * k));
    for (const i of [0, 1, 1499, 2999]) {
      expect(index.rowsFor(`p${i}`)).toEqual([i]);
      expect(index.row(index.rowsFor(`p${i}`)[0])[F.Package]).toBe(`p${i}`);
    }
    expect(index.rowsFor('v150')).toEqual([]);
    expect(index.rowsFor('p3000')).toEqual([]);
  });

  it('treats a truncated, corrupt or other-format file as absent', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'olpi-')), 'x.bin');
    const bytes = CompactIndex.encode(scanPackages(TEXT));
    writeFileSync(path, bytes.subarray(0, bytes.length - 1));
    expect(await readIndexCache(path)).toBeUndefined();
    const bumped = Buffer.from(bytes);
    bumped.writeUInt32LE(INDEX_CACHE_FORMAT + 1, 4);
    writeFileSync(path, bumped);
    expect(await readIndexCache(path)).toBeUndefined();
    writeFileSync(path, 'garbage');
    expect(await readIndexCache(path)).toBeUndefined();
    expect(CompactIndex.parse(Buffer.from(bytes.toString('latin1').replace(INDEX_FIELDS.join(','), INDEX_FIELDS.join(';')), 'latin1'))).toBeUndefined();
  });

  it('rebuilds a corrupt cache file from the verified index text', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'olpi-'));
    const sha256 = createHash('sha256').update(TEXT).digest('hex');
    mkdirSync(join(cache, 'dpkg', 'indexes'), { recursive: true });
    writeFileSync(join(cache, 'dpkg', 'indexes', sha256), TEXT);
    mkdirSync(join(cache, 'dpkg', 'parsed'), { recursive: true });
    const parsed = join(cache, 'dpkg', 'parsed', `${sha256}.bin`);
    writeFileSync(parsed, 'OLPI not really');
    const release = { base: 'http://unused.invalid/dists/x/', acquireByHash: false, files: new Map([['main/binary-amd64/Packages', { size: Buffer.byteLength(TEXT), sha256 }]]) } as unknown as Release;
    const loaded = (await loadIndex({ path: 'main/binary-amd64/Packages', release }, cache, () => {}))!;
    expect(loaded.index.rowsFor('b').map((i) => loaded.index.row(i)[F.Version])).toEqual(['2']);
    expect((await readIndexCache(parsed))!.size).toBe(3);
  });
});
