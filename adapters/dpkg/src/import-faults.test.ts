/**
 * A truncated .deb fed to the real importer (a real ostree repo, `ostree commit --tree=tar=-`): every cut point must
 * end in a PackageFormatError naming the file, never an unhandled 'error' event or a hang.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryTree, LayerError, OstreeRepo, PackageFormatError, PathPlacer, importPackage } from '@ostree-layer/core';
import { dpkgBackend } from './index.js';
import { buildDeb, tempDir } from './testing/debs.js';

let dir: string;
let repo: OstreeRepo;
let tree: DirectoryTree;
const unhandled: unknown[] = [];
const record = (err: unknown) => unhandled.push(err);

beforeAll(async () => {
  dir = await tempDir('dpkg-import-faults-');
  execFileSync('ostree', ['init', `--repo=${join(dir, 'repo')}`, '--mode=bare-user']);
  repo = new OstreeRepo(join(dir, 'repo'));
  mkdirSync(join(dir, 'base/usr/share'), { recursive: true });
  tree = new DirectoryTree(join(dir, 'base'));
  process.on('uncaughtException', record);
  process.on('unhandledRejection', record);
});
afterAll(async () => {
  process.off('uncaughtException', record);
  process.off('unhandledRejection', record);
  await rm(dir, { recursive: true, force: true });
});

describe('importing a truncated .deb', () => {
  it.each(['none', 'gzip', 'xz'] as const)('data.tar %s: every cut point is a PackageFormatError naming the file', async (compression) => {
    const deb = await buildDeb(dir, {
      name: `cut-${compression}`,
      compression,
      files: { 'usr/share/cut/big': { content: randomBytes(300_000).toString('latin1') }, 'usr/share/cut/small': 'small\n' },
    });
    unhandled.length = 0;
    const bytes = readFileSync(deb);
    const cut = join(dir, `cut-${compression}.deb`);
    const ctx = { backend: dpkgBackend, repo, placer: new PathPlacer(tree), accounts: { users: new Map([['root', 0]]), groups: new Map([['root', 0]]) } };
    const points = 60;
    for (let k = 1; k <= points; k++) {
      const length = Math.floor((bytes.length * k) / (points + 1));
      writeFileSync(cut, bytes.subarray(0, length));
      const outcome = await dpkgBackend.openPackage(cut).then((pkg) => importPackage(ctx, pkg)).then(
        () => new Error('imported a truncated package'),
        (err: unknown) => err,
      );
      expect(outcome, `cut at ${length} of ${bytes.length}`).toBeInstanceOf(PackageFormatError);
      expect((outcome as Error).message).toContain(cut);
      // Let a stray 'error' event of this round surface before the next one starts.
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(unhandled, `cut at ${length} of ${bytes.length}`).toEqual([]);
    }
  }, 120_000);
});

describe('an import whose ostree commit has failed already', () => {
  it('reports the payload\'s error when it comes later, never as an unhandled \'error\' event on the layer stream', async () => {
    // ostree exits at once (no repo there), so nothing listens on the layer stream any more when the truncated
    // payload fails and the importer stops the layer: a stray 'error' event would be raised then.
    const deb = await buildDeb(dir, { name: 'late-failure', compression: 'none', files: { 'usr/share/late/big': { content: randomBytes(200_000).toString('latin1') } } });
    const cut = join(dir, 'late-failure-cut.deb');
    const bytes = readFileSync(deb);
    writeFileSync(cut, bytes.subarray(0, bytes.length - 50_000));
    unhandled.length = 0;
    const gone = new OstreeRepo(join(dir, 'no-repo-here'));
    const ctx = { backend: dpkgBackend, repo: gone, placer: new PathPlacer(tree), accounts: { users: new Map([['root', 0]]), groups: new Map([['root', 0]]) } };
    for (let round = 0; round < 5; round++) {
      const outcome = await dpkgBackend.openPackage(cut).then((pkg) => importPackage(ctx, pkg)).then(() => new Error('imported'), (err: unknown) => err);
      expect(outcome).toBeInstanceOf(LayerError);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
    }
  }, 120_000);
});

