import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ToolError } from '../errors.js';
import { OstreeRepo } from '../ostree.js';
import { DirectoryTree, readFiles, type TreeReader } from '../tree.js';
import { parseLsLine, RepoTree } from './repo-tree.js';

// The same tree read two ways must answer the same: from a checkout on disk, and lazily from the repo.
const work = mkdtempSync(join(tmpdir(), 'repo-tree-'));
const src = join(work, 'src');
mkdirSync(join(src, 'usr/lib/sysimage/db/info'), { recursive: true });
mkdirSync(join(src, 'usr/share/private'), { recursive: true, mode: 0o700 });
writeFileSync(join(src, 'usr/lib/sysimage/db/status'), 'Package: a\n');
writeFileSync(join(src, 'usr/lib/sysimage/db/info/a.list'), '/usr/bin/a\n');
writeFileSync(join(src, 'usr/share/private/secret'), 'x'.repeat(5000), { mode: 0o600 });
symlinkSync('usr/lib', join(src, 'lib'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// A bare repo is read in-process from its objects, a bare-user one through the ostree binary.
describe.each(['bare', 'bare-user'])('RepoTree on a %s repo', (mode) => {
  const repoPath = join(work, `repo-${mode}`);
  execFileSync('ostree', ['init', `--repo=${repoPath}`, `--mode=${mode}`]);
  const commit = execFileSync('ostree', [`--repo=${repoPath}`, 'commit', '--orphan', `--tree=dir=${src}`], { encoding: 'utf8' }).trim();
  const checkout = join(work, `checkout-${mode}`);
  execFileSync('ostree', [`--repo=${repoPath}`, 'checkout', '-U', commit, checkout]);
  const disk = new DirectoryTree(checkout);

  it('reads the objects in-process exactly when the repo is bare', () => {
    expect(new OstreeRepo(repoPath).objects() !== null).toBe(mode === 'bare');
  });

  it.each(['/usr/share/private', '/usr/share/private/secret', '/lib', '/usr/lib/sysimage/db/status', '/nope', '/usr/nope/deeper'])(
    'answers lstat(%s) as the checkout does',
    async (path) => {
      const lazy = new RepoTree(new OstreeRepo(repoPath), commit);
      const [a, b] = [await lazy.lstat(path), await disk.lstat(path)];
      expect(a === null ? null : { type: a.type, mode: a.mode, size: a.type === 'file' ? a.size : 0 }).toEqual(
        b === null ? null : { type: b.type, mode: b.mode, size: b.type === 'file' ? b.size : 0 },
      );
    },
  );

  it('reads links, files and directories, and serves a prefetched subtree from disk', async () => {
    const lazy = new RepoTree(new OstreeRepo(repoPath), commit);
    expect(await lazy.readlink('/lib')).toBe('usr/lib');
    expect((await lazy.readFile('/usr/share/private/secret')).toString('utf8')).toBe('x'.repeat(5000));
    expect((await lazy.readFile('/usr/lib/sysimage/db/status')).toString('utf8')).toBe('Package: a\n');
    expect((await lazy.readdir('/usr/lib/sysimage/db')).sort()).toEqual(['info', 'status']);
    await lazy.prefetch('/usr/lib/sysimage/db');
    expect((await lazy.readFile('/usr/lib/sysimage/db/info/a.list')).toString()).toBe('/usr/bin/a\n');
    expect(await lazy.readdir('/usr/lib/sysimage/db/info')).toEqual(['a.list']);
    await lazy.dispose();
    expect(execFileSync('ls', [join(repoPath, 'tmp')], { encoding: 'utf8' })).not.toMatch(/ostree-layer-/);
  });

  it('reads many files in one call as the checkout does: bytes, or null where no file is', async () => {
    const paths = ['/usr/lib/sysimage/db/status', '/usr/lib/sysimage/db/info/a.list', '/usr/lib/sysimage/db/info/b.list', '/usr/share/private/secret', '/usr/lib/sysimage/db/status/below', '/usr/lib/sysimage/db/info'];
    const expected = [Buffer.from('Package: a\n'), Buffer.from('/usr/bin/a\n'), null, Buffer.from('x'.repeat(5000)), null, null];
    expect(await readFiles(disk, paths)).toEqual(expected);
    const lazy = new RepoTree(new OstreeRepo(repoPath), commit);
    expect(await lazy.readFiles(paths)).toEqual(expected);
    // Half of the paths from a prefetched checkout, half from the repo.
    await lazy.prefetch('/usr/lib/sysimage/db');
    expect(await lazy.readFiles(paths)).toEqual(expected);
    await lazy.dispose();
    // A reader without readFiles of its own is asked path by path.
    const plain = { description: 'plain', lstat: (p: string) => disk.lstat(p), readFile: (p: string) => disk.readFile(p) } as unknown as TreeReader;
    expect(await readFiles(plain, paths)).toEqual(expected);
  });

  it('streams a file, and reports a failing ostree cat as the stream\'s error, not an unhandled rejection', async () => {
    const lazy = new RepoTree(new OstreeRepo(repoPath), commit);
    const read = async (path: string) => {
      let text = '';
      for await (const chunk of lazy.createReadStream(path)) text += String(chunk);
      return text;
    };
    expect(await read('/usr/share/private/secret')).toBe('x'.repeat(5000));
    const unhandled: unknown[] = [];
    const record = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', record);
    try {
      await expect(read('/usr/share/missing')).rejects.toThrow(ToolError);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  it('gives a missing commit no answer but an error', async () => {
    const lazy = new RepoTree(new OstreeRepo(repoPath), '0'.repeat(64));
    await expect(lazy.lstat('/usr')).rejects.toThrow(ToolError);
  });
});

describe('ostree ls lines', () => {
  it('parses ostree ls lines', () => {
    expect(parseLsLine('d00755 0 0      0 /usr/share')).toEqual({ path: '/usr/share', stat: { type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0 } });
    expect(parseLsLine('-04755 0 0 318096 /usr/bin/su')?.stat.mode).toBe(0o4755);
    expect(parseLsLine('l00777 0 0      0 /lib -> usr/lib')).toMatchObject({ path: '/lib', target: 'usr/lib' });
    expect(parseLsLine('garbage')).toBeNull();
  });
});
