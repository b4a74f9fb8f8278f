import { describe, expect, it } from 'vitest';
import { UnsatisfiableError } from './problem.js';
import type { Alternative, Relation, RichRelation } from './relation.js';
import { formatRelation } from './relation.js';
import { solve } from './solver.js';
import { parseAlternative, universe } from './universe.js';

const atom = (text: string): RichRelation => ({ op: 'atom', alt: parseAlternative(text) });
const names = (pool: ReturnType<typeof universe>, requests: string[]): string[] =>
  solve(pool, requests.map(parseAlternative))
    .install.map((s) => s.package.name)
    .sort();

/** Adds one package with rich relations to a universe written in the text notation. */
function withRich(text: string, name: string, rich: { requires?: Relation[]; conflicts?: Relation[]; recommends?: Relation[] }) {
  const pool = universe(text, { unversionedProvidesMatchAny: true });
  pool.add({ name, version: '1', arch: 'all', ...rich });
  return pool;
}

describe('rich (boolean) dependencies', () => {
  const base = `
    a 1
    b 1
    c 1
    d 1`;

  it('"A if C" needs A only when C is installed', () => {
    const req = { requires: [{ op: 'if', then: atom('a'), cond: atom('b') } as Relation] };
    expect(names(withRich(base, 'p', req), ['p'])).toEqual(['p']);
    expect(names(withRich(base, 'p', req), ['p', 'b'])).toEqual(['a', 'b', 'p']);
  });

  it('"A if C else B" and "A unless C" choose by the condition', () => {
    const ifElse = { requires: [{ op: 'if', then: atom('a'), cond: atom('b'), else: atom('c') } as Relation] };
    expect(names(withRich(base, 'p', ifElse), ['p'])).toEqual(['c', 'p']);
    expect(names(withRich(base, 'p', ifElse), ['p', 'b'])).toEqual(['a', 'b', 'p']);
    const unless = { requires: [{ op: 'unless', then: atom('a'), cond: atom('d') } as Relation] };
    expect(names(withRich(base, 'p', unless), ['p'])).toEqual(['a', 'p']);
    expect(names(withRich(base, 'p', unless), ['p', 'd'])).toEqual(['d', 'p']);
  });

  it('"A with B" needs one package providing both', () => {
    const text = `
      only-a 5 ; provides: feature-a
      both 1 ; provides: feature-a, feature-b
      only-b 5 ; provides: feature-b`;
    const req = { requires: [{ op: 'with', args: [atom('feature-a'), atom('feature-b')] } as Relation] };
    expect(names(withRich(text, 'p', req), ['p'])).toEqual(['both', 'p']);
    const without = { requires: [{ op: 'without', args: [atom('feature-a'), atom('feature-b')] } as Relation] };
    expect(names(withRich(text, 'p', without), ['p'])).toEqual(['only-a', 'p']);
  });

  it('"and" / "or" combine, and a rich Conflicts only bites on the whole condition', () => {
    const andOr = { requires: [{ op: 'and', args: [atom('a'), { op: 'or', args: [atom('b'), atom('c')] }] } as Relation] };
    expect(names(withRich(base, 'p', andOr), ['p'])).toEqual(['a', 'b', 'p']);
    const conflicts = { conflicts: [{ op: 'and', args: [atom('a'), atom('b')] } as Relation] };
    expect(names(withRich(base, 'p', conflicts), ['p', 'a'])).toEqual(['a', 'p']);
    expect(() => solve(withRich(base, 'p', conflicts), ['p', 'a', 'b'].map(parseAlternative))).toThrow(UnsatisfiableError);
  });

  it('a rich Recommends is followed when possible', () => {
    const rec = { recommends: [{ op: 'or', args: [atom('nosuch'), atom('c')] } as Relation] };
    expect(names(withRich(base, 'p', rec), ['p'])).toEqual(['c', 'p']);
  });

  it('prints rich relations in rpm spelling', () => {
    const rpmAlt = (a: Alternative): string => (a.op ? `${a.name} ${a.op} ${a.version}` : a.name);
    const rel: Relation = { op: 'if', then: atom('a (>= 2)'), cond: { op: 'or', args: [atom('b'), atom('c')] } };
    expect(formatRelation(rel, rpmAlt)).toBe('(a >= 2 if (b or c))');
  });
});
