// pacman's version order against pacman's own `vercmp` (Debian's pacman-package-manager 6.0.2) on generated pairs.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { comparePacmanVersions, pacmanCompareVersions, PacmanVersionError, parsePacmanEvr } from './version.js';

/** A small deterministic generator (mulberry32): the same pairs on every run, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Versions built from the pieces that make vercmp interesting: digit runs with leading zeros, letters, separator runs, epochs, pkgrels. */
function generatePairs(count: number): Array<[string, string]> {
  const next = random(12);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const segment = () => pick(['0', '1', '2', '10', '007', '9', 'a', 'b', 'alpha', 'beta', 'rc', 'pre', 'Z', '']);
  const separator = () => pick(['.', '.', '.', '_', '+', '..', '~', '']);
  const version = () => {
    let v = segment() || '1';
    const n = Math.floor(next() * 4);
    for (let i = 0; i < n; i++) v += separator() + segment();
    if (next() < 0.4) v += '-' + pick(['1', '2', '1.1', '10', '0', '1a']);
    if (next() < 0.2) v = pick(['0', '1', '2', '']) + ':' + v;
    return v;
  };
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < count; i++) {
    const a = version();
    // Half of the pairs are near misses of each other, where the order is decided late.
    const b = next() < 0.5 ? version() : a.replace(/[0-9a-z.]$/, (c) => pick([c, '0', 'a', '.1', '']));
    pairs.push([a, b]);
  }
  return pairs;
}

/** Every pair through one shell run of the real vercmp (one line per pair). */
function realVercmp(pairs: Array<[string, string]>): number[] {
  const script = 'while IFS= read -r a && IFS= read -r b; do vercmp "$a" "$b"; done';
  const input = pairs.map(([a, b]) => `${a}\n${b}\n`).join('');
  return execFileSync('sh', ['-c', script], { input, encoding: 'utf8' }).trim().split('\n').map(Number);
}

describe('pacman version order', () => {
  it('agrees with the real vercmp on 400 generated pairs, both ways round', () => {
    const pairs = generatePairs(400);
    const swapped = pairs.map(([a, b]) => [b, a] as [string, string]);
    const expected = realVercmp([...pairs, ...swapped]);
    const ours = [...pairs, ...swapped].map(([a, b]) => Math.sign(comparePacmanVersions(a, b)));
    const disagreements = ours.flatMap((c, i) => (c === expected[i] ? [] : [`${[...pairs, ...swapped][i]!.join(' vs ')}: vercmp ${expected[i]}, ours ${c}`]));
    expect(disagreements).toEqual([]);
    // The generator is worth its name: every answer occurs.
    expect(new Set(expected)).toEqual(new Set([-1, 0, 1]));
  });

  it('agrees with the real vercmp on the cases its manual and test suite are about', () => {
    const pairs: Array<[string, string]> = [
      ['1.0a', '1.0'], ['1.0', '1.0.a'], ['1.0rc1', '1.0'], ['1.0', '1.0-5'], ['1:1.0', '2.0'], ['1.0..0', '1.0.0'],
      ['1.0_1', '1.0.1'], ['', '1'], ['', ''], ['a', '1'], ['1.1-1', '1.1-1.1'], ['0:1.0', '1.0'], [':1.0', '1.0'],
      ['1.0-1', '1.0-1a'], ['001', '1'], ['1.0~rc1', '1.0'],
    ];
    expect(pairs.map(([a, b]) => Math.sign(comparePacmanVersions(a, b)))).toEqual(realVercmp(pairs));
  });

  it('splits epoch, pkgver and pkgrel as libalpm does', () => {
    expect(parsePacmanEvr('2:1.0-3')).toEqual({ epoch: '2', version: '1.0', release: '3' });
    expect(parsePacmanEvr('1.0')).toEqual({ epoch: '0', version: '1.0' });
    expect(parsePacmanEvr('1.0-rc-2')).toEqual({ epoch: '0', version: '1.0-rc', release: '2' });
  });

  it('answers relations, refusing an unknown operator', () => {
    expect(pacmanCompareVersions('1.0', '<', '1.0.1').holds).toBe(true);
    expect(pacmanCompareVersions('1.0', '=', '1.0-7').holds).toBe(true);
    expect(pacmanCompareVersions('2.0', 'le', '1:0.1')).toEqual({ holds: true, compare: -1, warnings: [] });
    expect(() => pacmanCompareVersions('1', '~=', '2')).toThrow(PacmanVersionError);
  });
});
