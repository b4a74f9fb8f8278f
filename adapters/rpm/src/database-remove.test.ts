/**
 * databaseWithout judged by rpm 4.18: the current database is what `rpm -i --justdb` wrote for three packages over a
 * base, the reference is what it wrote for the two that remain; our database over the base must answer like it.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { buildRpm, type RpmSpec } from '@ostree-layer/testkit';
import { DirectoryTree, type LayerFile } from '@ostree-layer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rpmBackend } from './index.js';

const DBPATH = '/usr/lib/sysimage/rpm';
const SPECS: RpmSpec[] = [
  {
    name: 'basepkg', version: '1.0', provides: ['base-cap = 1'],
    files: [{ path: '/usr/share/base/a.txt', content: 'a from base\n' }, { path: '/usr/share/base/b.txt', content: 'b from base\n' }, { path: '/usr/share/base/own.txt', content: 'own\n' }],
  },
  {
    name: 'taker-gone', version: '2.0', release: '3', provides: ['gone-cap = 2'], requires: ['basepkg'],
    files: [
      { path: '/usr/share/base/a.txt', content: 'a from taker-gone\n' }, { path: '/usr/share/gone', dir: true },
      { path: '/usr/share/gone/only.txt', content: 'only\n' }, { path: '/usr/bin/gone', content: '#!/bin/sh\n', mode: 0o755 },
      { path: '/usr/share/plain/notes', content: 'notes from taker-gone\n' },
    ],
  },
  {
    name: 'taker-keep', version: '1.5', epoch: 1, provides: ['keep-cap'], requires: ['basepkg >= 1.0'],
    files: [{ path: '/usr/share/base/b.txt', content: 'b from taker-keep\n' }, { path: '/etc/keep.conf', content: 'k=1\n', config: 'noreplace' }],
  },
  { name: 'plain', version: '3', files: [{ path: '/usr/share/plain', dir: true }, { path: '/usr/share/plain/notes', content: 'n\n' }] },
];

let work: string;
let ours: string;
let ref: string;
const rpmFile: Record<string, string> = {};

function rpm(root: string, ...args: string[]): string {
  return execFileSync('rpm', ['--root', root, '--dbpath', DBPATH, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** rpm's answer when it fails (exit 1 for "not owned", "no package provides"…): its stdout and stderr. */
function rpmFails(root: string, ...args: string[]): string {
  try {
    rpm(root, ...args);
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    expect(e.status).toBe(1);
    return e.stdout + e.stderr;
  }
  throw new Error(`rpm ${args.join(' ')} succeeded`);
}

function copyTree(from: string, to: string): string {
  cpSync(from, to, { recursive: true, verbatimSymlinks: true });
  return to;
}

function applyLayer(root: string, files: LayerFile[]): void {
  for (const f of files) {
    const dest = join(root, f.path);
    mkdirSync(dirname(dest), { recursive: true });
    if (f.source) copyFileSync(f.source, dest);
    else writeFileSync(dest, f.content ?? '');
  }
}

