/** rpm's version order, checked against rpm 4.18's own rpm.vercmp on thousands of generated pairs. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareEvrStrings, parseEvr, rpmCompareVersions, rpmvercmp, RpmVersionError } from './version.js';

/** Deterministic generator (mulberry32) so a failure reproduces. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generate(rand: () => number, alphabet: string[], maxLen: number): string {
  const n = 1 + Math.floor(rand() * maxLen);
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return s;
}

/** Runs rpm.vercmp over every pair in one rpm invocation. */
function rpmVercmp(pairs: Array<[string, string]>): number[] {
  const dir = mkdtempSync(join(tmpdir(), 'rpmvercmp-'));
  try {
    const file = join(dir, 'pairs');
    writeFileSync(file, pairs.map(([a, b]) => `${a}\t${b}`).join('\n') + '\n');
    const lua = `%{lua: for l in io.lines("${file}") do local a, b = l:match("^([^\\t]*)\\t(.*)$"); print(rpm.vercmp(a, b) .. "\\n") end}`;
    const out = execFileSync('rpm', ['--dbpath', dir, '--eval', lua], { encoding: 'utf8', maxBuffer: 1 << 26 });
    return out.split('\n').filter((l) => l !== '').map(Number);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('rpmvercmp', () => {
  it('orders the documented special cases', () => {
    expect(rpmvercmp('1.0~rc1', '1.0')).toBe(-1);
    expect(rpmvercmp('1.0^git1', '1.0')).toBe(1);
    expect(rpmvercmp('1.0^git1', '1.0.1')).toBe(-1);
    expect(rpmvercmp('1.010', '1.9')).toBe(1);
    expect(rpmvercmp('1.0a', '1.0.1')).toBe(-1);
    expect(rpmvercmp('2.0', '2_0')).toBe(0);
    expect(parseEvr('1:2.0-3')).toEqual({ epoch: '1', version: '2.0', release: '3' });
    expect(compareEvrStrings('1:1.0-1', '2.0-1')).toBe(1);
  });

  it('agrees with rpm.vercmp on 6000 generated version strings', () => {
    const rand = rng(42);
    const segs = ['0', '1', '2', '9', '10', '010', '00', '123', 'a', 'b', 'Z', 'rc', 'alpha', '.', '_', '+', '~', '^', '~~', '^^'];
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < 6000; i++) {
      const a = generate(rand, segs, 6);
      // Half the pairs share a prefix so that deep segments get compared, not just the first.
      const b = rand() < 0.5 ? a.slice(0, Math.floor(rand() * a.length)) + generate(rand, segs, 3) : generate(rand, segs, 6);
      pairs.push([a, b]);
    }
    const want = rpmVercmp(pairs);
    expect(want).toHaveLength(pairs.length);
    expect(new Set(want)).toEqual(new Set([-1, 0, 1]));
    const mismatches = pairs.filter(([a, b], i) => rpmvercmp(a, b) !== want[i]).map(([a, b]) => `${a} vs ${b}`);
    expect(mismatches).toEqual([]);
  });

  it('agrees with rpm.vercmp on 3000 generated epoch:version-release strings', () => {
    const rand = rng(7);
    const segs = ['0', '1', '2', '10', 'a', 'rc', '.', '~', '^', '-', ':'];
    const evr = () => (rand() < 0.3 ? `${Math.floor(rand() * 3)}:` : '') + generate(rand, segs, 5) + (rand() < 0.8 ? `-${generate(rand, ['1', '2', 'a', '.', '~', '^'], 3)}` : '');
    const pairs: Array<[string, string]> = Array.from({ length: 3000 }, () => [evr(), evr()]);
    const want = rpmVercmp(pairs);
    const mismatches = pairs.filter(([a, b], i) => compareEvrStrings(a, b) !== want[i]).map(([a, b]) => `${a} vs ${b}`);
    expect(mismatches).toEqual([]);
  });
});

describe('rpmCompareVersions (vercmp)', () => {
  it('refuses an empty version as rpm.vercmp does, and compares what rpm.vercmp compares', () => {
    const lua = (a: string, b: string) => {
      try {
        return Number(execFileSync('rpm', ['--eval', `%{lua: print(rpm.vercmp(${JSON.stringify(a)}, ${JSON.stringify(b)}))}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim());
      } catch {
        return 'refused';
      }
    };
    for (const [a, b] of [['', '1'], ['1', ''], ['1:', '1'], [':1', '1'], ['-1', '1'], ['x:1', '1'], ['1.0-1', '1.0'], ['1 2', '1']]) {
      const expected = lua(a, b);
      let ours: number | 'refused';
      try {
        ours = rpmCompareVersions(a, 'eq', b).compare;
      } catch (err) {
        expect(err).toBeInstanceOf(RpmVersionError);
        ours = 'refused';
      }
      expect(ours, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(expected);
    }
    expect(rpmCompareVersions('1.0', '<', '1.0').holds).toBe(false);
    expect(rpmCompareVersions('1.0', '<=', '1.0').holds).toBe(true);
  });
});
