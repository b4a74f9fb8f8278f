/**
 * The layer cache, on packages of the testkit's fake backend imported for real (an ostree repo, the real importer):
 * a second import of the same file reuses the layer without reading the payload, and anything the layer was made from
 * that changed (the file, the base's answers to the placement, the accounts) makes a new one.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeBackend, makeFakeTree, writeFakePackage, type FakePackageSpec } from '@ostree-layer/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PackageFile, PayloadItem } from '../backend.js';
import { OstreeRepo } from '../ostree.js';
import { DirectoryTree } from '../tree.js';
import type { Accounts } from './accounts.js';
import { importPackage, type ImportedPackage } from './importer.js';
import { PathPlacer } from './placement.js';

let dir: string;
let repo: OstreeRepo;
let plainBase: DirectoryTree;
let mergedBase: DirectoryTree;
const accounts: Accounts = { users: new Map([['root', 0], ['daemon', 1]]), groups: new Map([['root', 0], ['daemon', 1]]) };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'importer-cache-'));
  execFileSync('ostree', ['init', `--repo=${join(dir, 'repo')}`, '--mode=bare-user-only']);
  repo = new OstreeRepo(join(dir, 'repo'));
  const base = [{ name: 'base', version: '1', entries: [{ path: '/usr/lib', type: 'directory' as const }, { path: '/lib', type: 'directory' as const }] }];
  plainBase = new DirectoryTree(await makeFakeTree(join(dir, 'plain'), base));
  // The same, but usrmerged: /lib is a symlink to usr/lib.
  const merged = await makeFakeTree(join(dir, 'merged'), [{ name: 'base', version: '1', entries: [{ path: '/usr/lib', type: 'directory' }] }]);
  symlinkSync('usr/lib', join(merged, 'lib'));
  mergedBase = new DirectoryTree(merged);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SPEC: FakePackageSpec = {
  name: 'cached',
  version: '1',
  entries: [
    { path: '/lib/cached', type: 'directory' },
    { path: '/lib/cached/data', content: 'data\n', user: 'daemon' },
    { path: '/usr/share/cached/notes', content: 'notes\n' },
  ],
};

/** Opens the package with its payload counted: how often the engine started reading it. */
async function counted(spec: FakePackageSpec, subdir: string): Promise<{ pkg: PackageFile; reads: () => number }> {
  const pkg = await fakeBackend.openPackage(await writeFakePackage(join(dir, subdir), spec));
  let reads = 0;
  const spied: PackageFile = {
    file: pkg.file, id: pkg.id, metadata: pkg.metadata, hasScripts: pkg.hasScripts,
    payload(): AsyncIterable<PayloadItem> {
      reads++;
      return pkg.payload();
    },
  };
  return { pkg: spied, reads: () => reads };
}

function importOnto(base: DirectoryTree, pkg: PackageFile, with_ = accounts): Promise<ImportedPackage> {
  return importPackage({ backend: fakeBackend, repo, placer: new PathPlacer(base), accounts: with_ }, pkg);
}

const summary = (p: ImportedPackage) => p.placed.map((e) => `${e.type} ${e.path} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${e.sha256 ?? ''}`);

describe('the layer cache', () => {
  it('reuses the layer for the same file onto the same base without reading the payload', async () => {
    const first = await counted(SPEC, 'a');
    const made = await importOnto(plainBase, first.pkg);
    expect(made.cached).toBe(false);
    expect(first.reads()).toBe(1);

    const again = await counted(SPEC, 'a');
    const reused = await importOnto(plainBase, again.pkg);
    expect(reused).toMatchObject({ cached: true, commit: made.commit, ref: made.ref, tmpfiles: made.tmpfiles });
    expect(again.reads()).toBe(0);
    expect(summary(reused)).toEqual(summary(made));
    expect(reused.entries).toEqual(made.entries);
    expect(reused.placed.map((e) => e.source)).toEqual(made.placed.map((e) => e.source));
  });

  it('imports again when the file differs under the same name and version', async () => {
    const changed = await counted({ ...SPEC, entries: [...SPEC.entries.slice(0, 2), { path: '/usr/share/cached/notes', content: 'other notes\n' }] }, 'b');
    const made = await importOnto(plainBase, changed.pkg);
    expect(made.cached).toBe(false);
    expect(changed.reads()).toBe(1);
    expect(made.placed.find((e) => e.path === '/usr/share/cached/notes')?.size).toBe('other notes\n'.length);
  });

  it('imports again onto a base that places the payload elsewhere (usrmerge), then reuses that layer there', async () => {
    const first = await counted(SPEC, 'c');
    expect((await importOnto(plainBase, first.pkg)).placed.map((e) => e.path)).toContain('/lib/cached/data');
    const onMerged = await counted(SPEC, 'c');
    const made = await importOnto(mergedBase, onMerged.pkg);
    expect(made.cached).toBe(false);
    expect(onMerged.reads()).toBe(1);
    expect(made.placed.map((e) => e.path)).toContain('/usr/lib/cached/data');
    const again = await counted(SPEC, 'c');
    expect((await importOnto(mergedBase, again.pkg)).cached).toBe(true);
    expect(again.reads()).toBe(0);
  });

  it('imports again when an owner the layer used has another id in the base', async () => {
    const renumbered: Accounts = { users: new Map([['root', 0], ['daemon', 7]]), groups: accounts.groups };
    const pkg = await counted(SPEC, 'd');
    const made = await importOnto(mergedBase, pkg.pkg, renumbered);
    expect(made.cached).toBe(false);
    expect(made.placed.find((e) => e.path === '/usr/lib/cached/data')?.uid).toBe(7);
  });

  it('reuses nothing when the cached record is unreadable', async () => {
    mkdirSync(join(dir, 'e'), { recursive: true });
    const first = await counted({ ...SPEC, name: 'unrecorded' }, 'e');
    const made = await importOnto(plainBase, first.pkg);
    // A layer without a record (made by hand, or by an older version) is never taken on trust.
    writeFileSync(join(dir, 'skip'), '/usr/lib/ostree-layer\n');
    const args = [`--repo=${repo.path}`, 'commit', `--branch=${made.ref}`, `--tree=ref=${made.commit}`, '--subject=x', `--skip-list=${join(dir, 'skip')}`];
    const bare = execFileSync('ostree', args, { encoding: 'utf8' }).trim();
    expect(bare).not.toBe(made.commit);
    const again = await counted({ ...SPEC, name: 'unrecorded' }, 'e');
    const redone = await importOnto(plainBase, again.pkg);
    expect(redone.cached).toBe(false);
    expect(again.reads()).toBe(1);
  });

  it('on a base that names its content (a commit), reuses the layer for that same base without asking it anything', async () => {
    /** The plain base, named like a commit, with its lookups counted. */
    const named = (identity: string) => {
      const tree = Object.assign(new DirectoryTree(plainBase.root), { identity });
      const asked: string[] = [];
      const lstat = tree.lstat.bind(tree);
      tree.lstat = (path: string) => (asked.push(path), lstat(path));
      return { tree, asked };
    };
    const spec = { ...SPEC, name: 'named-base' };
    await importOnto(named('c1').tree, (await counted(spec, 'f')).pkg);
    const same = named('c1');
    expect((await importOnto(same.tree, (await counted(spec, 'f')).pkg)).cached).toBe(true);
    expect(same.asked).toEqual([]);
    // Another commit with the same answers: the facts are checked, and they hold.
    const other = named('c2');
    expect((await importOnto(other.tree, (await counted(spec, 'f')).pkg)).cached).toBe(true);
    expect(other.asked).toContain('/lib');
  });
});
