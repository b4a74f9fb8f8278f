/**
 * The rpmdb we write, judged by rpm 4.18 itself: packages built with rpmbuild, a base installed by the real rpm,
 * the rest layered with writeDatabase, then -qa, -qf, --whatprovides, --whatrequires, -qi, -V and --rebuilddb.
 * Index rows and installed headers are also compared with a database rpm wrote for the same packages.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, link, lutimes, mkdir, symlink, utimes } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryTree, type LayeredPackage, type PackageEntry } from '@ostree-layer/core';
import { rpmBackend } from './index.js';
import { RpmDatabase } from './database.js';
import { parseHeaderBlob } from './header.js';
import type { RpmPackage } from './package.js';

const DBPATH = '/usr/lib/sysimage/rpm';
const SPECS: Record<string, string> = {
  libfoo: `Name: libfoo
Version: 1.2
Release: 3
Summary: a library
License: MIT
Group: System/Libs
Provides: foo-api = 2
%description
lib
%install
mkdir -p %{buildroot}/usr/lib %{buildroot}/etc %{buildroot}/var/log
echo lib > %{buildroot}/usr/lib/libfoo.so.1
ln -s libfoo.so.1 %{buildroot}/usr/lib/libfoo.so
echo conf > %{buildroot}/etc/foo.conf
%files
/usr/lib/libfoo.so.1
/usr/lib/libfoo.so
%config(noreplace) /etc/foo.conf
%ghost /var/log/foo.log
`,
  fooprog: `Name: fooprog
Version: 2.0
Release: 1
Epoch: 1
Summary: a program using libfoo
License: MIT
Group: Applications/Misc
Requires: libfoo >= 1.0
Requires: foo-api = 2
Requires(preun): coreutils
%description
prog
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/fooprog.d
printf '#!/bin/sh\\necho foo\\n' > %{buildroot}/usr/bin/fooprog
chmod 4755 %{buildroot}/usr/bin/fooprog
ln %{buildroot}/usr/bin/fooprog %{buildroot}/usr/bin/fooprog-alias
echo x=1 > %{buildroot}/etc/fooprog.d/main.conf
%post
true
%files
/usr/bin/fooprog
/usr/bin/fooprog-alias
%dir /etc/fooprog.d
%config /etc/fooprog.d/main.conf
`,
  fooextra: `Name: fooextra
Version: 0.9~rc1
Release: 2
Summary: extras
License: MIT
BuildArch: noarch
Provides: extra-cap = 1.0
Conflicts: oldthing < 2
Obsoletes: fooextra-old < 0.5
Recommends: fooprog
Suggests: foo-doc
Supplements: (fooprog and libfoo)
Enhances: fooprog
%description
extra
%install
mkdir -p %{buildroot}/usr/share/fooextra
echo data > %{buildroot}/usr/share/fooextra/data.txt
touch %{buildroot}/usr/share/fooextra/empty
mkdir -p %{buildroot}/etc
echo extra > %{buildroot}/etc/foo.conf
%triggerin -- libfoo
true
%filetriggerin -- /usr/lib
true
%transfiletriggerin -- /usr/share
true
%transfiletriggerin -- /etc
true
%files
%dir /usr/share/fooextra
/usr/share/fooextra/data.txt
/usr/share/fooextra/empty
%config /etc/foo.conf
`,
};

let work: string;
const rpmFile: Record<string, string> = {};

function rpm(root: string, ...args: string[]): string {
  return execFileSync('rpm', ['--root', root, '--dbpath', DBPATH, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Writes a payload into `root` with the owners, modes and times the entries give (what an install leaves). */
async function extract(root: string, pkg: RpmPackage): Promise<PackageEntry[]> {
  const entries: PackageEntry[] = [];
  for await (const { entry, body } of pkg.payload()) {
    entries.push(entry);
    if (entry.ghost) continue;
    const dest = join(root, entry.path);
    await mkdir(dirname(dest), { recursive: true });
    if (entry.type === 'directory') await mkdir(dest, { recursive: true });
    else if (entry.type === 'file') await pipeline(body!, createWriteStream(dest));
    else if (entry.type === 'symlink') await symlink(entry.linkTarget!, dest);
    else if (entry.type === 'hardlink') await link(join(root, entry.linkTarget!), dest);
    if (entry.type === 'symlink') await lutimes(dest, entry.mtime, entry.mtime);
    else {
      if (entry.type !== 'hardlink') await chmod(dest, entry.mode);
      await utimes(dest, entry.mtime, entry.mtime);
    }
  }
  return entries;
}

