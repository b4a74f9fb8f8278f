/**
 * databaseWithout judged by the real dpkg: the "current" database is what dpkg wrote installing three packages over a
 * base, the reference is what dpkg wrote installing only the ones that remain; our layer over the base must match it.
 */
import { existsSync } from 'node:fs';
import { cp, lstat, mkdir, readFile, readdir, readlink, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryTree, type PackageId } from '@ostree-layer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dpkgBackend } from './index.js';
import { FIXTURE_STATUS, applyLayerFiles, buildDeb, makeAdminDir, run, tempDir, type DebSpec } from './testing/debs.js';

const ADMIN = 'var/lib/dpkg';

const SMALL_BASE = `Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u7
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

`;

/** Two packages the real dpkg installs into the base, so that their `.list` files have paths to take over. */
const BASE_SPECS: DebSpec[] = [
  { name: 'basepkg-a', version: '1.0', files: { 'usr/share/basea/shared.txt': 'a from base\n', 'usr/share/basea/own.txt': 'a\n' }, md5sums: true },
  { name: 'basepkg-b', version: '1.0', files: { 'usr/share/baseb/shared.txt': 'b from base\n', 'usr/share/baseb/own.txt': 'b\n' }, md5sums: true },
];

const LAYERED_SPECS: DebSpec[] = [
  {
    name: 'taker-keep', version: '1:1.0-1', control: 'Replaces: basepkg-a\nDepends: libc6',
    files: {
      'usr/share/basea/shared.txt': 'a from taker\n', 'usr/bin/taker': { content: '#!/bin/sh\n', mode: 0o755 }, 'etc/taker.conf': 'x=1\n',
    },
    conffiles: ['/etc/taker.conf'],
    scripts: { postinst: '#!/bin/sh\nexit 0\n', prerm: '#!/bin/sh\nexit 0\n' },
  },
  {
    name: 'libgone1', version: '2.0-1', md5sums: true, control: 'Multi-Arch: same\nSection: libs\nReplaces: basepkg-b',
    files: { 'usr/lib/x86_64-linux-gnu/libgone.so.1': 'ELF-ish\n', 'usr/share/baseb/shared.txt': 'b from libgone\n' },
    scripts: { shlibs: 'libgone 1 libgone1 (>= 2.0)\n' },
  },
  {
    name: 'plain-tool', version: '3', arch: 'all', md5sums: true, control: 'Provides: tooling',
    files: { 'usr/share/plain/notes': 'n\n', 'usr/share/doc/plain-tool': { dir: true } },
  },
];

let dir: string;
let baseTree: string;
let currentTree: string;
const debs: Record<string, string> = {};

async function dpkg(root: string, args: string[]) {
  return run('dpkg', [`--root=${root}`, `--admindir=${join(root, ADMIN)}`, '--force-depends', '--force-script-chrootless', ...args], { maxBuffer: 1 << 26 });
}

/** A copy of the base tree (payloads and database) with `names` installed by the real dpkg. */
async function installed(name: string, names: string[]): Promise<string> {
  const root = join(dir, name);
  await cp(baseTree, root, { recursive: true, verbatimSymlinks: true });
  if (names.length) await dpkg(root, ['--install', ...names.map((n) => debs[n]!)]);
  return root;
}

/** What `ostree diff` says of two commits of these trees, below `dir`: added and modified paths, directories too. */
async function differences(from: string, to: string, dir: string): Promise<Map<string, 'added' | 'modified'>> {
  const out = new Map<string, 'added' | 'modified'>();
  const walk = async (rel: string) => {
    for (const name of await readdir(join(to, rel))) {
      const path = `${rel}/${name}`;
      const [now, before] = await Promise.all([lstat(join(to, path)), lstat(join(from, path)).catch(() => null)]);
      if (!before) out.set(path, 'added');
      else if (now.isFile() && (now.mode !== before.mode || !(await readFile(join(to, path))).equals(await readFile(join(from, path))))) out.set(path, 'modified');
      else if (now.isSymbolicLink() && (await readlink(join(to, path))) !== (await readlink(join(from, path)).catch(() => null))) out.set(path, 'modified');
      if (now.isDirectory()) await walk(path);
    }
  };
  await walk(dir);
  return out;
}

const query = (root: string, ...args: string[]) => run('dpkg-query', [`--admindir=${join(root, ADMIN)}`, ...args], { maxBuffer: 1 << 24 }).then((r) => r.stdout);

