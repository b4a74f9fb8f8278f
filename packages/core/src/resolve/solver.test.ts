import { describe, expect, it } from 'vitest';
import { ResolutionError } from '../errors.js';
import type { Pool } from './pool.js';
import { UnsatisfiableError } from './problem.js';
import { solve, type SolveOptions } from './solver.js';
import { parseAlternative, universe } from './universe.js';

/** Installs `requests` and returns "name version" in install order. */
function install(pool: Pool, requests: string[], options?: SolveOptions): string[] {
  return solve(pool, requests.map(parseAlternative), options).install.map((s) => `${s.package.name} ${s.package.version}`);
}

function failure(pool: Pool, requests: string[], options?: SolveOptions): UnsatisfiableError {
  try {
    solve(pool, requests.map(parseAlternative), options);
  } catch (e) {
    expect(e).toBeInstanceOf(UnsatisfiableError);
    return e as UnsatisfiableError;
  }
  throw new Error('expected the request to fail');
}

describe('solve: ordinary cases', () => {
  it('installs a simple chain dependencies-first', () => {
    const pool = universe(`
      a 1 ; requires: b
      b 1 ; requires: c
      c 1
      unrelated 1`);
    expect(install(pool, ['a'])).toEqual(['c 1', 'b 1', 'a 1']);
  });

  it('takes the first satisfiable alternative, falling back when it conflicts with the base', () => {
    const text = `
      a 1 ; requires: x | y
      x 1 ; conflicts: old
      y 1`;
    expect(install(universe(text), ['a'])).toEqual(['x 1', 'a 1']);
    expect(install(universe(text + '\nold 1 @base'), ['a'])).toEqual(['y 1', 'a 1']);
  });

  it('respects a Conflicts written by a base package', () => {
    const pool = universe(`
      keeper 1 @base ; conflicts: x
      a 1 ; requires: x | y
      x 1
      y 1`);
    expect(install(pool, ['a'])).toEqual(['y 1', 'a 1']);
  });

  it('picks among several virtual providers by priority, and uses one the base already has', () => {
    const text = `
      mailer 1 ; requires: mail-transport-agent
      exim 4 ; provides: mail-transport-agent
      postfix 3 ; provides: mail-transport-agent ; priority: 600
      nullmailer 2 ; provides: mail-transport-agent`;
    expect(install(universe(text), ['mailer'])).toEqual(['postfix 3', 'mailer 1']);
    expect(install(universe(text + '\nnullmailer 2 @base ; provides: mail-transport-agent'), ['mailer'])).toEqual(['mailer 1']);
  });

  it('prefers the real package over a virtual provider of the same name', () => {
    const pool = universe(`
      a 1 ; requires: awk
      awk 1
      gawk 5 ; provides: awk ; priority: 900`);
    expect(install(pool, ['a'])).toEqual(['awk 1', 'a 1']);
  });

  it('honours version ranges and versioned provides (Debian: unversioned provides do not count)', () => {
    const pool = universe(`
      a 1 ; requires: b (>= 2), b (<< 4), v (>= 2)
      b 1
      b 2
      b 3
      b 4
      b 5
      p 1 ; provides: v
      q 1 ; provides: v (= 3)`);
    expect(install(pool, ['a']).sort()).toEqual(['a 1', 'b 3', 'q 1']);
    // rpm: an unversioned Provides satisfies every versioned requirement.
    const rpmish = universe(`
      a 1 ; requires: v (>= 2)
      p 1 ; provides: v`, { unversionedProvidesMatchAny: true });
    expect(install(rpmish, ['a'])).toEqual(['p 1', 'a 1']);
  });

  it('satisfies a versioned request and reports requests the base already satisfies', () => {
    const pool = universe(`
      tool 1
      tool 2
      tool 3
      present 1 @base`);
    const tx = solve(pool, ['tool (<< 3)', 'present'].map(parseAlternative));
    expect(tx.install.map((s) => `${s.package.name} ${s.package.version}`)).toEqual(['tool 2']);
    expect(tx.satisfiedByBase.map((r) => r.name)).toEqual(['present']);
  });

  it('installs only one version of a name', () => {
    const pool = universe(`
      a 1 ; requires: lib (>= 1)
      b 1 ; requires: lib (<< 2)
      lib 1
      lib 2`);
    expect(install(pool, ['a', 'b']).sort()).toEqual(['a 1', 'b 1', 'lib 1']);
  });

  it('lets packages of one name coexist when the backend says so (Multi-Arch: same)', () => {
    const text = `
      app 1 amd64 ; requires: libz:amd64, libz:i386
      libz 1 amd64
      libz 1 i386`;
    expect(() => install(universe(text), ['app'])).toThrow(ResolutionError);
    const pool = universe(text, { mayCoexist: (a, b) => a.arch !== b.arch });
    expect(install(pool, ['app']).length).toBe(3);
  });

  it('never picks a package whose architecture the system cannot run', () => {
    const pool = universe(`
      a 1 amd64 ; requires: helper
      helper 2 arm64
      helper 1 amd64`, { installable: (p) => p.arch !== 'arm64' });
    expect(install(pool, ['a'])).toEqual(['helper 1', 'a 1']);
  });

  it('does not pull packages nothing requires (minimal install)', () => {
    const pool = universe(`
      a 1 ; requires: x | y
      b 1 ; requires: y
      x 1
      y 1
      extra 1 ; requires: a`);
    expect(install(pool, ['a', 'b']).sort()).toEqual(['a 1', 'b 1', 'y 1']);
  });
});

