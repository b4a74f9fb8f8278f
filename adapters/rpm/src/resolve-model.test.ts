/**
 * The rpm model against libsolv: one small universe with rich, file, weak, versioned, epoch and multilib relations
 * is solved by our pool (built through this adapter's model) and by `testsolv` (Debian's libsolv-tools) on the same
 * testcase; the install sets must match for every request, with and without weak dependencies.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Pool, solve, UnsatisfiableError, type PackageSpec } from '@ostree-layer/core';
import { parseRichDependency, type RichDependency } from './dependencies.js';
import { parseRpmRequest, providesOf, relationOf, requiresOf, rpmPoolOptions, rpmSolverPolicy, type DependencyLike } from './resolve-model.js';

interface U {
  name: string;
  evr: string;
  arch: string;
  installed?: boolean;
  req?: string[];
  prv?: string[];
  con?: string[];
  obs?: string[];
  rec?: string[];
  sup?: string[];
  files?: string[];
}

const UNIVERSE: U[] = [
  { name: 'glibc', evr: '2.38-1', arch: 'x86_64', installed: true, prv: ['libc.so.6()(64bit)'], files: ['/usr/lib64/libc.so.6'] },
  { name: 'bash', evr: '5.2-1', arch: 'x86_64', installed: true, prv: ['/bin/sh'], files: ['/usr/bin/bash'] },
  { name: 'libfoo', evr: '1.0-1', arch: 'x86_64', prv: ['libfoo.so.1()(64bit)'], req: ['libc.so.6()(64bit)'] },
  { name: 'libfoo', evr: '1.1-1', arch: 'x86_64', prv: ['libfoo.so.1()(64bit)'], req: ['libc.so.6()(64bit)'] },
  { name: 'libfoo', evr: '1.1-1', arch: 'i686', prv: ['libfoo.so.1'] },
  { name: 'helper', evr: '2-1', arch: 'noarch', files: ['/usr/bin/helper'], req: ['/bin/sh'] },
  { name: 'app', evr: '3-1', arch: 'x86_64', req: ['libfoo.so.1()(64bit)', 'libfoo >= 1.1', '/usr/bin/helper', '(fancy or plain)', 'rpmlib(RichDependencies) <= 4.12.0-1'], rec: ['extras'] },
  { name: 'app32', evr: '3-1', arch: 'i686', req: ['libfoo.so.1'] },
  { name: 'plain', evr: '1-1', arch: 'noarch' },
  { name: 'fancy', evr: '1-1', arch: 'noarch', req: ['missing-thing'] },
  { name: 'extras', evr: '1-1', arch: 'noarch', rec: ['(extras-data if app)'] },
  { name: 'extras-data', evr: '1-1', arch: 'noarch' },
  { name: 'addon', evr: '1-1', arch: 'noarch', sup: ['app'] },
  { name: 'python3', evr: '3.9-1', arch: 'x86_64', prv: ['python(abi) = 3.9'] },
  { name: 'python3', evr: '3.11-2', arch: 'x86_64', prv: ['python(abi) = 3.11'] },
  { name: 'python3', evr: '3.12-1', arch: 'x86_64', prv: ['python(abi) = 3.12'] },
  { name: 'pyapp', evr: '1-1', arch: 'noarch', req: ['(python3 >= 3.10 with python3 < 3.12)'] },
  { name: 'ep', evr: '1:1.0-1', arch: 'noarch' },
  { name: 'ep', evr: '2.0-1', arch: 'noarch' },
  { name: 'ep-user', evr: '1-1', arch: 'noarch', req: ['ep >= 1:0.5'] },
  { name: 'oldtool', evr: '1-1', arch: 'noarch', prv: ['tool-api'] },
  { name: 'newtool', evr: '2-1', arch: 'noarch', obs: ['oldtool < 2'], prv: ['tool-api = 2'] },
  { name: 'tool-user', evr: '1-1', arch: 'noarch', req: ['tool-api >= 2', '(newtool without oldtool)'] },
  { name: 'editor', evr: '1-1', arch: 'x86_64', req: ['(gui-lib unless headless)'], con: ['vi-only'] },
  { name: 'gui-lib', evr: '1-1', arch: 'x86_64', rec: ['theme'] },
  { name: 'theme', evr: '1-1', arch: 'noarch' },
  { name: 'vi-only', evr: '1-1', arch: 'noarch' },
  { name: 'both-editors', evr: '1-1', arch: 'noarch', req: ['editor', 'vi-only'] },
  { name: 'and-user', evr: '1-1', arch: 'noarch', req: ['(plain and (helper >= 2 or extras))'] },
];

const REQUESTS = [['app'], ['app32'], ['app', 'app32'], ['pyapp'], ['ep-user'], ['tool-user'], ['editor'], ['both-editors'], ['and-user'], ['ep'], ['libfoo.i686']];

const haveTestsolv = spawnSync('testsolv', ['-h']).error === undefined;
if (!haveTestsolv) console.warn('skipping the libsolv comparison: testsolv is missing (Debian package libsolv-tools; scripts/setup installs it)');

const dep = (text: string): DependencyLike => {
  if (text.startsWith('(')) return { name: text, rich: parseRichDependency(text, 'universe') };
  const [name, op, version] = text.split(' ');
  return op ? { name, op: op as DependencyLike['op'], version } : { name };
};

function spec(u: U): PackageSpec {
  const { requires, preRequires } = requiresOf((u.req ?? []).map(dep));
  return {
    name: u.name, version: u.evr, arch: u.arch, requires, preRequires,
    provides: [...providesOf([...(u.prv ?? []).map(dep), { name: u.name, op: '=', version: u.evr }]), ...(u.files ?? []).map((name) => ({ name }))],
    conflicts: (u.con ?? []).map(dep).map(relationOf), obsoletes: (u.obs ?? []).map(dep).map(relationOf),
    recommends: [
      ...(u.rec ?? []).map(dep).map(relationOf),
      // Supplements as the repository loader models them: a Recommends on the supplemented package.
      ...UNIVERSE.filter((s) => (s.sup ?? []).includes(u.name)).map((s) => [{ name: s.name, op: '=' as const, version: s.evr }]),
    ],
  };
}

function ours(request: string[], weak: boolean): string[] | null {
  const pool = new Pool(rpmPoolOptions('x86_64'));
  for (const u of UNIVERSE) pool.add(spec(u), u.installed === true);
  try {
    const tx = solve(pool, request.map(parseRpmRequest), { recommends: weak, policy: rpmSolverPolicy('x86_64') });
    return tx.install.map((s) => `${s.package.name}-${s.package.version}.${s.package.arch}`).sort();
  } catch (e) {
    if (e instanceof UnsatisfiableError) return null;
    throw e;
  }
}

/** libsolv's testcase spelling of a rich dependency ("|", "&", "<IF>", "<UNLESS>", "<ELSE>", "+" with, "-" without). */
function solvRich(node: RichDependency): string {
  switch (node.op) {
    case 'atom':
      return node.operator ? `${node.name} ${node.operator} ${node.version}` : node.name;
    case 'and': return `(${node.operands.map(solvRich).join(' & ')})`;
    case 'or': return `(${node.operands.map(solvRich).join(' | ')})`;
    case 'with': return `(${node.operands.map(solvRich).join(' + ')})`;
    case 'without': return `(${node.operands.map(solvRich).join(' - ')})`;
    case 'if':
    case 'unless':
      return `(${solvRich(node.left)} <${node.op.toUpperCase()}> ${solvRich(node.right)}${node.otherwise ? ` <ELSE> ${solvRich(node.otherwise)}` : ''})`;
  }
}

