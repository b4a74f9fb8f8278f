/** Finding and reading a tree's rpmdb: locations, %_dbpath, the real fixture databases, no writes into the tree. */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryTree, SystemStateError } from '@ostree-layer/core';
import { rpmBackend } from './index.js';
import type { RpmDatabase } from './database.js';

const FIXTURES = resolve(import.meta.dirname, '../../../../shared/fixtures/rpmdb');
const present = existsSync(FIXTURES);
if (!present) console.warn(`skipping rpmdb fixture tests: ${FIXTURES} is absent (it is outside the repo, present in CI)`);
const work = mkdtempSync(join(tmpdir(), 'rpm-locate-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string>): DirectoryTree {
  const root = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  mkdirSync(root, { recursive: true });
  return new DirectoryTree(root);
}

describe('locating the rpmdb', () => {
  it('prefers /usr over the legacy /var location', async () => {
    expect(await rpmBackend.detect(tree('both', { 'usr/share/rpm/rpmdb.sqlite': '', 'var/lib/rpm/rpmdb.sqlite': '' }))).toBe('/usr/share/rpm');
    expect(await rpmBackend.detect(tree('sysimage', { 'usr/lib/sysimage/rpm/rpmdb.sqlite': '', 'usr/share/rpm/rpmdb.sqlite': '' }))).toBe('/usr/lib/sysimage/rpm');
    expect(await rpmBackend.detect(tree('legacy', { 'var/lib/rpm/Packages': '' }))).toBe('/var/lib/rpm');
    expect(await rpmBackend.detect(tree('none', { 'usr/bin/true': '' }))).toBeNull();
  });

  it('lets %_dbpath in the tree\'s macros win, with macro expansion and /etc over /usr', async () => {
    const t = tree('macros', {
      'usr/lib/sysimage/rpm/rpmdb.sqlite': '',
      'opt/db/rpmdb.sqlite': '',
      'srv/db/rpmdb.sqlite': '',
      'usr/lib/rpm/macros.d/macros.dbpath': '%_mydb %{_prefix}/../opt/db\n%_dbpath %{_mydb}\n',
    });
    expect(await rpmBackend.detect(t)).toBe('/opt/db');
    writeFileSync(join(t.root, 'usr/lib/rpm/macros.d/macros.dbpath'), '%_dbpath /opt/db\n');
    mkdirSync(join(t.root, 'etc/rpm'), { recursive: true });
    writeFileSync(join(t.root, 'etc/rpm/macros.local'), '%_dbpath /srv/db\n');
    expect(await rpmBackend.detect(t)).toBe('/srv/db');
  });
});

describe.skipIf(!present && !process.env.CI)('reading the real fixture databases', () => {
  it('reads rpmdb.sqlite as rpm --dbpath -qa does, writing nothing next to it', async () => {
    const before = readdirSync(join(FIXTURES, 'sqlite-rpm-upstream')).sort();
    const copy = join(work, 'sqlite-copy');
    cpSync(join(FIXTURES, 'sqlite-rpm-upstream'), copy, { recursive: true });
    const want = execFileSync('rpm', ['--dbpath', copy, '-qa', '--qf', '%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH}\\n'], { encoding: 'utf8' })
      .trim().split('\n').sort();
    const db = (await rpmBackend.openDatabase(new DirectoryTree(FIXTURES), '/sqlite-rpm-upstream')) as RpmDatabase;
    const got = (await db.packages()).map((p) => `${p.name} ${p.version} ${p.arch}`).sort();
    expect(got).toEqual(want);
    expect(want.length).toBe(3);
    const wantFiles = execFileSync('rpm', ['--dbpath', copy, '-qa', '--qf', '[%{FILENAMES}\\n]'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
    // Asked about every file rpm lists and some it does not, through the Basenames index: exactly rpm's files.
    const owners = await db.owners([...wantFiles, '/usr/bin/not-installed', '/nowhere']);
    expect([...owners.keys()].sort()).toEqual([...new Set(wantFiles)].sort());
    for (const file of wantFiles.slice(0, 20)) {
      const owner = execFileSync('rpm', ['--dbpath', copy, '-qf', '--qf', '%{NAME}\\n', file], { encoding: 'utf8' }).trim().split('\n');
      expect(owners.get(file)!.map((p) => p.name).sort(), file).toEqual(owner.sort());
    }
    expect(readdirSync(join(FIXTURES, 'sqlite-rpm-upstream')).sort()).toEqual(before);
  });

  it('reads a BerkeleyDB Packages file (full headers through our parser)', async () => {
    const db = (await rpmBackend.openDatabase(new DirectoryTree(FIXTURES), '/bdb-syft')) as RpmDatabase;
    const pkgs = await db.packages();
    expect(pkgs.map((p) => `${p.name}-${p.version}`)).toEqual(['dive-0.9.2-1']);
    expect((await db.owners(['/usr/local/bin/dive'])).get('/usr/local/bin/dive')?.map((p) => p.name)).toEqual(['dive']);
    await expect(rpmBackend.writeDatabase({ tree: new DirectoryTree(FIXTURES), database: db, added: [] })).rejects.toThrow(SystemStateError);
  });
});