describe('solve: weak dependencies', () => {
  const text = `
    a 1 ; requires: b ; recommends: docs, broken, gone
    b 1
    docs 1 ; requires: b
    broken 1 ; requires: missing
    other 1`;
  it('installs installable recommends and skips the rest without failing', () => {
    const tx = solve(universe(text), [parseAlternative('a')]);
    expect(tx.install.map((s) => s.package.name).sort()).toEqual(['a', 'b', 'docs']);
    expect(tx.install.find((s) => s.package.name === 'docs')?.reason).toBe('recommends');
    expect(tx.install.find((s) => s.package.name === 'b')?.reason).toBe('dependency');
  });
  it('skips recommends when turned off', () => {
    expect(install(universe(text), ['a'], { recommends: false }).sort()).toEqual(['a 1', 'b 1']);
  });
  it('skips a recommended package that conflicts with the base', () => {
    const pool = universe(text.replace('docs 1 ; requires: b', 'docs 1 ; conflicts: keeper') + '\nkeeper 1 @base');
    expect(install(pool, ['a']).sort()).toEqual(['a 1', 'b 1']);
  });
});

describe('solve: decision order', () => {
  // x's group is reached before y's single requirement is met in apt's depth-first order, after it in libsolv's.
  const groupMetElsewhere = `
    app 1 ; requires: x | z1, y | z2
    x 1 ; requires: cron | systemd-sysv
    y 1 ; requires: systemd-sysv
    cron 1
    systemd-sysv 1
    z1 1
    z2 1`;
  const names = (pool: Pool, options?: SolveOptions): string[] =>
    solve(pool, [parseAlternative('app')], options).install.map((s) => s.package.name).sort();

  it('breadth-first (default) meets a group with what another path already chose', () => {
    expect(names(universe(groupMetElsewhere))).toEqual(['app', 'systemd-sysv', 'x', 'y']);
    expect(names(universe(groupMetElsewhere), { policy: { order: 'breadth-first' } })).toEqual(['app', 'systemd-sysv', 'x', 'y']);
  });

  it('depth-first follows each chosen package before the next requirement, taking the first alternative', () => {
    expect(names(universe(groupMetElsewhere), { policy: { order: 'depth-first' } })).toEqual(['app', 'cron', 'systemd-sysv', 'x', 'y']);
  });

  it("depth-first takes a package's recommends before its parent's next requirement", () => {
    const pool = universe(`
      app 1 ; requires: x | z1, y | z2
      x 1 ; recommends: binfmt-support | systemd
      y 1 ; requires: systemd
      binfmt-support 1
      systemd 1
      z1 1
      z2 1`);
    expect(names(pool)).toEqual(['app', 'systemd', 'x', 'y']);
    expect(names(pool, { policy: { order: 'depth-first' } })).toEqual(['app', 'binfmt-support', 'systemd', 'x', 'y']);
  });

  it('depth-first does not count a package only implied by propagation as already chosen', () => {
    // web's single-candidate requirements are both implied the moment web is chosen; apt marks gst-good first and,
    // not having reached soup3 yet, takes the group's first alternative.
    const pool = universe(`
      app 1 ; requires: web | z
      web 1 ; requires: gst-good, soup3
      gst-good 1 ; requires: soup2 | soup3
      soup2 1
      soup3 1
      z 1`);
    expect(names(pool)).toEqual(['app', 'gst-good', 'soup3', 'web']);
    expect(names(pool, { policy: { order: 'depth-first' } })).toEqual(['app', 'gst-good', 'soup2', 'soup3', 'web']);
  });

  it("depth-first meets a package's own requirements before its recommends", () => {
    const pool = universe(`
      app 1 ; requires: y | z ; recommends: libsoup2 | libsoup3
      y 1 ; requires: libsoup3
      libsoup2 1
      libsoup3 1
      z 1`);
    expect(names(pool, { policy: { order: 'depth-first' } })).toEqual(['app', 'libsoup3', 'y']);
  });

  it('depth-first still backtracks out of a wrong first choice', () => {
    const pool = universe(`
      a 1 ; requires: x | y
      x 1 ; requires: deep1
      deep1 1 ; requires: deep2
      deep2 1 ; conflicts: w
      y 1
      b 1 ; requires: q | r
      q 1 ; requires: w
      r 1 ; requires: s
      s 1 ; conflicts: deep2
      w 1`);
    const tx = solve(pool, ['a', 'b'].map(parseAlternative), { policy: { order: 'depth-first' } });
    expect(tx.install.map((s) => s.package.name).sort()).toEqual(['a', 'b', 'q', 'w', 'y']);
    expect(tx.stats.conflicts).toBeGreaterThan(0);
  });
});

