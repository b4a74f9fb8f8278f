/**
 * The md5s dpkg records (conffile hashes in status, md5sums for a package that ships none) come from the engine's one
 * pass over the payload: a real import (an ostree repo, the real importer) followed by writeDatabase reads each
 * package's payload once, and the hashes are those `md5sum` and the real dpkg compute.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryTree, OstreeRepo, PathPlacer, importPackage, type LayeredPackage } from '@ostree-layer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDeb, type DebPackage } from './archive.js';
import { dpkgBackend } from './index.js';
import { applyLayerFiles, buildDeb, makeAdminDir, run, tempDir } from './testing/debs.js';

let dir: string;
let repo: OstreeRepo;

beforeAll(async () => {
  dir = await tempDir('dpkg-import-digests-');
  execFileSync('ostree', ['init', `--repo=${join(dir, 'repo')}`, '--mode=bare-user']);
  repo = new OstreeRepo(join(dir, 'repo'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Opens a .deb whose payload reads are counted. */
async function counted(deb: string): Promise<{ pkg: DebPackage; reads: () => number }> {
  const pkg = await openDeb(deb);
  const payload = pkg.payload.bind(pkg);
  let reads = 0;
  pkg.payload = () => {
    reads++;
    return payload();
  };
  return { pkg, reads: () => reads };
}

describe('md5s for the dpkg database', () => {
  it('come from the import pass: one payload read, the hashes md5sum and dpkg compute', async () => {
    const withConffile = await buildDeb(dir, {
      name: 'digest-conf', md5sums: true, conffiles: ['/etc/digest/app.conf'],
      files: { 'etc/digest/app.conf': 'setting = 1\n', 'usr/share/digest/readme': 'read me\n' },
    });
    const withoutMd5sums = await buildDeb(dir, {
      name: 'digest-none', compression: 'gzip',
      files: { 'usr/share/digest-none/a': 'alpha\n', 'usr/share/digest-none/b': { hardlink: 'usr/share/digest-none/a' }, 'usr/share/digest-none/empty': '' },
    });
    const treeRoot = join(dir, 'tree');
    const admin = join(treeRoot, 'usr/lib/sysimage/dpkg');
    await makeAdminDir(admin, '');
    await mkdir(join(treeRoot, 'usr/etc'), { recursive: true });
    const tree = new DirectoryTree(treeRoot);
    const placer = new PathPlacer(tree);
    const accounts = { users: new Map([['root', 0]]), groups: new Map([['root', 0]]) };

    const opened = await Promise.all([withConffile, withoutMd5sums].map(counted));
    const added: LayeredPackage[] = [];
    for (const { pkg } of opened) {
      const imported = await importPackage({ backend: dpkgBackend, repo, placer, accounts }, pkg);
      added.push({ package: pkg, entries: imported.entries, takenOver: new Map() });
    }
    const database = await dpkgBackend.openDatabase(tree, '/usr/lib/sysimage/dpkg');
    await applyLayerFiles(treeRoot, await dpkgBackend.writeDatabase({ tree, database, added }));
    expect(opened.map((o) => o.reads())).toEqual([1, 1]);

    const md5 = async (path: string) => (await run('md5sum', [path])).stdout.split(' ')[0];
    const status = await readFile(join(admin, 'status'), 'utf8');
    expect(status).toContain(`Conffiles:\n /etc/digest/app.conf ${await md5(join(dir, 'digest-conf-src/etc/digest/app.conf'))}\n`);

    // The real dpkg generates md5sums for a package without them: ours must match it byte for byte.
    const ref = join(dir, 'ref-admin');
    await makeAdminDir(ref, '');
    await mkdir(join(dir, 'ref-root'));
    await run('dpkg', [`--root=${join(dir, 'ref-root')}`, `--admindir=${ref}`, '--force-depends', '--unpack', withoutMd5sums]);
    const generated = await readFile(join(admin, 'info/digest-none.md5sums'), 'utf8');
    expect(generated).toBe(await readFile(join(ref, 'info/digest-none.md5sums'), 'utf8'));
    expect(generated).toContain(`${await md5(join(dir, 'digest-none-src/usr/share/digest-none/a'))}  usr/share/digest-none/b\n`);
  }, 60_000);
});
