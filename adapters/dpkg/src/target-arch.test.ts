/**
 * The target's architecture as dpkg inside the tree sees it, whatever the host is: the installed dpkg package's
 * arch, else the first line of the database's `arch` file, else the arch most installed packages have. Each
 * database here is checked to be one the real dpkg-query reads.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryTree, openRepositoryTarget } from '@ostree-layer/core';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import { dpkgRepositories } from './resolve-model.js';

const work = mkdtempSync(join(tmpdir(), 'dpkg-target-arch-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const entry = (name: string, arch: string) =>
  `Package: ${name}\nStatus: install ok installed\nMaintainer: x <x@example.org>\nArchitecture: ${arch}\nVersion: 1.0\nDescription: ${name}\n\n`;

/** A tree whose database holds `packages` ([name, arch]) and, when given, an `arch` file. */
async function target(name: string, packages: Array<[string, string]>, archFile?: string) {
  const db = join(work, name, 'usr/lib/sysimage/dpkg');
  mkdirSync(join(db, 'info'), { recursive: true });
  writeFileSync(join(db, 'status'), packages.map(([n, a]) => entry(n, a)).join(''));
  if (archFile !== undefined) writeFileSync(join(db, 'arch'), archFile);
  expect(execFileSync('dpkg-query', [`--admindir=${db}`, '-W', '-f', '${Package}:${Architecture} '], { encoding: 'utf8' }).trim().split(' ').sort())
    .toEqual(packages.map(([n, a]) => `${n}:${a}`).sort());
  const tree = new DirectoryTree(join(work, name));
  return openRepositoryTarget(dpkgRepositories, tree, await openDatabase(tree, '/usr/lib/sysimage/dpkg'));
}

describe('the dpkg target architecture', () => {
  it('is the installed dpkg package’s arch, even when most packages are another', async () => {
    const t = await target('dpkg', [['dpkg', 'arm64'], ['libc6', 'amd64'], ['zlib1g', 'amd64'], ['tzdata', 'all']], 'arm64\namd64\n');
    expect(t.arch).toBe('arm64');
    // The other arch of the arch file is foreign: its packages install, Multi-Arch permitting.
    const pool = await dpkgRepositories.poolOptions(t);
    const pkg = (arch: string) => ({ name: 'x', version: '1', arch, id: 1, nameId: 1, installed: false });
    expect(['arm64', 'amd64', 'all', 'riscv64'].map((a) => pool.installable!(pkg(a)))).toEqual([true, true, true, false]);
  });

  it('is the first line of the arch file when dpkg itself is not recorded', async () => {
    expect((await target('archfile', [['base-files', 'all'], ['libc6', 'amd64']], 'ppc64el\namd64\n')).arch).toBe('ppc64el');
  });

  it('is the arch most installed packages have when nothing else says', async () => {
    expect((await target('common', [['a', 'armhf'], ['b', 'armhf'], ['c', 'amd64'], ['d', 'all']])).arch).toBe('armhf');
  });
});
