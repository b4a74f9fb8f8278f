import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveCacheDir, withFileLock } from './index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'testkit-lock-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('withFileLock', () => {
  it('runs holders of the same lock one after the other', async () => {
    const lock = join(dir, 'one.lock');
    const spans: [number, number][] = [];
    const hold = () =>
      withFileLock(lock, async () => {
        const start = performance.now();
        await sleep(150);
        spans.push([start, performance.now()]);
      });
    await Promise.all([hold(), hold(), hold()]);
    spans.sort((a, b) => a[0] - b[0]);
    expect(spans).toHaveLength(3);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
  });

  it('is released when its holder is killed with SIGKILL', async () => {
    const lock = join(dir, 'killed.lock');
    const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    if (!existsSync(dist)) throw new Error(`build the testkit first (npx tsc -b packages/testkit): ${dist} is missing`);
    const holder = execa('node', ['--input-type=module', '-e',
      `import { withFileLock } from ${JSON.stringify(dist)};
       await withFileLock(${JSON.stringify(lock)}, () => { console.log('held'); return new Promise(() => {}); });`], { buffer: false });
    await new Promise<void>((r) => holder.stdout!.once('data', () => r()));
    let acquired = false;
    const waiting = withFileLock(lock, async () => {
      acquired = true;
    });
    await sleep(300);
    expect(acquired).toBe(false);
    holder.kill('SIGKILL');
    await holder.catch(() => undefined);
    const started = performance.now();
    await waiting;
    expect(acquired).toBe(true);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('says who to wait for when the lock cannot be had in time', async () => {
    const lock = join(dir, 'busy.lock');
    await withFileLock(lock, async () => {
      await expect(withFileLock(lock, async () => undefined, 1)).rejects.toThrow(/could not lock .*busy\.lock within 1 s/);
    });
  });
});

describe('resolveCacheDir', () => {
  it('defaults to .cache/testkit at the monorepo root and obeys OSTREE_LAYER_TEST_CACHE', () => {
    const saved = process.env.OSTREE_LAYER_TEST_CACHE;
    try {
      delete process.env.OSTREE_LAYER_TEST_CACHE;
      const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
      expect(resolveCacheDir()).toBe(join(repoRoot, '.cache', 'testkit'));
      process.env.OSTREE_LAYER_TEST_CACHE = 'relative/cache';
      expect(resolveCacheDir()).toBe(resolve('relative/cache'));
      expect(resolveCacheDir({ cacheDir: '/x/y' })).toBe('/x/y');
    } finally {
      if (saved === undefined) delete process.env.OSTREE_LAYER_TEST_CACHE;
      else process.env.OSTREE_LAYER_TEST_CACHE = saved;
    }
  });
});
