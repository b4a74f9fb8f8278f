import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { compareDebVersions, DebVersionError, DPKG_RELATION_NAMES, dpkgCompareVersions, formatDebVersion, parseDebVersion } from './version.js';

const run = promisify(execFile);

/** A small deterministic PRNG so a failing pair can be reproduced from the seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generate(r: () => number): string {
  const pick = (s: string) => s[Math.floor(r() * s.length)]!;
  const run = (chars: string, max: number) => Array.from({ length: 1 + Math.floor(r() * max) }, () => pick(chars)).join('');
  const part = (symbols: string) => {
    let s = run('0123456789', 2);
    for (let n = Math.floor(r() * 4); n > 0; n--) s += r() < 0.5 ? run('0019', 3) : run(`aZz${symbols}`, 2);
    return s;
  };
  const epoch = r() < 0.2 ? `${Math.floor(r() * 3)}:` : '';
  const upstream = part('.+~') + (r() < 0.15 ? `-${part('.+~')}` : '');
  const revision = r() < 0.6 || upstream.includes('-') ? `-${part('.+~')}` : '';
  return epoch + upstream + revision;
}

/** Mutates a version slightly so that pairs are often close (equal, ~ vs end, leading zeros). */
function neighbour(v: string, r: () => number): string {
  const edits = [(s: string) => s + '~', (s: string) => s.replace(/(\d)/, '0$1'), (s: string) => s + '.0', (s: string) => s + 'a', (s: string) => s.replace(/-/, '+'), (s: string) => s];
  return edits[Math.floor(r() * edits.length)]!(v);
}

describe('parseDebVersion', () => {
  it('splits epoch, upstream and the last-hyphen revision', () => {
    expect(parseDebVersion('2:1.0-rc1-3')).toEqual({ epoch: 2, upstream: '1.0-rc1', revision: '3' });
    expect(parseDebVersion('1.0')).toEqual({ epoch: 0, upstream: '1.0', revision: '' });
    expect(formatDebVersion(parseDebVersion('0:1.0-1'))).toBe('1.0-1');
  });
  it.each(['', '1.0-', 'a:1', ':1', '1:', '1.0_1', '1.0-1:2', '1 0'])('refuses %j', (v) => {
    expect(() => parseDebVersion(v)).toThrow(DebVersionError);
  });
});

describe('compareDebVersions', () => {
  it('orders known cases the dpkg way', () => {
    const sorted = ['1.0~~', '1.0~~a', '1.0~', '1.0', '1.0-1', '1.0a', '1.0+', '1.0.1', '1.00.2', '1:0.1'];
    for (let i = 0; i + 1 < sorted.length; i++) expect(compareDebVersions(sorted[i]!, sorted[i + 1]!), `${sorted[i]} < ${sorted[i + 1]}`).toBe(-1);
    expect(compareDebVersions('1.0', '1.0-0')).toBe(0);
    expect(compareDebVersions('1.001', '1.1')).toBe(0);
    expect(compareDebVersions('99999999999999999999', '99999999999999999998')).toBe(1);
  });

  it('agrees with dpkg --compare-versions on 3000 generated pairs', async () => {
    const r = rng(20261126);
    const pairs: [string, string][] = [];
    for (let i = 0; i < 3000; i++) {
      const a = generate(r);
      pairs.push([a, r() < 0.5 ? neighbour(a, r) : generate(r)]);
    }
    const dir = await mkdtemp(join(tmpdir(), 'debver-'));
    try {
      // One shell per batch: each dpkg call costs ~1.5 ms, so batches run side by side.
      const script = 'while read -r a b; do if dpkg --compare-versions "$a" lt "$b"; then echo -1; ' +
        'elif dpkg --compare-versions "$a" eq "$b"; then echo 0; else echo 1; fi; done < "$1"';
      const batches = 3;
      const size = Math.ceil(pairs.length / batches);
      const outputs = await Promise.all(Array.from({ length: batches }, async (_, b) => {
        const file = join(dir, `pairs${b}`);
        await writeFile(file, pairs.slice(b * size, (b + 1) * size).map((p) => p.join(' ')).join('\n') + '\n');
        const { stdout } = await run('bash', ['-c', script, 'batch', file], { maxBuffer: 1 << 24 });
        return stdout.trim().split('\n').map(Number);
      }));
      const expected = outputs.flat();
      expect(expected).toHaveLength(pairs.length);
      const mismatches = pairs.map((p, i) => [p[0], p[1], expected[i], compareDebVersions(p[0], p[1])] as const).filter((m) => m[2] !== m[3]);
      expect(mismatches.slice(0, 10)).toEqual([]);
      expect(new Set(expected).size).toBe(3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('dpkgCompareVersions', () => {
  it('answers every relation as dpkg --compare-versions does, empty and tolerated versions included', async () => {
    const versions = ['', '<unknown>', '1.0', '1.0-1', '0:0_-0', '3_4', 'a1', '1.0/../x', '+1:2', '0:0', '1.0~rc1'];
    const cases: Array<[string, string, string]> = [];
    for (const a of versions) for (const b of versions) for (const op of DPKG_RELATION_NAMES) cases.push([a, op, b]);
    const dir = await mkdtemp(join(tmpdir(), 'debrel-'));
    try {
      const file = join(dir, 'cases');
      await writeFile(file, cases.map((c) => c.join('|')).join('\n') + '\n');
      const script = `while IFS='|' read -r a op b; do dpkg --compare-versions "$a" "$op" "$b" 2>/dev/null; echo $?; done < "$1"`;
      const { stdout } = await run('bash', ['-c', script, 'cases', file], { maxBuffer: 1 << 24 });
      const expected = stdout.trim().split('\n').map(Number);
      expect(expected).toHaveLength(cases.length);
      const mismatches = cases
        .map(([a, op, b], i) => [a, op, b, expected[i], dpkgCompareVersions(a, op, b).holds ? 0 : 1] as const)
        .filter((m) => m[3] !== m[4]);
      expect(mismatches.slice(0, 10)).toEqual([]);
      expect(new Set(expected)).toEqual(new Set([0, 1]));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('warns where dpkg warns and refuses where dpkg refuses', () => {
    expect(dpkgCompareVersions('3_4', 'lt', '4').warnings).toEqual(['version "3_4": invalid character in upstream version']);
    expect(dpkgCompareVersions('1.0', 'lt', '2').warnings).toEqual([]);
    for (const bad of ['1:', ':1', '1 2', '1-', 'x:1', '-1:2']) expect(() => dpkgCompareVersions(bad, 'lt', '1'), bad).toThrow(DebVersionError);
    expect(() => dpkgCompareVersions('1', 'less', '2')).toThrow(/unknown relation "less"/);
  });
});
