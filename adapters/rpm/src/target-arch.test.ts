/**
 * The target's architecture as rpm inside the tree sees it, whatever the host is: /etc/rpm/platform (under /usr/etc on
 * OSTree) when present, else the installed rpm package's arch, else the arch most installed packages have.
 * The databases are written by the real rpm (--justdb --ignorearch).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryTree, openRepositoryTarget } from '@ostree-layer/core';
import { buildRpm } from '@ostree-layer/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRpmDatabase } from './database.js';
import { rpmRepositories } from './repository/index.js';

const DB = '/usr/lib/sysimage/rpm';
const work = mkdtempSync(join(tmpdir(), 'rpm-target-arch-'));
const rpms = new Map<string, string>();
afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(async () => {
  for (const [name, arch] of [['rpm', 'aarch64'], ['glibc', 'x86_64'], ['zlib', 'x86_64'], ['bash', 'ppc64le'], ['tzdata', 'noarch']]) {
    rpms.set(`${name}.${arch}`, await buildRpm(join(work, 'rpms'), { name, version: '1', arch, files: [{ path: `/usr/share/${name}-${arch}`, content: 'x\n' }] }));
  }
}, 120_000);

/** A tree whose rpmdb holds the named packages ("name.arch") and, when given, an /usr/etc/rpm/platform line. */
async function target(name: string, installed: string[], platform?: string) {
  const root = join(work, name);
  mkdirSync(join(root, DB), { recursive: true });
  execFileSync('rpm', ['--root', root, '--dbpath', DB, '-i', '--justdb', '--nodeps', '--ignorearch', ...installed.map((n) => rpms.get(n)!)], { stdio: 'ignore' });
  if (platform) {
    mkdirSync(join(root, 'usr/etc/rpm'), { recursive: true });
    writeFileSync(join(root, 'usr/etc/rpm/platform'), `${platform}\n`);
  }
  const tree = new DirectoryTree(root);
  return openRepositoryTarget(rpmRepositories, tree, await openRpmDatabase(tree, DB));
}

describe('the rpm target architecture', () => {
  it('is the platform file’s when the tree has one', async () => {
    expect((await target('platform', ['glibc.x86_64', 'tzdata.noarch'], 's390x-ibm-linux-gnu')).arch).toBe('s390x');
  });

  it('is the installed rpm package’s arch, even when most packages are another', async () => {
    const t = await target('rpm', ['rpm.aarch64', 'glibc.x86_64', 'zlib.x86_64', 'tzdata.noarch']);
    expect(t.arch).toBe('aarch64');
    const pool = await rpmRepositories.poolOptions(t);
    const pkg = (arch: string) => ({ name: 'x', version: '1', arch, id: 1, nameId: 1, installed: false });
    expect(['aarch64', 'noarch', 'x86_64'].map((a) => pool.installable!(pkg(a)))).toEqual([true, true, false]);
  });

  it('is the arch most installed packages have when nothing else says', async () => {
    expect((await target('common', ['glibc.x86_64', 'zlib.x86_64', 'bash.ppc64le', 'tzdata.noarch'])).arch).toBe('x86_64');
  });
});
