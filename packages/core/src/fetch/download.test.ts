import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VerificationError } from '../errors.js';
import { fetchAll } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'fetch-'));
const body = Buffer.alloc(300_000, 7);
writeFileSync(join(dir, 'pkg.deb'), body);
const sha256 = createHash('sha256').update(body).digest('hex');
const url = pathToFileURL(join(dir, 'pkg.deb')).href;
const dl = (over: object) => ({ url, size: body.length, sha256, fileName: 'pkg_1_all.deb', origin: 'test', ...over });

describe('fetchAll', () => {
  it('downloads, verifies and reuses a verified file from the cache', async () => {
    const cache = join(dir, 'c1');
    const [first] = await fetchAll([dl({})], { cacheDir: cache });
    expect(first.cached).toBe(false);
    expect(existsSync(join(cache, 'archives/pkg_1_all.deb'))).toBe(true);
    const [again] = await fetchAll([dl({})], { cacheDir: cache });
    expect(again.cached).toBe(true);
  });

  it('refuses a digest mismatch and a short file, leaving nothing under the final name', async () => {
    const cache = join(dir, 'c2');
    const bad = fetchAll([dl({ sha256: '0'.repeat(64) })], { cacheDir: cache, label: () => 'pkg 1' });
    await expect(bad).rejects.toThrow(VerificationError);
    await expect(bad).rejects.toThrow(new RegExp(`pkg 1: ${url} has SHA256 ${sha256}, but the signed metadata expects 0{64}`));
    await expect(fetchAll([dl({ size: body.length + 10 })], { cacheDir: cache })).rejects.toThrow(/truncated or incomplete: expected 300010 bytes, got 300000/);
    await expect(fetchAll([dl({ size: body.length - 10 })], { cacheDir: cache })).rejects.toThrow(/larger than the 299990 bytes/);
    expect(existsSync(join(cache, 'archives/pkg_1_all.deb'))).toBe(false);
    expect(readdirSync(join(cache, 'archives/partial'))).toEqual([]);
  });
});