/** Index rows keyed by package name, so databases with different hnums compare; Installtid differs by construction. */
function indexDump(root: string): Record<string, string[]> {
  const db = new Database(join(root, DBPATH, 'rpmdb.sqlite'), { readonly: true });
  try {
    const names = new Map<number, string>();
    for (const r of db.prepare("SELECT key, hnum FROM 'Name'").all() as Array<{ key: string; hnum: number }>) names.set(r.hnum, r.key);
    const out: Record<string, string[]> = {};
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table' AND sql LIKE '%(key %'").all() as Array<{ name: string }>).map((r) => r.name);
    for (const t of tables.filter((t) => t !== 'Installtid')) {
      const rows = db.prepare(`SELECT key, hnum, idx FROM '${t}'`).all() as Array<{ key: string | Buffer; hnum: number; idx: number }>;
      out[t] = rows.map((r) => `${names.get(r.hnum) ?? `orphan#${r.hnum}`} ${Buffer.isBuffer(r.key) ? r.key.toString('hex') : r.key} ${r.idx}`).sort();
    }
    return out;
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rpm-without-'));
  for (const spec of SPECS) rpmFile[spec.name] = await buildRpm(join(work, 'rpms'), spec);
  // The base: a real install of basepkg, files and database.
  const base = join(work, 'base');
  mkdirSync(base);
  rpm(base, '--initdb');
  rpm(base, '-i', '--nodeps', '--noscripts', rpmFile.basepkg!);
  const justdb = (root: string, names: string[]) => rpm(root, '-i', '--justdb', '--nodeps', '--noscripts', '--replacefiles', ...names.map((n) => rpmFile[n]!));
  const current = copyTree(base, join(work, 'current'));
  // taker-gone comes last, so it also takes a file over from a layered package (plain).
  justdb(current, ['taker-keep', 'plain']);
  justdb(current, ['taker-gone']);
  expect(rpm(current, '-q', '--qf', '[%{FILESTATES:fstate} %{FILENAMES}\\n]', 'plain')).toMatch(/^replaced \/usr\/share\/plain\/notes$/m);
  ref = copyTree(base, join(work, 'ref'));
  justdb(ref, ['taker-keep', 'plain']);

  const tree = new DirectoryTree(current);
  const location = await rpmBackend.detect(tree);
  expect(location).toBe(DBPATH);
  const database = await rpmBackend.openDatabase(tree, location!);
  const files = await rpmBackend.databaseWithout!({ tree, database, base: new DirectoryTree(base), remove: [{ name: 'taker-gone', version: '2.0-3', arch: 'noarch' }] });
  expect(files.map((f) => f.path)).toContain(`${DBPATH}/rpmdb.sqlite`);
  // The new tree: the base, the remaining packages' payloads, our database.
  ours = copyTree(base, join(work, 'ours'));
  for (const name of ['taker-keep', 'plain']) {
    execFileSync('sh', ['-c', 'rpm2cpio "$1" | cpio -idmu --quiet', 'x', rpmFile[name]!], { cwd: ours });
  }
  applyLayer(ours, files);
  for (const f of files) await f.dispose?.();
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('databaseWithout, checked by rpm 4.18', () => {
  it('rpm -qa lists the base package and the two that remain, as rpm itself records them', () => {
    const qa = (root: string) => rpm(root, '-qa', '--qf', '%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\\n').trim().split('\n').sort();
    expect(qa(ours)).toEqual(['basepkg-0:1.0-1.noarch', 'plain-0:3-1.noarch', 'taker-keep-1:1.5-1.noarch']);
    expect(qa(ours)).toEqual(qa(ref));
  });

  it('the removed package owns and provides nothing any more', () => {
    expect(rpm(join(work, 'current'), '-qf', '--qf', '%{NAME}\\n', '/usr/share/gone/only.txt').trim()).toBe('taker-gone');
    // rpm -qf looks the path up in the database first and, finding no owner, stats it outside --root: ENOENT here.
    expect(rpmFails(ours, '-qf', '/usr/share/gone/only.txt')).toMatch(/only\.txt(: No such file or directory| is not owned by any package)/);
    expect(rpm(ours, '-q', '--qf', '%{NAME}\\n', '--whatprovides', '/usr/share/base/own.txt').trim()).toBe('basepkg');
    expect(rpmFails(ours, '-q', '--whatprovides', 'gone-cap')).toMatch(/no package provides gone-cap/);
    expect(rpm(ours, '-q', '--qf', '%{NAME}\\n', '--whatrequires', 'basepkg').trim()).toBe('taker-keep');
    expect(rpm(ours, '-q', '--qf', '%{NAME}\\n', '--whatprovides', 'keep-cap').trim()).toBe('taker-keep');
  });

  it('a file only the removed package had taken over (from the base or a layered package) is its owner\'s again; one a remaining package took stays replaced', () => {
    const states = (root: string) => rpm(root, '-q', '--qf', '[%{FILESTATES:fstate} %{FILENAMES}\\n]', 'basepkg');
    expect(states(ours)).toMatch(/^normal \/usr\/share\/base\/a\.txt$/m);
    expect(states(ours)).toMatch(/^replaced \/usr\/share\/base\/b\.txt$/m);
    expect(states(ours)).toBe(states(ref));
    const plainStates = (root: string) => rpm(root, '-q', '--qf', '[%{FILESTATES:fstate} %{FILENAMES}\\n]', 'plain');
    expect(plainStates(ours)).toMatch(/^normal \/usr\/share\/plain\/notes$/m);
    expect(plainStates(ours)).toBe(plainStates(ref));
    const owner = (root: string, path: string) => rpm(root, '-qf', '--qf', '%{NAME}\\n', path).trim();
    expect(owner(ours, '/usr/share/base/a.txt')).toBe('basepkg');
    expect(owner(ours, '/usr/share/base/b.txt')).toBe(owner(ref, '/usr/share/base/b.txt'));
  });

  it('index rows equal the ones rpm keeps for the remaining packages', () => {
    const mine = indexDump(ours);
    const theirs = indexDump(ref);
    expect(Object.keys(mine).sort()).toEqual(Object.keys(theirs).sort());
    for (const table of Object.keys(theirs)) expect(mine[table], table).toEqual(theirs[table]);
    expect(JSON.stringify(mine)).not.toContain('taker-gone');
    expect(JSON.stringify(mine)).not.toContain('orphan#');
  });

  it('rpm -V --nomtime passes for the base and the remaining packages over their payloads', () => {
    // A replaced file is reported as information only ("(replaced)"), with exit status 0.
    const report = rpm(ours, '-V', '--nomtime', '--nodeps', 'basepkg', 'taker-keep', 'plain').trim().split('\n').filter(Boolean);
    expect(report.filter((l) => !/\(replaced\)$/.test(l))).toEqual([]);
    expect(report.join('\n')).not.toContain('a.txt');
  });

  it('rpm --rebuilddb succeeds on a copy and keeps every remaining package', () => {
    const copy = join(work, 'rebuild');
    mkdirSync(join(copy, DBPATH), { recursive: true });
    cpSync(join(ours, DBPATH), join(copy, DBPATH), { recursive: true });
    rpm(copy, '--rebuilddb');
    expect(rpm(copy, '-qa', '--qf', '%{NAME}\\n').trim().split('\n').sort()).toEqual(['basepkg', 'plain', 'taker-keep']);
  });

  it('the written database passes sqlite\'s integrity and foreign-key checks', () => {
    const db = new Database(join(ours, DBPATH, 'rpmdb.sqlite'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('foreign_key_check')).toEqual([]);
      expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
    } finally {
      db.close();
    }
  });

  it('decodes only the removed headers and the owners of their files: a header that stays untouched is copied byte for byte', async () => {
    // taker-keep shares no file name with taker-gone. Its blob is made undecodable here; an uninstall that read every
    // header would fail on it, one that reads what changes copies it as it is.
    const current = copyTree(join(work, 'current'), join(work, 'current-broken'));
    const dbFile = join(current, DBPATH, 'rpmdb.sqlite');
    const garbage = Buffer.from('not an rpm header');
    const rw = new Database(dbFile);
    try {
      const hnum = rw.prepare("SELECT hnum FROM 'Name' WHERE key = 'taker-keep'").pluck().get() as number;
      rw.prepare("UPDATE 'Packages' SET blob = ? WHERE hnum = ?").run(garbage, hnum);
      rw.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      rw.close();
    }
    const tree = new DirectoryTree(current);
    const database = await rpmBackend.openDatabase(tree, DBPATH);
    const files = await rpmBackend.databaseWithout!({ tree, database, base: new DirectoryTree(join(work, 'base')), remove: [{ name: 'taker-gone', version: '2.0-3', arch: 'noarch' }] });
    try {
      const out = new Database(files.find((f) => f.path === `${DBPATH}/rpmdb.sqlite`)!.source!, { readonly: true });
      try {
        const keep = out.prepare("SELECT blob FROM 'Packages' WHERE hnum = (SELECT hnum FROM 'Name' WHERE key = 'taker-keep')").pluck().get() as Buffer;
        expect(Buffer.compare(keep, garbage)).toBe(0);
        expect(out.prepare("SELECT count(*) FROM 'Name' WHERE key = 'taker-gone'").pluck().get()).toBe(0);
      } finally {
        out.close();
      }
    } finally {
      for (const f of files) await f.dispose?.();
    }
  });

  it('refuses a package that is not installed and a base package, naming it', async () => {
    const tree = new DirectoryTree(join(work, 'current'));
    const database = await rpmBackend.openDatabase(tree, DBPATH);
    const base = new DirectoryTree(join(work, 'base'));
    await expect(rpmBackend.databaseWithout!({ tree, database, base, remove: [{ name: 'nope', version: '1-1', arch: 'noarch' }] }))
      .rejects.toThrow(/package nope-1-1\.noarch is not installed/);
    await expect(rpmBackend.databaseWithout!({ tree, database, base, remove: [{ name: 'basepkg', version: '1.0-1', arch: 'noarch' }] }))
      .rejects.toThrow(/basepkg-1\.0-1\.noarch is part of the base image/);
  });
});