const solvDep = (text: string) => (text.startsWith('(') ? solvRich(parseRichDependency(text, 'universe')) : text);

function solvPkg(u: U): string[] {
  const [epoch, rest] = u.evr.includes(':') ? u.evr.split(':') : [undefined, u.evr];
  const [v, r] = rest.split('-');
  return [
    `#>=Pkg: ${u.name} ${epoch ? `${epoch}:` : ''}${v} ${r} ${u.arch}`,
    // rpmlib() is the rpm database's business: libsolv's testcase system does not provide it either.
    ...(u.req ?? []).filter((d) => !d.startsWith('rpmlib(')).map((d) => `#>=Req: ${solvDep(d)}`),
    ...[...(u.prv ?? []), ...(u.files ?? [])].map((d) => `#>=Prv: ${d}`),
    ...(u.con ?? []).map((d) => `#>=Con: ${solvDep(d)}`),
    ...(u.obs ?? []).map((d) => `#>=Obs: ${solvDep(d)}`),
    ...(u.rec ?? []).map((d) => `#>=Rec: ${solvDep(d)}`),
    ...(u.sup ?? []).map((d) => `#>=Sup: ${solvDep(d)}`),
  ];
}

function theirs(dir: string, request: string[], weak: boolean): string[] | null {
  const text = [
    'repo system 0 testtags <inline>',
    ...UNIVERSE.filter((u) => u.installed).flatMap(solvPkg),
    'repo available 0 testtags <inline>',
    ...UNIVERSE.filter((u) => !u.installed).flatMap(solvPkg),
    'system x86_64 rpm system',
    // libdnf sets this flag: only packages of the same colour (64-bit, 32-bit) obsolete each other, so multilib works.
    'poolflags implicitobsoleteusescolors',
    ...request.map((r) => `job install name ${r.replace('.', ' . ')}`),
    ...UNIVERSE.filter((u) => u.installed).map((u) => `job lock name ${u.name}`),
    ...(weak ? [] : ['solverflags ignorerecommended']),
    'result transaction,problems <inline>',
    '',
  ].join('\n');
  const file = join(dir, `${request.join('+')}-${weak}.t`);
  writeFileSync(file, text);
  const out = spawnSync('testsolv', [file], { encoding: 'utf8' }).stdout.split('\n');
  if (out.some((l) => l.startsWith('+problem'))) return null;
  return out
    .map((l) => /^\+install (\S+)-([^-]+)-([^-]+)\.([^.]+)@available$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]}-${m[2]}-${m[3]}.${m[4]}`)
    .sort();
}

describe.skipIf(!haveTestsolv && !process.env.CI)('rpm model agrees with libsolv (testsolv)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rpm-testsolv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const weak of [true, false]) {
    it(`same install sets for ${REQUESTS.length} requests, weak dependencies ${weak ? 'on' : 'off'}`, () => {
      const rows = REQUESTS.map((request) => ({ request: request.join(' '), ours: ours(request, weak), libsolv: theirs(dir, request, weak) }));
      const same = rows.filter((r) => JSON.stringify(r.ours) === JSON.stringify(r.libsolv)).length;
      const unsolvable = rows.filter((r) => r.libsolv === null).map((r) => r.request);
      console.log(`rpm model vs testsolv (weak ${weak}): ${same}/${rows.length} identical; unsolvable for both: ${unsolvable.join(', ')}`);
      expect(unsolvable).toEqual(['both-editors']);
      for (const r of rows) if (JSON.stringify(r.ours) !== JSON.stringify(r.libsolv)) console.log(`  ${r.request}: ours ${JSON.stringify(r.ours)} libsolv ${JSON.stringify(r.libsolv)}`);
      for (const r of rows) {
        // Known difference: with libdnf's colour flag, testsolv also installs the 64-bit sibling of a 32-bit library
        // nothing asked for; we (and `dnf install app32.i686` as users know it) install only what is required.
        const expected = r.request === 'app32' ? r.libsolv?.filter((p) => p !== 'libfoo-1.1-1.x86_64') : r.libsolv;
        expect(r.ours, `request ${r.request}`).toEqual(expected);
      }
      expect(same).toBe(rows.length - 1);
    });
  }

  it('requests resolve through rpm spellings', () => {
    expect(parseRpmRequest('libfoo.i686')).toEqual({ name: 'libfoo', arch: 'i686' });
    expect(parseRpmRequest('ep >= 1:1.0')).toEqual({ name: 'ep', op: '>=', version: '1:1.0' });
    expect(parseRpmRequest('libfoo.so.1()(64bit)')).toEqual({ name: 'libfoo.so.1()(64bit)' });
    expect(parseRpmRequest('python3.11')).toEqual({ name: 'python3.11' });
  });
});
