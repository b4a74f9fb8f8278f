/**
 * File conflicts decided on packages of the testkit's fake backend: imported for real (an ostree repo, the real
 * importer), so the check sees placed, hashed entries as in a transaction, with no dpkg, rpm or root involved.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeBackend, makeFakeTree, writeFakePackage, type FakePackageSpec } from '@ostree-layer/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileConflictError } from '../errors.js';
import { readAccounts } from '../import/accounts.js';
import { importPackage, type ImportedPackage } from '../import/importer.js';
import { PathPlacer } from '../import/placement.js';
import { OstreeRepo } from '../ostree.js';
import { DirectoryTree } from '../tree.js';
import { checkConflicts, type ConflictContext } from './conflicts.js';

let dir: string;
let ctx: ConflictContext;
let repo: OstreeRepo;

const BASE_TOOL = { path: '/usr/bin/tool', content: '#!/bin/sh\necho base\n', mode: 0o755 };
const BASE_LIB = { path: '/lib/libold.so.1', content: 'base library\n' };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conflicts-fake-'));
  execFileSync('ostree', ['init', `--repo=${join(dir, 'repo')}`, '--mode=bare-user-only']);
  repo = new OstreeRepo(join(dir, 'repo'));
  const base = await makeFakeTree(join(dir, 'base'), [
    { name: 'base-tool', version: '1', entries: [{ path: '/usr', type: 'directory' }, { path: '/usr/bin', type: 'directory' }, BASE_TOOL] },
    // usrmerge: the base package recorded its library through the /lib symlink.
    { name: 'base-lib', version: '1', entries: [{ path: '/usr/lib', type: 'directory' }, { path: '/lib', type: 'symlink', target: 'usr/lib' }, BASE_LIB] },
  ]);
  const tree = new DirectoryTree(base);
  ctx = { backend: fakeBackend, tree, database: await fakeBackend.openDatabase(tree, (await fakeBackend.detect(tree))!), placer: new PathPlacer(tree) };
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes and imports a fake package, as the transaction does before it checks conflicts. */
async function imported(spec: FakePackageSpec): Promise<ImportedPackage> {
  const pkg = await fakeBackend.openPackage(await writeFakePackage(join(dir, 'packages'), spec));
  return importPackage({ backend: fakeBackend, repo, placer: ctx.placer, accounts: await readAccounts(ctx.tree) }, pkg);
}

const shipping = (name: string, path: string, content: string, extra: Partial<FakePackageSpec> = {}): FakePackageSpec =>
  ({ name, version: '1', entries: [{ path, content }], ...extra });

describe('file conflicts between new packages', () => {
  it('refuses two packages shipping different content at one path, naming both', async () => {
    const a = await imported(shipping('one', '/usr/share/shared/notes', 'one\n'));
    const b = await imported(shipping('two', '/usr/share/shared/notes', 'two\n'));
    const error: unknown = await checkConflicts(ctx, [a, b]).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(FileConflictError);
    expect((error as Error).message).toMatch(/two 1 \(any\) ships \/usr\/share\/shared\/notes, which one 1 \(any\) also owns/);
  });

  it('accepts identical content at one path', async () => {
    const a = await imported(shipping('same-a', '/usr/share/same/notes', 'same\n'));
    const b = await imported(shipping('same-b', '/usr/share/same/notes', 'same\n'));
    expect((await checkConflicts(ctx, [a, b])).size).toBe(0);
  });

  it('accepts different content when the later package declares it replaces the earlier one', async () => {
    const a = await imported(shipping('old-owner', '/usr/share/moved/notes', 'old\n'));
    const b = await imported(shipping('new-owner', '/usr/share/moved/notes', 'new\n', { replaces: ['old-owner'] }));
    // Takeovers are recorded for base owners only; between new packages the declaration just allows it.
    expect((await checkConflicts(ctx, [a, b])).size).toBe(0);
    // The other way round nothing allows it: the old owner declares nothing about the new one.
    await expect(checkConflicts(ctx, [b, a])).rejects.toThrow(FileConflictError);
  });
});

describe('file conflicts with the base', () => {
  it('refuses a different file where a base package owns one, and accepts the identical file', async () => {
    const other = await imported(shipping('clobber', BASE_TOOL.path, 'echo mine\n'));
    await expect(checkConflicts(ctx, [other])).rejects.toThrow(/clobber 1 \(any\) ships \/usr\/bin\/tool, which base package base-tool 1 \(any\) also owns/);
    const same = await imported({ name: 'copycat', version: '1', entries: [BASE_TOOL] });
    expect((await checkConflicts(ctx, [same])).size).toBe(0);
  });

  it('finds the base owner of a path the base package recorded through a usrmerge symlink, however the newcomer spells it', async () => {
    for (const spelling of ['/usr/lib/libold.so.1', '/lib/libold.so.1']) {
      const other = await imported(shipping(`newlib${spelling.length}`, spelling, 'another library\n'));
      await expect(checkConflicts(ctx, [other]), spelling).rejects.toThrow(/ships \/usr\/lib\/libold\.so\.1, which base package base-lib 1 \(any\) also owns/);
    }
    const replacer = await imported(shipping('lib-replacer', '/usr/lib/libold.so.1', 'another library\n', { replaces: ['base-lib'] }));
    // The takeover names the path as the base's database records it.
    expect((await checkConflicts(ctx, [replacer])).get(replacer)).toEqual(new Map([['base-lib', ['/lib/libold.so.1']]]));
  });

  it('records the path as taken over from the base package when the newcomer replaces it', async () => {
    const taker = await imported(shipping('taker', BASE_TOOL.path, 'echo taker\n', { replaces: ['base-tool'] }));
    const takeovers = await checkConflicts(ctx, [taker]);
    expect(takeovers.get(taker)).toEqual(new Map([['base-tool', [BASE_TOOL.path]]]));
  });
});
