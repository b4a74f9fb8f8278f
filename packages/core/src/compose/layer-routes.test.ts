/**
 * The compose's two routes for a layer on a real bare repo (needs root: a bare repo keeps owners): a big layer goes in
 * as a hardlinked checkout and gives the very tree that `--tree=ref=` gives, and nothing of the checkout is left.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OstreeRepo } from '../ostree.js';
import { composeCommit } from './compose.js';
import { layersToLink, stackReadsMore } from './layer-routes.js';

const BIG = 12 << 20;
let dir: string;
let repo: OstreeRepo;
let base: string;
let bigLayer: string;
let smallLayer: string;

const ostree = (repoPath: string, ...args: string[]) => execFileSync('ostree', [`--repo=${repoPath}`, ...args], { encoding: 'utf8' }).trim();

function commitDir(name: string, files: Record<string, string | Buffer>, modes: Record<string, number> = {}): string {
  const root = join(dir, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  for (const [path, mode] of Object.entries(modes)) chmodSync(join(root, path), mode);
  return ostree(repo.path, 'commit', '--orphan', `--tree=dir=${root}`);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'layer-routes-'));
  repo = new OstreeRepo(join(dir, 'repo'));
  ostree(repo.path, 'init', '--mode=bare');
  base = commitDir('base', { 'usr/lib/a': 'base\n', 'usr/share/doc/x': 'doc\n', 'usr/bin/tool': 'tool\n' });
  // Replaces a base file, adds a big one beside base files, and gives /usr/lib other metadata (a later layer's
  // directory metadata wins in both routes; the final layer of a real compose puts the base's back).
  bigLayer = commitDir('big', { 'usr/lib/a': 'big layer\n', 'usr/lib/big.so': randomBytes(BIG), 'usr/share/big/readme': 'r\n' }, { 'usr/lib': 0o750 });
  smallLayer = commitDir('small', { 'usr/lib/a': 'small layer\n', 'usr/share/big/more': 'm\n' });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const state = { baseCommit: '', backend: 'test', requests: [], packages: [] };

describe('layer routes in the compose', () => {
  it('takes a big layer as a hardlinked checkout and composes the same tree as --tree=ref', async () => {
    const bytes = new Map([[bigLayer, BIG + 10], [smallLayer, 14]]);
    expect([...(await layersToLink(repo, [bigLayer, smallLayer], bytes))]).toEqual([bigLayer]);
    const linked = await composeCommit({ repo, from: base, layers: [bigLayer, smallLayer], layerBytes: bytes, state: { ...state, baseCommit: base }, subject: 'linked' });
    const byRef = await composeCommit({ repo, from: base, layers: [bigLayer, smallLayer], state: { ...state, baseCommit: base }, subject: 'ref' });
    expect(linked).not.toBe(byRef);
    const listing = (commit: string) => ostree(repo.path, 'ls', '-R', '-C', '-X', commit);
    expect(listing(linked)).toBe(listing(byRef));
    expect(ostree(repo.path, 'cat', linked, '/usr/lib/a')).toBe('small layer');
    expect(ostree(repo.path, 'cat', linked, '/usr/bin/tool')).toBe('tool');
    // The checkout lived in the repo's tmp and is gone; the repo is sound.
    expect(readdirSync(join(repo.path, 'tmp')).filter((n) => n.startsWith('ostree-layer-'))).toEqual([]);
    ostree(repo.path, 'fsck', '--quiet');
  });

  it('keeps --tree=ref for small layers, unknown sizes and repos that do not store plain files', async () => {
    expect((await layersToLink(repo, [smallLayer], new Map([[smallLayer, 14]]))).size).toBe(0);
    expect((await layersToLink(repo, [bigLayer], undefined)).size).toBe(0);
    const archive = new OstreeRepo(join(dir, 'archive'));
    ostree(archive.path, 'init', '--mode=archive');
    expect((await layersToLink(archive, [bigLayer], new Map([[bigLayer, 1 << 30]]))).size).toBe(0);
  });

  it('checks the maintainer scripts\' layers out one by one only when stacking them would re-read many bytes', () => {
    const bytes = new Map([['a', 100 << 20], ['b', 1000], ['c', 1000]]);
    // The first layer of a stack is never re-read.
    expect(stackReadsMore(['a', 'b', 'c'], bytes)).toBe(false);
    expect(stackReadsMore(['b', 'a', 'c'], bytes)).toBe(true);
    expect(stackReadsMore(['b', 'a'], undefined)).toBe(false);
  });
});