describe('solve: ordering and cycles', () => {
  it('orders a dependency cycle with pre-requirements first', () => {
    const pool = universe(`
      top 1 ; requires: a
      a 1 ; requires: b
      b 1 ; requires: c
      c 1 ; pre: a`);
    const order = install(pool, ['top']);
    expect(order.indexOf('a 1')).toBeLessThan(order.indexOf('c 1'));
    expect(order[order.length - 1]).toBe('top 1');
    expect(order.sort()).toEqual(['a 1', 'b 1', 'c 1', 'top 1']);
  });
});

describe('solve: search', () => {
  it('backtracks when the first greedy choice turns out wrong', () => {
    // "a" is decided first and takes x, which rules out w and so q; b's other choice r needs s, which conflicts with
    // x's own dependency deep2. Only learning that x is impossible leaves y and q.
    const pool = universe(`
      a 1 ; requires: x | y
      x 1 ; requires: deep1
      deep1 1 ; requires: deep2
      deep2 1 ; conflicts: w
      y 1
      b 1 ; requires: q | r
      q 1 ; requires: w
      r 1 ; requires: s
      s 1 ; conflicts: deep2
      w 1`);
    const tx = solve(pool, ['a', 'b'].map(parseAlternative));
    expect(tx.install.map((s) => s.package.name).sort()).toEqual(['a', 'b', 'q', 'w', 'y']);
    expect(tx.stats.conflicts).toBeGreaterThan(0);
  });

  it('proves a pigeon-hole instance unsatisfiable and solves the one that fits', () => {
    const build = (pigeons: number, holes: number): Pool => {
      const lines: string[] = [];
      for (let i = 0; i < pigeons; i++) {
        lines.push(`pigeon${i} 1 ; requires: ${Array.from({ length: holes }, (_, j) => `h${j}p${i}`).join(' | ')}`);
        for (let j = 0; j < holes; j++) {
          const others = Array.from({ length: pigeons }, (_, k) => k).filter((k) => k !== i);
          lines.push(`h${j}p${i} 1 ; provides: hole${j}` + (others.length ? ` ; conflicts: ${others.map((k) => `h${j}p${k}`).join(', ')}` : ''));
        }
      }
      return universe(lines.join('\n'));
    };
    const requests = (n: number): string[] => Array.from({ length: n }, (_, i) => `pigeon${i}`);
    const started = Date.now();
    const err = failure(build(7, 6), requests(7));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err.problems[0].kind).toBe('combination');
    expect(err.message).toMatch(/pigeon\d requires/);
    const fits = install(build(6, 6), requests(6));
    expect(fits.filter((n) => n.startsWith('h')).length).toBe(6);
  });
});

