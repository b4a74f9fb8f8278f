/**
 * A whole server-side install (`--commit-only`) with the testkit's fake backend: the engine's import, conflict check,
 * database layer and compose on a real ostree repo, checked in the resulting commit, with no dpkg, rpm or root.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeBackend, fakePlugin, makeFakeTree, writeFakePackage } from '@ostree-layer/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepoTree } from '../discover/repo-tree.js';
import { FileConflictError } from '../errors.js';
import { OstreeRepo } from '../ostree.js';
import { install } from '../transaction.js';

let dir: string;
let repoPath: string;
const REF = 'fake/base';

const ostree = (...args: string[]) => execFileSync('ostree', [...args, `--repo=${repoPath}`], { encoding: 'utf8' });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'compose-fake-'));
  repoPath = join(dir, 'repo');
  ostree('init', '--mode=bare-user-only');
  const base = await makeFakeTree(join(dir, 'base'), [
    { name: 'base-tool', version: '1', entries: [{ path: '/usr/bin', type: 'directory' }, { path: '/usr/bin/tool', content: 'base\n', mode: 0o755 }] },
  ]);
  ostree('commit', `--branch=${REF}`, `--tree=dir=${base}`, '--owner-uid=0', '--owner-gid=0');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('a commit-only install of fake packages', () => {
  it('composes the base, the package and the updated database into a new commit on the ref', async () => {
    const before = ostree('rev-parse', REF).trim();
    const hello = await writeFakePackage(join(dir, 'packages'), { name: 'hello', version: '2.1', entries: [{ path: '/usr/share/hello/greeting', content: 'hello\n' }] });
    const result = await install({ plugins: [fakePlugin], files: [hello], commitOnly: { repo: repoPath, ref: REF }, cacheDir: join(dir, 'cache') });
    const after = ostree('rev-parse', REF).trim();
    expect(after).not.toBe(before);
    expect(result.commit).toBe(after);
    expect(ostree('cat', after, '/usr/share/hello/greeting')).toBe('hello\n');
    expect(ostree('cat', after, '/usr/bin/tool')).toBe('base\n');
    const tree = new RepoTree(new OstreeRepo(repoPath), after);
    const database = await fakeBackend.openDatabase(tree, (await fakeBackend.detect(tree))!);
    expect((await database.packages()).map((p) => `${p.name} ${p.version}`).sort()).toEqual(['base-tool 1', 'hello 2.1']);
    expect((await database.owners(['/usr/share/hello/greeting'])).get('/usr/share/hello/greeting')).toEqual([{ name: 'hello', version: '2.1', arch: 'any' }]);
    ostree('fsck', '--quiet');
  });

  it('refuses a package that ships a base file with other content, and leaves the ref where it was', async () => {
    const before = ostree('rev-parse', REF).trim();
    const clobber = await writeFakePackage(join(dir, 'packages'), { name: 'clobber', version: '1', entries: [{ path: '/usr/bin/tool', content: 'mine\n', mode: 0o755 }] });
    await expect(install({ plugins: [fakePlugin], files: [clobber], commitOnly: { repo: repoPath, ref: REF }, cacheDir: join(dir, 'cache') })).rejects.toThrow(FileConflictError);
    expect(ostree('rev-parse', REF).trim()).toBe(before);
  });
});