beforeAll(async () => {
  dir = await tempDir('dpkg-without-');
  let baseStatus = SMALL_BASE;
  if (existsSync(FIXTURE_STATUS)) baseStatus = await readFile(FIXTURE_STATUS, 'utf8');
  else console.warn('../shared/fixtures/dpkg/debian12-status is absent: using a one-package base status instead');
  for (const spec of [...BASE_SPECS, ...LAYERED_SPECS]) debs[spec.name] = await buildDeb(dir, spec);
  baseTree = join(dir, 'base');
  await makeAdminDir(join(baseTree, ADMIN), baseStatus);
  await dpkg(baseTree, ['--install', debs['basepkg-a']!, debs['basepkg-b']!]);
  currentTree = await installed('current', LAYERED_SPECS.map((s) => s.name));
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const CASES: Array<{ title: string; remove: PackageId[]; remain: string[] }> = [
  { title: 'a Multi-Arch: same package that took a base file over', remove: [{ name: 'libgone1', version: '2.0-1', arch: 'amd64' }], remain: ['taker-keep', 'plain-tool'] },
  { title: 'a package with a conffile and scripts that took a base file over', remove: [{ name: 'taker-keep', version: '1:1.0-1', arch: 'amd64' }], remain: ['libgone1', 'plain-tool'] },
  {
    title: 'two packages at once',
    remove: [{ name: 'plain-tool', version: '3', arch: 'all' }, { name: 'libgone1', version: '2.0-1', arch: 'amd64' }],
    remain: ['taker-keep'],
  },
];

describe.each(CASES)('databaseWithout removing $title', ({ remove, remain }) => {
  let ours: string;
  let ref: string;

  beforeAll(async () => {
    const tree = new DirectoryTree(currentTree);
    const location = await dpkgBackend.detect(tree);
    expect(location).toBe(`/${ADMIN}`);
    const database = await dpkgBackend.openDatabase(tree, location!);
    const files = await dpkgBackend.databaseWithout!({ tree, database, base: new DirectoryTree(baseTree), remove });
    expect(files.every((f) => f.path.startsWith(`/${ADMIN}/`))).toBe(true);
    // Told what differs from the base (as the engine learns it from ostree diff), it reads only that: same answer.
    const changed = await differences(baseTree, currentTree, `/${ADMIN}`);
    const told = await dpkgBackend.databaseWithout!({ tree, database, base: new DirectoryTree(baseTree), remove, changed });
    const shape = (list: typeof files) => list.map((f) => [f.path, f.type, f.mode, String(f.content ?? '')]).sort();
    expect(shape(told)).toEqual(shape(files));
    const tag = remove.map((r) => r.name).join('+');
    // The new tree: the base with our database layer over it (payload layers do not touch the database).
    ours = join(dir, `ours-${tag}`);
    await cp(baseTree, ours, { recursive: true, verbatimSymlinks: true });
    await applyLayerFiles(ours, files);
    ref = await installed(`ref-${tag}`, remain);
  }, 60_000);

  it('writes the status file dpkg writes for the remaining packages, byte for byte', async () => {
    expect(await readFile(join(ours, ADMIN, 'status'), 'utf8')).toBe(await readFile(join(ref, ADMIN, 'status'), 'utf8'));
    const fmt = ['-W', '-f', '${binary:Package} ${Version} ${db:Status-Abbrev}\n'];
    const listing = await query(ours, ...fmt);
    expect(listing).toBe(await query(ref, ...fmt));
    for (const r of remove) expect(listing).not.toMatch(new RegExp(`^${r.name}[: ]`, 'm'));
  });

  it('leaves the info/ files dpkg leaves, with the same content and modes', async () => {
    const names = (root: string) => readdir(join(root, ADMIN, 'info')).then((l) => l.sort());
    const mine = await names(ours);
    expect(mine).toEqual(await names(ref));
    for (const name of mine) {
      const [a, b] = [join(ours, ADMIN, 'info', name), join(ref, ADMIN, 'info', name)];
      expect(await readFile(a, 'utf8'), name).toBe(await readFile(b, 'utf8'));
      expect((await stat(a)).mode & 0o7777, `${name} mode`).toBe((await stat(b)).mode & 0o7777);
    }
    for (const r of remove) expect(mine.filter((n) => n.startsWith(`${r.name}.`) || n.startsWith(`${r.name}:`))).toEqual([]);
  });

  it('gives taken-over files back to the base package only when their taker is gone', async () => {
    const owner = async (root: string, path: string) => (await query(root, '-S', path)).trim().split(':')[0];
    expect(await owner(ours, '/usr/share/basea/shared.txt')).toBe(remain.includes('taker-keep') ? 'taker-keep' : 'basepkg-a');
    expect(await owner(ours, '/usr/share/baseb/shared.txt')).toBe(remain.includes('libgone1') ? 'libgone1' : 'basepkg-b');
  });

  it('passes dpkg --audit', async () => {
    const audit = await run('dpkg', [`--admindir=${join(ours, ADMIN)}`, '--audit']);
    expect(audit.stdout).toBe('');
  });
});

describe('databaseWithout refusals', () => {
  it('refuses a package that is not installed and a base package, naming it', async () => {
    const tree = new DirectoryTree(currentTree);
    const database = await dpkgBackend.openDatabase(tree, `/${ADMIN}`);
    const base = new DirectoryTree(baseTree);
    await expect(dpkgBackend.databaseWithout!({ tree, database, base, remove: [{ name: 'nope', version: '1', arch: 'amd64' }] }))
      .rejects.toThrow(/package nope:amd64 \(1\) is not in the dpkg database/);
    await expect(dpkgBackend.databaseWithout!({ tree, database, base, remove: [{ name: 'basepkg-a', version: '1.0', arch: 'amd64' }] }))
      .rejects.toThrow(/basepkg-a:amd64 .* is part of the base image/);
  });

  it('returns only the status file when nothing but a package without files of its own is removed', async () => {
    // Removing every layered package from a tree whose database equals the base's except for status gives just status.
    const root = join(dir, 'only-status');
    await cp(baseTree, root, { recursive: true, verbatimSymlinks: true });
    await mkdir(join(root, 'usr'), { recursive: true });
    await dpkg(root, ['--install', debs['plain-tool']!]);
    const tree = new DirectoryTree(root);
    const database = await dpkgBackend.openDatabase(tree, `/${ADMIN}`);
    const files = await dpkgBackend.databaseWithout!({ tree, database, base: new DirectoryTree(baseTree), remove: [{ name: 'plain-tool', version: '3', arch: 'all' }] });
    expect(files.map((f) => f.path)).toEqual([`/${ADMIN}/status`]);
    expect(String(files[0]!.content)).toBe(await readFile(join(baseTree, ADMIN, 'status'), 'utf8'));
  });
});