/** Index rows keyed by package name so two databases with different hnums compare. */
function indexDump(dbFile: string): Record<string, string[]> {
  const db = new Database(dbFile, { readonly: true });
  try {
    const names = new Map<number, string>();
    for (const r of db.prepare("SELECT key, hnum FROM 'Name'").all() as Array<{ key: string; hnum: number }>) names.set(r.hnum, r.key);
    const out: Record<string, string[]> = {};
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table' AND sql LIKE '%(key %'").all() as Array<{ name: string }>).map((r) => r.name);
    for (const t of tables) {
      const rows = db.prepare(`SELECT key, hnum, idx FROM '${t}'`).all() as Array<{ key: string | Buffer; hnum: number; idx: number }>;
      out[t] = rows
        .filter((r) => t !== 'Installtid') // the transaction id differs by construction
        .map((r) => `${names.get(r.hnum)} ${Buffer.isBuffer(r.key) ? r.key.toString('hex') : r.key} ${r.idx}`)
        .sort();
    }
    return out;
  } finally {
    db.close();
  }
}

describe('rpmdb written by writeDatabase, checked by rpm 4.18', () => {
  let root: string;
  let reference: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rpm-db-test-'));
    for (const [name, spec] of Object.entries(SPECS)) {
      const top = join(work, 'top');
      mkdirSync(join(top, 'SPECS'), { recursive: true });
      const specFile = join(top, 'SPECS', `${name}.spec`);
      writeFileSync(specFile, spec);
      execFileSync('rpmbuild', ['--define', `_topdir ${top}`, '--dbpath', join(work, 'builddb'), '-bb', specFile], { stdio: 'ignore' });
    }
    for (const arch of readdirSync(join(work, 'top/RPMS'))) {
      for (const f of readdirSync(join(work, 'top/RPMS', arch))) rpmFile[f.replace(/-[^-]+-[^-]+$/, '')] = join(work, 'top/RPMS', arch, f);
    }
    // Base: a real install of libfoo into a root, files and database.
    root = join(work, 'root');
    mkdirSync(root);
    rpm(root, '--initdb');
    rpm(root, '-i', '--nodeps', '--noscripts', rpmFile.libfoo);
    // Reference: rpm itself records all three (database only), to compare index rows and headers with.
    reference = join(work, 'reference');
    mkdirSync(reference);
    rpm(reference, '--initdb');
    rpm(reference, '-i', '--nodeps', '--noscripts', '--justdb', '--replacefiles', rpmFile.libfoo, rpmFile.fooprog, rpmFile.fooextra);

    const tree = new DirectoryTree(root);
    const location = await rpmBackend.detect(tree);
    expect(location).toBe(DBPATH);
    const database = await rpmBackend.openDatabase(tree, location!);
    const added: LayeredPackage[] = [];
    for (const name of ['fooprog', 'fooextra']) {
      const pkg = (await rpmBackend.openPackage(rpmFile[name])) as RpmPackage;
      const takenOver = new Map(name === 'fooextra' ? [['libfoo', ['/etc/foo.conf']]] : []);
      added.push({ package: pkg, entries: await extract(root, pkg), takenOver });
    }
    const files = await rpmBackend.writeDatabase({ tree, database, added });
    for (const f of files) {
      mkdirSync(dirname(join(root, f.path)), { recursive: true });
      if (f.source) copyFileSync(f.source, join(root, f.path));
      else writeFileSync(join(root, f.path), f.content ?? '');
      await f.dispose?.();
    }
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('rpm -qa lists the base package and the layered ones', () => {
    expect(rpm(root, '-qa', '--qf', '%{NAME}-%{EPOCH}:%{VERSION}-%{RELEASE}.%{ARCH}\\n').trim().split('\n').sort()).toEqual(
      ['fooextra-(none):0.9~rc1-2.noarch', 'fooprog-1:2.0-1.x86_64', 'libfoo-(none):1.2-3.x86_64'].map((s) => s.replace('x86_64', process.arch === 'x64' ? 'x86_64' : s)),
    );
  });

  it('rpm -qf finds owners of layered and base files, ghosts included', () => {
    expect(rpm(root, '-qf', '--qf', '%{NAME}\\n', '/usr/bin/fooprog-alias', '/usr/share/fooextra/empty', '/usr/lib/libfoo.so', '/var/log/foo.log').trim().split('\n'))
      .toEqual(['fooprog', 'fooextra', 'libfoo', 'libfoo']);
  });

  it('--whatprovides and --whatrequires use the new indexes', () => {
    expect(rpm(root, '-q', '--qf', '%{NAME}\\n', '--whatprovides', 'extra-cap').trim()).toBe('fooextra');
    expect(rpm(root, '-q', '--qf', '%{NAME}\\n', '--whatrequires', 'libfoo').trim()).toBe('fooprog');
    expect(rpm(root, '-q', '--qf', '%{NAME}\\n', '--whatrequires', 'coreutils').trim()).toBe('fooprog');
    expect(rpm(root, '-q', '--qf', '%{NAME}\\n', '--whatrecommends', 'fooprog').trim()).toBe('fooextra');
    expect(rpm(root, '-q', '--qf', '%{NAME}\\n', '--whatconflicts', 'oldthing').trim()).toBe('fooextra');
    expect(rpm(root, '-q', '--qf', '%{NAME}\\n', '--whatobsoletes', 'fooextra-old').trim()).toBe('fooextra');
    expect(rpm(root, '-q', '--qf', '%{NAME}\\n', '--triggeredby', 'libfoo').trim()).toBe('fooextra');
  });

  it('rpm -qi shows the layered package with an install date', () => {
    const info = rpm(root, '-qi', 'fooprog');
    expect(info).toMatch(/^Name\s+: fooprog$/m);
    expect(info).toMatch(/^Epoch\s+: 1$/m);
    expect(info).toMatch(/^Install Date: \S/m);
    expect(info).toMatch(/^Group\s+: Applications\/Misc$/m);
  });

  it('rpm -V passes for the layered packages against the extracted payloads', () => {
    // rpm lists a replaced file as information only ("(replaced)"), with exit status 0.
    const report = rpm(root, '-V', '--nodeps', 'fooprog', 'fooextra', 'libfoo').trim().split('\n');
    expect(report).toEqual(['.........  c /etc/foo.conf (replaced)']);
  });

  it('a file taken over from a base package is marked replaced, as rpm --replacefiles does', () => {
    expect(rpm(root, '-q', '--qf', '[%{FILESTATES:fstate} %{FILENAMES}\\n]', 'libfoo')).toMatch(/^replaced \/etc\/foo\.conf$/m);
    expect(rpm(root, '-q', '--qf', '[%{FILESTATES:fstate} %{FILENAMES}\\n]', 'libfoo')).toMatch(/^normal \/usr\/lib\/libfoo\.so\.1$/m);
    expect(rpm(root, '-qf', '--qf', '%{NAME}\\n', '/etc/foo.conf').trim()).toBe('fooextra');
  });

  it('rpm -V notices a changed layered file (the check has teeth)', () => {
    const scratch = join(work, 'scratch');
    cpSync(root, scratch, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(scratch, 'usr/share/fooextra/data.txt'), 'tampered\n');
    let report = '';
    try {
      rpm(scratch, '-V', '--nodeps', 'fooextra');
    } catch (err) {
      report = String((err as { stdout?: string }).stdout);
    }
    expect(report).toMatch(/^S\.5\.+T?\.* +\/usr\/share\/fooextra\/data\.txt$/m);
  });

  it('rpm --rebuilddb succeeds on a copy and keeps every package', () => {
    const copy = join(work, 'rebuild');
    mkdirSync(join(copy, DBPATH), { recursive: true });
    cpSync(join(root, DBPATH), join(copy, DBPATH), { recursive: true });
    rpm(copy, '--rebuilddb');
    expect(rpm(copy, '-qa', '--qf', '%{NAME}\\n').trim().split('\n').sort()).toEqual(['fooextra', 'fooprog', 'libfoo']);
  });

  it('index rows equal the ones rpm writes for the same packages', () => {
    const ours = indexDump(join(root, DBPATH, 'rpmdb.sqlite'));
    const theirs = indexDump(join(reference, DBPATH, 'rpmdb.sqlite'));
    expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
    for (const table of Object.keys(theirs)) expect(ours[table], table).toEqual(theirs[table]);
    expect(theirs.Requirename.length).toBeGreaterThan(0);
  });

  it('installed headers carry the same tags and values as rpm -i --justdb stores (install times aside)', () => {
    const load = (dir: string) => {
      const db = new Database(join(dir, DBPATH, 'rpmdb.sqlite'), { readonly: true });
      const out = new Map<string, Map<number, string>>();
      for (const r of db.prepare("SELECT blob FROM 'Packages'").all() as Array<{ blob: Buffer }>) {
        const h = parseHeaderBlob(r.blob, dir);
        const tags = new Map<number, string>();
        for (const e of h.entries) if (e.tag !== 1008 && e.tag !== 1128) tags.set(e.tag, `${e.type}:${e.count}:${JSON.stringify(h.get(e.tag), (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
        out.set(h.string(1000)!, tags);
      }
      db.close();
      return out;
    };
    const ours = load(root);
    const theirs = load(reference);
    for (const name of ['fooprog', 'fooextra']) expect(ours.get(name), name).toEqual(theirs.get(name));
  });

  it('reads the database back: packages and file owners', async () => {
    const tree = new DirectoryTree(root);
    const db = (await rpmBackend.openDatabase(tree, DBPATH)) as RpmDatabase;
    expect((await db.packages()).map((p) => `${p.name} ${p.version} ${p.arch}`).sort()).toEqual(
      ['fooextra 0.9~rc1-2 noarch', 'fooprog 1:2.0-1 x86_64', 'libfoo 1.2-3 x86_64'],
    );
    const owners = await db.owners(['/usr/bin/fooprog', '/var/log/foo.log', '/usr/bin/nothing']);
    expect(owners.has('/usr/bin/nothing')).toBe(false);
    expect(owners.get('/usr/bin/fooprog')?.map((p) => p.name)).toEqual(['fooprog']);
    expect(owners.get('/var/log/foo.log')?.map((p) => p.name)).toEqual(['libfoo']);
  });
});