describe('solve: failures explain themselves', () => {
  it('names the chain to a base package that would have to change', () => {
    const pool = universe(`
      libc6 2.36-9 amd64 @base
      htop 3.2-1 amd64 ; requires: libc6 (>= 2.38)
      libc6 2.38-1 amd64`);
    const err = failure(pool, ['htop']);
    expect(err).toBeInstanceOf(ResolutionError);
    expect(err.exitCode).toBe(7);
    expect(err.message).toContain(
      'htop → libc6 (>= 2.38): installed base has libc6 2.36-9, and base packages cannot change in a layered install',
    );
    expect(err.problems[0].kind).toBe('base-locked');
    expect(err.problems[0].chain.map((s) => s.relation ?? s.package?.name)).toEqual(['htop', 'libc6 (>= 2.38)']);
    expect(JSON.parse(JSON.stringify(err)).problems[0].reason).toMatch(/installed base has libc6 2\.36-9/);
  });

  it('names the base package when no candidate exists at all, through a longer chain', () => {
    const pool = universe(`
      libc6 2.36-9 @base
      app 1 ; requires: libapp
      libapp 1 ; requires: libc6 (>= 2.38)`);
    expect(failure(pool, ['app']).message).toContain(
      'app → libapp → libc6 (>= 2.38): nothing available provides it; installed base has libc6 2.36-9',
    );
  });

  it('reports a conflict with the base', () => {
    const pool = universe(`
      bar 1 @base
      foo 1 ; conflicts: bar`);
    expect(failure(pool, ['foo']).message).toContain('foo conflicts with bar (from the base)');
  });

  it('reports a conflict between two requested packages', () => {
    const pool = universe(`
      foo 1 ; requires: libfoo
      libfoo 1 ; conflicts: bar
      bar 1`);
    const err = failure(pool, ['foo', 'bar']);
    expect(err.message).toMatch(/libfoo conflicts with bar \(requested\)|bar .*conflicts|conflicts with libfoo/);
  });

  it('explains every alternative of a dependency that cannot be met', () => {
    const pool = universe(`
      keeper 1 @base
      a 1 ; requires: x | y
      x 1 ; conflicts: keeper
      y 1 ; requires: missing (>= 2)
      missing 1`);
    const err = failure(pool, ['a']);
    expect(err.message).toContain('a → x | y → x 1: x conflicts with keeper (from the base)');
    expect(err.message).toContain('a → x | y → y 1 → missing (>= 2): nothing available provides it');
    expect(err.problems.map((p) => p.kind).sort()).toEqual(['conflicts', 'nothing-provides']);
  });

  it('explains two requests that need different versions of one name', () => {
    const pool = universe(`
      a 1 ; requires: lib (>= 2)
      b 1 ; requires: lib (<< 2)
      lib 1
      lib 2`);
    expect(failure(pool, ['a', 'b']).message).toContain(
      'b → lib (<< 2): only one version of lib can be installed, and lib 2 is needed (needed by a)',
    );
  });

  it('reports an unknown name and an obsoleted base package', () => {
    expect(failure(universe('a 1'), ['nosuch']).message).toContain('nosuch: nothing available provides it');
    const pool = universe(`
      oldtool 1 @base
      newtool 2 ; obsoletes: oldtool`);
    expect(failure(pool, ['newtool']).message).toContain('newtool obsoletes oldtool 1 from the base');
  });
});
