import { describe, expect, it } from 'vitest';
import { mapBounded } from './concurrency.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('mapBounded', () => {
  it('keeps input order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapBounded([30, 10, 20, 5, 1], 2, async (ms) => {
      peak = Math.max(peak, ++running);
      await sleep(ms);
      running--;
      return ms * 2;
    });
    expect(out).toEqual([60, 20, 40, 10, 2]);
    expect(peak).toBe(2);
  });

  it('rejects only after every started call has settled, and starts no new one after a failure', async () => {
    const finished: string[] = [];
    const started: string[] = [];
    const run = mapBounded(['fails-fast', 'slow', 'never'], 2, async (item) => {
      started.push(item);
      if (item === 'fails-fast') {
        await sleep(5);
        throw new Error('first failure');
      }
      await sleep(80);
      finished.push(item);
      return item;
    });
    await expect(run).rejects.toThrow('first failure');
    // The slow worker was still running when the first one failed: the rejection waited for it.
    expect(finished).toEqual(['slow']);
    expect(started).toEqual(['fails-fast', 'slow']);
  });

  it('reports the first failure when several fail', async () => {
    const run = mapBounded([1, 2], 2, async (n) => {
      await sleep(n * 20);
      throw new Error(`failure ${n}`);
    });
    await expect(run).rejects.toThrow('failure 1');
  });
});
