// pacman's dependency strings and libalpm's satisfaction rules.
import { describe, expect, it } from 'vitest';
import { parseDep, satisfiesDep, transactionProblems, type TransactionPackage } from './dependencies.js';

const pkg = (name: string, version: string, extra: Partial<TransactionPackage> = {}): TransactionPackage => ({
  name, version, arch: 'x86_64', provides: [], depends: [], conflicts: [], origin: `${name}.pkg.tar.zst`, ...extra,
});

describe('pacman dependencies', () => {
  it('parses names, operators and optdepends descriptions', () => {
    expect(parseDep('libfoo>=2.0-1')).toEqual({ name: 'libfoo', op: '>=', version: '2.0-1' });
    expect(parseDep('sh')).toEqual({ name: 'sh' });
    expect(parseDep('python: for the scripts')).toEqual({ name: 'python', description: 'for the scripts' });
    expect(parseDep('a<1:2')).toEqual({ name: 'a', op: '<', version: '1:2' });
  });

  it('meets a dependency by name and version, or by a provision, where an unversioned one meets only an unversioned dependency', () => {
    const greet = pkg('greet', '1.0-2', { provides: [parseDep('hello=1.0'), parseDep('sayer')] });
    expect(satisfiesDep(greet, parseDep('greet>=1.0'))).toBe(true);
    // A dependency without pkgrel ignores the installed pkgrel, as alpm_pkg_vercmp does.
    expect(satisfiesDep(greet, parseDep('greet=1.0'))).toBe(true);
    expect(satisfiesDep(greet, parseDep('greet>1.0'))).toBe(false);
    expect(satisfiesDep(greet, parseDep('hello<2'))).toBe(true);
    expect(satisfiesDep(greet, parseDep('sayer'))).toBe(true);
    expect(satisfiesDep(greet, parseDep('sayer>=1'))).toBe(false);
  });

  it('finds unmet depends and declared conflicts between new and installed packages, not among installed ones', () => {
    const installed = [pkg('old', '1-1', { conflicts: [parseDep('ancient')] }), pkg('ancient', '1-1')];
    const added = [pkg('new', '2-1', { depends: [parseDep('old>=1'), parseDep('missing')], conflicts: [parseDep('old<2')] })];
    const problems = transactionProblems(installed, added);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain('depends on missing');
    expect(problems[1]).toMatch(/new 2-1 .* conflicts with old 1-1/);
    expect(transactionProblems(installed, [pkg('fine', '1-1', { depends: [parseDep('ancient')] })])).toEqual([]);
  });
});
