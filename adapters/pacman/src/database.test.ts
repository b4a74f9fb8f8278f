// The database entries writeDatabase makes, against the ones the real pacman 6.0.2 writes for the same package.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryTree, type LayerFile } from '@ostree-layer/core';
import { buildPacmanPackage, installPacmanRoot, treeWithLayer } from '@ostree-layer/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { openPacmanPackage, type PacmanPackage } from './archive.js';
import { findDatabase, openDatabase, parseDbFile, writeDatabase } from './database.js';
import { pacmanBackend } from './index.js';

const work = mkdtempSync(join(tmpdir(), 'pacman-database-'));
let base: string;
let greeter: string;
let greeterPkg: PacmanPackage;

beforeAll(async () => {
  const dep = await buildPacmanPackage(work, { name: 'greet-base', version: '1', files: [{ path: '/usr/share/greet-base/marker', content: 'm\n' }] });
  greeter = await buildPacmanPackage(work, {
    name: 'greeter',
    version: '0.9',
    release: '2',
    epoch: 3,
    arch: 'x86_64',
    depends: ['greet-base>=1'],
    optdepends: ['busybox: applets'],
    provides: ['greeting=0.9'],
    conflicts: ['shouter'],
    replaces: ['old-greeter'],
    groups: ['greetings'],
    backup: ['/etc/greeter.conf'],
    install: 'post_install() {\n  echo "greeter $1"\n}\n',
    files: [
      { path: '/usr/bin/greeter', content: '#!/bin/sh\necho hi\n', mode: 0o755 },
      { path: '/etc/greeter.conf', content: 'loud=no\n' },
      { path: '/usr/share/greeter/docs', dir: true },
      { path: '/usr/share/greeter/link', symlink: '../../bin/greeter' },
    ],
  });
  greeterPkg = await openPacmanPackage(greeter);
  base = join(work, 'base');
  await installPacmanRoot(base, [dep]);
}, 120_000);

/** What the real pacman writes for `greeter` installed as a dependency, next to greet-base. */
function realEntry(): string {
  const root = join(work, 'real');
  execFileSync('cp', ['-a', base, root]);
  execFileSync('pacman', ['--root', root, '--dbpath', join(root, 'var/lib/pacman'), '--noconfirm', '--noscriptlet', '--asdeps', '-U', greeter], { stdio: 'pipe' });
  return join(root, 'var/lib/pacman/local', readdirSync(join(root, 'var/lib/pacman/local')).find((d) => d.startsWith('greeter-'))!);
}

async function ours(): Promise<LayerFile[]> {
  const tree = new DirectoryTree(base);
  const database = await openDatabase(tree, (await findDatabase(tree))!);
  const entries = [];
  for await (const { entry, body } of greeterPkg.payload()) {
    entries.push(entry);
    if (body) for await (const _ of body) void _;
  }
  return writeDatabase({ tree, database, added: [{ package: greeterPkg, entries, takenOver: new Map(), automatic: true }] });
}

describe('pacman local database', () => {
  it('finds the legacy database of a mutable root, and prefers the copy in /usr', async () => {
    expect(await findDatabase(new DirectoryTree(base))).toBe('/var/lib/pacman');
    const both = join(work, 'both');
    execFileSync('cp', ['-a', base, both]);
    execFileSync('mkdir', ['-p', join(both, 'usr/lib/sysimage')]);
    execFileSync('cp', ['-a', join(base, 'var/lib/pacman'), join(both, 'usr/lib/sysimage/pacman')]);
    expect(await findDatabase(new DirectoryTree(both))).toBe('/usr/lib/sysimage/pacman');
  });

  it('writes desc, files, mtree and install as pacman does (the install date aside)', async () => {
    const real = realEntry();
    const files = await ours();
    const dir = `/var/lib/pacman/local/greeter-3:0.9-2`;
    expect(files.map((f) => f.path)).toEqual(expect.arrayContaining([dir, `${dir}/desc`, `${dir}/files`, `${dir}/mtree`, `${dir}/install`]));
    const content = (name: string) => Buffer.from(files.find((f) => f.path === `${dir}/${name}`)!.content!);
    const withoutDate = (text: string) => text.replace(/%INSTALLDATE%\n\d+\n/, '%INSTALLDATE%\n-\n');
    expect(withoutDate(content('desc').toString())).toBe(withoutDate(readFileSync(join(real, 'desc'), 'utf8')));
    expect(parseDbFile(content('desc').toString()).get('REASON')).toEqual(['1']);
    expect(content('files').toString()).toBe(readFileSync(join(real, 'files'), 'utf8'));
    expect(content('mtree').equals(readFileSync(join(real, 'mtree')))).toBe(true);
    expect(content('install').equals(readFileSync(join(real, 'install')))).toBe(true);
  });

  it('gives a layered tree that the real pacman reads: -Q, -Qo and -Qk agree with owners()', async () => {
    const layered = await treeWithLayer(base, await ours());
    const q = (args: string[]) => execFileSync('pacman', ['--root', layered, '--dbpath', join(layered, 'var/lib/pacman'), ...args], { encoding: 'utf8' });
    expect(q(['-Q']).trim().split('\n')).toEqual(['greet-base 1-1', 'greeter 3:0.9-2']);
    expect(q(['-Qo', join(layered, 'usr/bin/greeter')])).toContain('is owned by greeter 3:0.9-2');
    // The layer holds the database only: pacman -Qk finds greeter's files missing, and says how many it checked.
    const checked = /(\d+) total files/.exec(execFileSync('sh', ['-c', `pacman --root ${layered} --dbpath ${layered}/var/lib/pacman -Qk greeter 2>&1 || true`], { encoding: 'utf8' }));
    const listed = (await execFileSync('pacman', ['--root', layered, '--dbpath', join(layered, 'var/lib/pacman'), '-Qlq', 'greeter'], { encoding: 'utf8' })).split('\n').filter(Boolean).map((p) => p.slice(layered.length).replace(/(.)\/$/, '$1'));
    const owners = await (await pacmanBackend.openDatabase(new DirectoryTree(layered), '/var/lib/pacman')).owners([...listed, '/usr/share/greet-base/marker']);
    const greeterPaths = [...owners].filter(([, ids]) => ids.some((id) => id.name === 'greeter')).map(([path]) => path);
    expect(greeterPaths.sort()).toEqual([...listed].sort());
    expect(owners.get('/usr/share/greet-base/marker')).toEqual([{ name: 'greet-base', version: '1-1', arch: 'any' }]);
    expect(Number(checked?.[1])).toBe(greeterPaths.length);
    expect(owners.get('/usr/bin/greeter')).toEqual([{ name: 'greeter', version: '3:0.9-2', arch: 'x86_64' }]);
  });
});
