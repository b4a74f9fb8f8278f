import { describe, expect, it } from 'vitest';
import { formatRelation, parseRelation, parseRelationField, RelationSyntaxError, replacesOwner, satisfies } from './dependencies.js';

describe('relationship fields', () => {
  it('parses alternatives, constraints, qualifiers, arch lists and profiles', () => {
    expect(parseRelationField('libc6 (>= 2.36) | musl:amd64, perl:any,\n python3:native (<< 3.12~), foo [amd64 !i386] <!nocheck>')).toEqual([
      [{ name: 'libc6', constraint: { op: '>=', version: '2.36' } }, { name: 'musl', archQualifier: 'amd64' }],
      [{ name: 'perl', archQualifier: 'any' }],
      [{ name: 'python3', archQualifier: 'native', constraint: { op: '<<', version: '3.12~' } }],
      [{ name: 'foo', archList: ['amd64', '!i386'], profiles: ['!nocheck'] }],
    ]);
    expect(parseRelationField(undefined)).toEqual([]);
    expect(parseRelationField('a, , b')).toHaveLength(2);
  });

  it('reads the obsolete < and > as <= and >=, as dpkg does', () => {
    expect(parseRelation('a (< 1)').constraint).toEqual({ op: '<=', version: '1' });
    expect(parseRelation('a(>1)').constraint).toEqual({ op: '>=', version: '1' });
    expect(formatRelation(parseRelation('a:any(>=1:2)'))).toBe('a:any (>= 1:2)');
  });

  it.each(['', 'Bad_Name', 'a (>= )', 'a (~> 1)', 'a (>= 1', 'a b'])('refuses %j', (text) => {
    expect(() => parseRelation(text)).toThrow(RelationSyntaxError);
  });

  it('checks version constraints with dpkg order', () => {
    expect(satisfies({ op: '>=', version: '2.36' }, '2.36-9+deb12u7')).toBe(true);
    expect(satisfies({ op: '<<', version: '2' }, '1:1.0')).toBe(false);
    expect(satisfies({ op: '=', version: '1.0' }, '1.0-0')).toBe(true);
    expect(satisfies({ op: '>>', version: '1.0' }, '1.0+b1')).toBe(true);
    expect(satisfies({ op: '<=', version: '1.0~rc1' }, '1.0')).toBe(false);
    expect(satisfies(undefined, 'anything')).toBe(true);
  });

  it('lets Replaces overwrite only the named package at a matching version and architecture', () => {
    const owner = { name: 'hello', version: '1:1.0-2', arch: 'amd64' };
    expect(replacesOwner(parseRelationField('hello (<< 1:2)'), owner)).toBe(true);
    // The epoch makes 1:1.0-2 newer than 2: real dpkg refuses this overwrite too (see database.test.ts setup).
    expect(replacesOwner(parseRelationField('hello (<< 2)'), owner)).toBe(false);
    expect(replacesOwner(parseRelationField('hello-virtual'), owner)).toBe(false);
    expect(replacesOwner(parseRelationField('hello:i386'), owner)).toBe(false);
    expect(replacesOwner(parseRelationField('other, hello:amd64'), owner)).toBe(true);
  });
});
