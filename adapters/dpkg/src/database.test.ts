import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryTree, type LayeredPackage, type PackageEntry } from '@ostree-layer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDeb, type DebPackage } from './archive.js';
import { DpkgDatabase, findDatabase } from './database.js';
import { dpkgBackend } from './index.js';
import { DPKG_TMPFILES, EXTENDED_STATES } from './native-tools.js';
import { FIXTURE_STATUS, applyLayerFiles, buildDeb, makeAdminDir, run, tempDir, type DebSpec } from './testing/debs.js';

const MINIMAL_STATUS = `Package: base-files
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system.

Package: libc6
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

const SPECS: DebSpec[] = [
  {
    name: 'hello-layer', version: '1:1.0-2', compression: 'xz',
    control: 'Installed-Size: 12\nMulti-Arch: foreign\nDepends: libc6 (>= 2.36)\nHomepage: https://example.com/hello',
    files: {
      'etc/hello.conf': 'greeting=hi\n',
      'usr/bin/hello': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
      'usr/bin/hello2': { hardlink: 'usr/bin/hello' },
      'usr/bin/hi': { symlink: 'hello' },
      'usr/share/doc/hello-layer/README': 'hello docs\n',
      'usr/share/hello/shared.txt': 'v1\n',
    },
    conffiles: ['/etc/hello.conf'],
    scripts: { postinst: '#!/bin/sh\nexit 0\n', prerm: '#!/bin/sh\nexit 0\n' },
  },
  {
    name: 'libmulti1', version: '2.0-1', compression: 'zstd', md5sums: true,
    control: 'Multi-Arch: same\nSection: libs\nPre-Depends: libc6 (>= 2.17)',
    files: { 'usr/lib/x86_64-linux-gnu/libmulti.so.1': 'ELF-ish\n', 'usr/share/doc/libmulti1/copyright': 'MIT\n' },
    scripts: { shlibs: 'libmulti 1 libmulti1 (>= 2.0)\n', triggers: 'activate-noawait ldconfig\n' },
  },
  {
    name: 'tool-gz', version: '0.9~beta1', compression: 'gzip', md5sums: true,
    control: 'Essential: no\nPriority: optional\nBuilt-Using: gcc-12 (= 12.2.0-14)',
    files: { 'etc/tool/tool.cfg': 'a=1\n', 'usr/sbin/toold': { content: 'bin', mode: 0o750 } },
    conffiles: ['/etc/tool/tool.cfg'],
  },
  {
    name: 'plain-none', version: '3', compression: 'none',
    control: 'Replaces: hello-layer (<< 1:2)\nBreaks: hello-layer (<< 1:2)',
    files: { 'usr/share/hello/shared.txt': 'v2 from plain\n', 'usr/share/plain/notes': 'n\n' },
  },
  {
    name: 'meta-dirs', version: '5', arch: 'all', compression: 'gzip', control: 'Depends: tool-gz',
    files: { 'usr/share/doc/meta-dirs': { dir: true } },
  },
];
const TAKEN: Record<string, Record<string, string[]>> = { 'plain-none': { 'hello-layer': ['/usr/share/hello/shared.txt'] } };

let dir: string;
let treeRoot: string;
let ours: string;
let ref: string;
let refRoot: string;
let pkgs: DebPackage[];
let baseStatus: string;

async function entriesOf(pkg: DebPackage): Promise<PackageEntry[]> {
  const out: PackageEntry[] = [];
  for await (const { entry } of pkg.payload()) out.push(entry);
  return out;
}

/** dpkg with an admin dir: --admindir must come after --root, which would otherwise reset it to ROOT/var/lib/dpkg. */
async function dpkg(admin: string, args: string[], root?: string) {
  return run('dpkg', [...(root ? [`--root=${root}`] : []), `--admindir=${admin}`, ...args], { maxBuffer: 1 << 26 });
}

beforeAll(async () => {
  dir = await tempDir('dpkg-db-');
  if (existsSync(FIXTURE_STATUS)) baseStatus = await readFile(FIXTURE_STATUS, 'utf8');
  else {
    console.warn('../shared/fixtures/dpkg/debian12-status is absent: using a two-package base status instead');
    baseStatus = MINIMAL_STATUS;
  }
  const files = await Promise.all(SPECS.map((s) => buildDeb(dir, s)));
  pkgs = await Promise.all(files.map((f) => openDeb(f)));

  // The reference: the real dpkg installs the same packages into a copy of the same base database.
  ref = join(dir, 'ref-admin');
  refRoot = join(dir, 'ref-root');
  await makeAdminDir(ref, baseStatus);
  await mkdir(refRoot);
  await dpkg(ref, ['--force-depends', '--unpack', files[0]!], refRoot);
  await dpkg(ref, ['--force-depends', '--install', ...files.slice(1)], refRoot);

  // Ours: the database lives in /usr as on an OSTree deployment; /var/lib/dpkg points there like a converted rootfs.
  treeRoot = join(dir, 'tree');
  ours = join(treeRoot, 'usr/lib/sysimage/dpkg');
  await makeAdminDir(ours, baseStatus);
  await mkdir(join(treeRoot, 'var/lib'), { recursive: true });
  await symlink('../../usr/lib/sysimage/dpkg', join(treeRoot, 'var/lib/dpkg'));
  const tree = new DirectoryTree(treeRoot);
  const location = await dpkgBackend.detect(tree);
  expect(location).toBe('/usr/lib/sysimage/dpkg');
  const database = await dpkgBackend.openDatabase(tree, location!);
  const added: LayeredPackage[] = [];
  for (const pkg of pkgs) {
    added.push({ package: pkg, entries: await entriesOf(pkg), takenOver: new Map(Object.entries(TAKEN[pkg.id.name] ?? {})) });
  }
  const layer = await dpkgBackend.writeDatabase({ tree, database, added });
  // Besides the database: the files that point the tree's own dpkg and apt at it (native-tools.ts).
  const outside = layer.filter((f) => !f.path.startsWith('/usr/lib/sysimage/dpkg/')).map((f) => f.path);
  expect(outside.sort()).toEqual(['/etc/apt/apt.conf.d/50ostree-layer', DPKG_TMPFILES, EXTENDED_STATES].sort());
  await applyLayerFiles(treeRoot, layer);
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('writeDatabase against the real dpkg', () => {
  it('writes the same status file dpkg writes (conffile hashes of unpacked packages aside)', async () => {
    const refStatus = await readFile(join(ref, 'status'), 'utf8');
    const ourStatus = await readFile(join(ours, 'status'), 'utf8');
    // dpkg --unpack records "newconffile" until configure; a layered conffile is in place, so we record its hash.
    const md5 = (await run('md5sum', [join(dir, 'hello-layer-src/etc/hello.conf')])).stdout.split(' ')[0];
    expect(ourStatus).toBe(refStatus.replace(' /etc/hello.conf newconffile', ` /etc/hello.conf ${md5}`));
    expect(ourStatus.startsWith(baseStatus.split('\n\n')[0]!)).toBe(true);
  });

  it('writes the info/ files dpkg writes, byte for byte', async () => {
    const names = (d: string) => readdir(join(d, 'info')).then((l) => l.sort());
    expect(await names(ours)).toEqual(await names(ref));
    for (const name of await names(ref)) {
      expect(await readFile(join(ours, 'info', name), 'utf8'), name).toBe(await readFile(join(ref, 'info', name), 'utf8'));
      expect((await stat(join(ours, 'info', name))).mode & 0o7777, `${name} mode`).toBe((await stat(join(ref, 'info', name))).mode & 0o7777);
    }
    expect(await readdir(join(ours, 'info'))).toContain('libmulti1:amd64.list');
  });

  it('is read back by dpkg-query -W and -L as dpkg itself records it', async () => {
    const fmt = ['-W', '-f', '${binary:Package} ${Version} ${db:Status-Abbrev}\n'];
    const w = (admin: string) => run('dpkg-query', [`--admindir=${admin}`, ...fmt], { maxBuffer: 1 << 24 }).then((r) => r.stdout);
    const listing = await w(ours);
    expect(listing).toBe(await w(ref));
    expect(listing).toContain('hello-layer 1:1.0-2 iU \n');
    expect(listing).toContain('libmulti1:amd64 2.0-1 ii \n');
    for (const name of ['hello-layer', 'libmulti1', 'tool-gz', 'plain-none']) {
      const l = (admin: string) => run('dpkg-query', [`--admindir=${admin}`, '-L', name]).then((r) => r.stdout);
      expect(await l(ours), name).toBe(await l(ref));
    }
    const owner = await run('dpkg-query', [`--admindir=${ours}`, '-S', '/usr/share/hello/shared.txt']);
    expect(owner.stdout.trim()).toBe('plain-none: /usr/share/hello/shared.txt');
  });

  it('passes dpkg --audit with only the unconfigured package reported', async () => {
    const audit = (admin: string) => dpkg(admin, ['--audit']).then((r) => r.stdout, (e: { stdout: string }) => e.stdout);
    const out = await audit(ours);
    expect(out).toBe(await audit(ref));
    expect(out).toMatch(/unpacked but not yet configured[\s\S]*hello-layer/);
    expect(out.match(/^ \S+/gm)).toEqual([' hello-layer']);
  });

  it('passes dpkg --verify over the extracted payloads, and catches a changed file', async () => {
    const root = join(dir, 'root');
    await mkdir(root);
    for (const pkg of pkgs) await run('dpkg-deb', ['-x', pkg.file, root]);
    // The later package's copy of the taken-over file wins, as in a real install.
    await run('dpkg-deb', ['-x', pkgs[3]!.file, root]);
    const verified = await dpkg(ours, ['--verify', 'libmulti1', 'tool-gz', 'plain-none'], root);
    expect(verified.stdout).toBe('');
    // dpkg 1.21 exits 0 even when it reports changes: the report is the outcome.
    await writeFile(join(root, 'etc/tool/tool.cfg'), 'a=2\n');
    await writeFile(join(root, 'usr/lib/x86_64-linux-gnu/libmulti.so.1'), 'tampered\n');
    const changed = await dpkg(ours, ['--verify', 'tool-gz', 'libmulti1'], root);
    // dpkg reports the packages in no fixed order.
    expect(changed.stdout.trim().split('\n').sort()).toEqual([
      '??5??????   /usr/lib/x86_64-linux-gnu/libmulti.so.1',
      '??5?????? c /etc/tool/tool.cfg',
    ].sort());
  });
});

describe('taking files over from a base package', () => {
  it('rewrites the base owner\'s .list exactly as dpkg does and leaves every other base file alone', async () => {
    const refB = join(dir, 'refB-admin');
    const rootB = join(dir, 'refB-root');
    await makeAdminDir(refB, MINIMAL_STATUS);
    await mkdir(rootB);
    await dpkg(refB, ['--force-depends', '--unpack', pkgs[0]!.file], rootB);
    // Our base is what dpkg wrote after the first install; the reference goes on with the real install of the second.
    const treeB = join(dir, 'treeB');
    await cp(refB, join(treeB, 'var/lib/dpkg'), { recursive: true });
    await dpkg(refB, ['--force-depends', '--install', pkgs[3]!.file], rootB);

    const tree = new DirectoryTree(treeB);
    const location = await dpkgBackend.detect(tree);
    expect(location).toBe('/var/lib/dpkg');
    const database = await dpkgBackend.openDatabase(tree, location!);
    const plain = pkgs[3]!;
    expect(dpkgBackend.mayOverwrite(plain, { name: 'hello-layer', version: '1:1.0-2', arch: 'amd64' })).toBe(true);
    expect(dpkgBackend.mayOverwrite(plain, { name: 'hello-layer', version: '1:2.0-1', arch: 'amd64' })).toBe(false);
    const layer = await dpkgBackend.writeDatabase({
      tree, database,
      added: [{ package: plain, entries: await entriesOf(plain), takenOver: new Map([['hello-layer', ['/usr/share/hello/shared.txt']]]) }],
    });
    expect(layer.map((f) => f.path).sort()).toEqual([
      '/var/lib/dpkg/info/hello-layer.list', '/var/lib/dpkg/info/plain-none.list', '/var/lib/dpkg/info/plain-none.md5sums', '/var/lib/dpkg/status',
    ]);
    await applyLayerFiles(treeB, layer);
    const ours = join(treeB, 'var/lib/dpkg');
    for (const name of [...(await readdir(join(refB, 'info'))), '../status']) {
      expect(await readFile(join(ours, 'info', name), 'utf8'), name).toBe(await readFile(join(refB, 'info', name), 'utf8'));
    }
    expect(dpkgBackend.stateNote!(pkgs[0]!)).toMatch(/postinst not run; recorded as "install ok unpacked"/);
    expect(dpkgBackend.stateNote!(plain)).toBeUndefined();
  });
});

describe('a package the status file still lists', () => {
  it('replaces its paragraph, even out of dpkg\'s order, and puts a new package where dpkg would', async () => {
    // tool-gz removed with its configuration kept, recorded after libc6 (not where dpkg would sort it).
    const leftover = 'Package: tool-gz\nStatus: deinstall ok config-files\nPriority: optional\nSection: misc\nInstalled-Size: 1\nMaintainer: Test <test@example.org>\nArchitecture: amd64\nVersion: 0.8\nConffiles:\n /etc/tool/tool.cfg 0123456789abcdef0123456789abcdef\nDescription: old tool\n\n';
    const treeC = join(dir, 'treeC');
    const admin = join(treeC, 'var/lib/dpkg');
    await makeAdminDir(admin, MINIMAL_STATUS + leftover);
    const tree = new DirectoryTree(treeC);
    const database = await dpkgBackend.openDatabase(tree, '/var/lib/dpkg');
    const added = [pkgs[2]!, pkgs[4]!].map((p) => ({ package: p, entries: [] as PackageEntry[], takenOver: new Map<string, string[]>() }));
    for (const a of added) a.entries = await entriesOf(a.package);
    await applyLayerFiles(treeC, await dpkgBackend.writeDatabase({ tree, database, added }));
    const status = await readFile(join(admin, 'status'), 'utf8');
    expect(status.match(/^Package: /gm)).toHaveLength(4);
    expect(status.match(/^Package: .*/gm)).toEqual(['Package: base-files', 'Package: libc6', 'Package: meta-dirs', 'Package: tool-gz']);
    const query = await run('dpkg-query', [`--admindir=${admin}`, '-W', '-f', '${Package} ${Version} ${db:Status-Abbrev}\n']);
    expect(query.stdout.trim().split('\n').map((l) => l.trim()).sort()).toEqual(['base-files 12.4+deb12u5 ii', 'libc6 2.36-9+deb12u7 ii', 'meta-dirs 5 ii', 'tool-gz 0.9~beta1 ii']);
  });
});

describe('reading a database', () => {
  it('finds the database through a /var/lib/dpkg symlink and lists its packages and owners', async () => {
    const root = join(dir, 'legacy');
    await makeAdminDir(join(root, 'usr/share/dpkg/db-real'), MINIMAL_STATUS);
    await writeFile(join(root, 'usr/share/dpkg/db-real/info/base-files.list'), '/.\n/etc\n/etc/debian_version\n');
    await mkdir(join(root, 'var/lib'), { recursive: true });
    await symlink('/usr/share/dpkg/db-real', join(root, 'var/lib/dpkg'));
    const tree = new DirectoryTree(root);
    expect(await findDatabase(tree)).toBe('/usr/share/dpkg/db-real');
    const db = await dpkgBackend.openDatabase(tree, '/usr/share/dpkg/db-real');
    expect(await db.packages()).toEqual([
      { name: 'base-files', version: '12.4+deb12u5', arch: 'amd64', state: 'install ok installed' },
      { name: 'libc6', version: '2.36-9+deb12u7', arch: 'amd64', state: 'install ok installed' },
    ]);
    const owners = await db.owners(['/etc/debian_version', '/.', '/etc/hostname']);
    expect([...owners.keys()]).toEqual(['/etc/debian_version']);
    expect(owners.get('/etc/debian_version')).toEqual([{ name: 'base-files', version: '12.4+deb12u5', arch: 'amd64' }]);
    expect(owners.has('/.')).toBe(false);
    expect(await findDatabase(new DirectoryTree(join(dir, 'nothing-here')))).toBeNull();
  });

  it('parses the Debian 12 status file in one pass and keeps every paragraph byte-exact', async () => {
    if (!existsSync(FIXTURE_STATUS)) return console.warn('skipped: ../shared/fixtures/dpkg/debian12-status is absent');
    const db = (await dpkgBackend.openDatabase(new DirectoryTree(ours), '/')) as DpkgDatabase;
    const refPackages = (await run('dpkg-query', [`--admindir=${ref}`, '-W', '-f', '${Package}\n'])).stdout.trim().split('\n');
    expect((await db.packages()).map((p) => p.name).sort()).toEqual(refPackages.sort());
  });
});
