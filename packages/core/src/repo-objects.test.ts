import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLsLine } from './discover/repo-tree.js';
import { ObjectReader } from './repo-objects.js';

// Needs root (ownership other than root's lands in a bare repo only then). The judge is `ostree ls -R` itself.
const work = mkdtempSync(join(tmpdir(), 'repo-objects-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function commitOf(src: string): { repo: string; commit: string } {
  const repo = join(work, `repo-${Math.random().toString(36).slice(2)}`);
  execFileSync('ostree', ['init', `--repo=${repo}`, '--mode=bare']);
  const commit = execFileSync('ostree', [`--repo=${repo}`, 'commit', '--orphan', '--subject=a subject', '--body=and a body', `--tree=dir=${src}`, '--add-metadata-string=k=v'], { encoding: 'utf8' }).trim();
  return { repo, commit };
}

async function compareWithOstree(repo: string, commit: string): Promise<number> {
  const reader = ObjectReader.open(repo)!;
  const listing = execFileSync('ostree', [`--repo=${repo}`, 'ls', '-R', commit, '/'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  let paths = 0;
  for (const line of listing.split('\n')) {
    const listed = parseLsLine(line);
    if (!listed) continue;
    const node = reader.resolve(commit, listed.path);
    expect(node, listed.path).not.toBeNull();
    const { stat, target } = await reader.stat(node!);
    expect({ path: listed.path, stat, target }).toEqual(listed);
    paths++;
  }
  return paths;
}

describe('ObjectReader', () => {
  it('answers every path of a commit as ostree ls -R does: modes, owners, sizes, link targets', async () => {
    const src = join(work, 'src');
    mkdirSync(join(src, 'usr/bin'), { recursive: true });
    mkdirSync(join(src, 'usr/share/empty'), { recursive: true });
    mkdirSync(join(src, 'var/private'), { recursive: true, mode: 0o700 });
    writeFileSync(join(src, 'usr/bin/su'), 'x'.repeat(1234));
    chmodSync(join(src, 'usr/bin/su'), 0o4755);
    writeFileSync(join(src, 'usr/share/empty-file'), '');
    writeFileSync(join(src, 'usr/share/ünïcode ☃'), 'snow');
    writeFileSync(join(src, 'var/private/owned'), 'mine', { mode: 0o640 });
    chownSync(join(src, 'var/private/owned'), 1000, 1001);
    chownSync(join(src, 'var/private'), 1000, 1001);
    symlinkSync('su', join(src, 'usr/bin/link'));
    symlinkSync('/a/target/that/does/not/exist', join(src, 'usr/bin/dangling'));
    lchownSync(join(src, 'usr/bin/dangling'), 7, 8);
    const { repo, commit } = commitOf(src);
    expect(await compareWithOstree(repo, commit)).toBe(13);
  });

  // Framing offsets are 1, 2 or 4 bytes wide, by the size of the object: directories of 10, 300 and 3000 entries.
  it.each([10, 300, 3000])('reads a directory of %i entries, files and subdirectories', async (count) => {
    const src = join(work, `wide-${count}`);
    for (let i = 0; i < count; i++) {
      if (i % 3 === 0) mkdirSync(join(src, 'd', `sub-${i}`), { recursive: true });
      else {
        mkdirSync(join(src, 'd'), { recursive: true });
        writeFileSync(join(src, 'd', `file-with-a-longer-name-${i}`), String(i));
      }
    }
    const { repo, commit } = commitOf(src);
    expect(await compareWithOstree(repo, commit)).toBe(count + 2);
    const reader = ObjectReader.open(repo)!;
    expect(reader.resolve(commit, '/d/sub-0')?.kind).toBe('directory');
    expect(reader.resolve(commit, '/d/file-with-a-longer-name-1/below')).toBeNull();
    expect(reader.resolve(commit, '/d/nope')).toBeNull();
  });

  it('leaves repos that are not bare to the ostree binary', () => {
    for (const mode of ['bare-user', 'archive']) {
      const repo = join(work, `other-${mode}`);
      execFileSync('ostree', ['init', `--repo=${repo}`, `--mode=${mode}`]);
      expect(ObjectReader.open(repo), mode).toBeNull();
    }
    expect(ObjectReader.open(join(work, 'no-repo-here'))).toBeNull();
  });

  describe('checkout', () => {
    /** Two layers over each other in one repo: replaced files, a changed directory mode, paths that change kind. */
    function layers(tag: string): { repo: string; a: string; b: string } {
      const a = join(work, `layer-a-${tag}`);
      const b = join(work, `layer-b-${tag}`);
      mkdirSync(join(a, 'usr/bin'), { recursive: true });
      mkdirSync(join(a, 'usr/lib'), { recursive: true });
      mkdirSync(join(a, 'usr/share/doc'), { recursive: true, mode: 0o700 });
      writeFileSync(join(a, 'usr/bin/tool'), 'old');
      writeFileSync(join(a, 'usr/bin/keep'), 'kept');
      chmodSync(join(a, 'usr/bin/keep'), 0o4755);
      writeFileSync(join(a, 'usr/lib/only-a'), 'a file');
      symlinkSync('tool', join(a, 'usr/bin/alias'));
      mkdirSync(join(b, 'usr/bin'), { recursive: true });
      mkdirSync(join(b, 'usr/lib/new-dir'), { recursive: true });
      mkdirSync(join(b, 'usr/share/doc'), { recursive: true });
      chmodSync(join(b, 'usr/share/doc'), 0o2775);
      chownSync(join(b, 'usr/share/doc'), 0, 1001);
      writeFileSync(join(b, 'usr/bin/tool'), 'new');
      writeFileSync(join(b, 'usr/lib/new-dir/x'), 'x');
      symlinkSync('/dangling', join(b, 'usr/bin/alias2'));
      const repo = join(work, `repo-layers-${tag}`);
      execFileSync('ostree', ['init', `--repo=${repo}`, '--mode=bare']);
      const commit = (dir: string) => execFileSync('ostree', [`--repo=${repo}`, 'commit', '--orphan', `--tree=dir=${dir}`], { encoding: 'utf8' }).trim();
      return { repo, a: commit(a), b: commit(b) };
    }
    const listing = (dir: string) =>
      execFileSync('sh', ['-c', `cd ${dir} && find . -printf '%p %y %m %U %G %s %l\\n' | sort`], { encoding: 'utf8' });

    it('writes what ostree checks out of the stacked commit, each file a hardlink of its object', () => {
      const { repo, a, b } = layers(String(Math.random()).slice(2));
      const stacked = execFileSync('ostree', [`--repo=${repo}`, 'commit', '--orphan', `--tree=ref=${a}`, `--tree=ref=${b}`], { encoding: 'utf8' }).trim();
      const expected = join(work, 'co-ostree');
      execFileSync('ostree', [`--repo=${repo}`, 'checkout', stacked, expected]);
      const ours = join(work, 'co-ours');
      mkdirSync(ours);
      expect(ObjectReader.open(repo)!.checkout([a, b], ours)).toBe(true);
      const want = listing(expected);
      expect(want).toContain('./usr/bin/tool f 644 0 0 3');
      expect(want).toContain('./usr/lib/only-a f 644 0 0 6');
      expect(want).toContain('./usr/share/doc d 2775 0 1001');
      expect(listing(ours)).toBe(want);
      // Hardlinks of the objects, as ostree's own checkout makes them: no byte copied.
      const inode = (path: string) => execFileSync('stat', ['-c', '%i', path], { encoding: 'utf8' }).trim();
      expect(inode(join(ours, 'usr/bin/tool'))).toBe(inode(join(expected, 'usr/bin/tool')));
      expect(inode(join(ours, 'usr/bin/keep'))).toBe(inode(join(expected, 'usr/bin/keep')));
    });

    it('over an existing checkout replaces the files in the way, as ostree checkout --union does', () => {
      const { repo, a, b } = layers(String(Math.random()).slice(2));
      const reader = ObjectReader.open(repo)!;
      const ours = join(work, 'co-union');
      expect(reader.checkout([a], ours)).toBe(true);
      expect(reader.checkout([b], ours)).toBe(true);
      const expected = join(work, 'co-union-ostree');
      execFileSync('ostree', [`--repo=${repo}`, 'checkout', a, expected]);
      execFileSync('ostree', [`--repo=${repo}`, 'checkout', '--union', b, expected]);
      const inode = (path: string) => execFileSync('stat', ['-c', '%i', path], { encoding: 'utf8' }).trim();
      expect(inode(join(ours, 'usr/bin/tool'))).toBe(inode(join(expected, 'usr/bin/tool')));
      expect(listing(ours)).toContain('./usr/bin/tool f 644 0 0 3');
      // ostree --union keeps an existing directory's metadata; the stacked commit (and so we) take the later one's.
      const withoutDoc = (text: string) => text.split('\n').filter((l) => !/^\.\/usr\/share(\/doc)? /.test(l)).join('\n');
      expect(withoutDoc(listing(ours))).toBe(withoutDoc(listing(expected)));
      expect(listing(ours)).toContain('./usr/share/doc d 2775 0 1001');
    });

    it('leaves commits that change a path between file and directory to ostree, having written nothing', () => {
      const dirFirst = join(work, 'kind-dir');
      const fileFirst = join(work, 'kind-file');
      mkdirSync(join(dirFirst, 'usr/x'), { recursive: true });
      writeFileSync(join(dirFirst, 'usr/x/below'), 'below');
      mkdirSync(join(fileFirst, 'usr'), { recursive: true });
      writeFileSync(join(fileFirst, 'usr/x'), 'a file');
      const repo = join(work, 'repo-kinds');
      execFileSync('ostree', ['init', `--repo=${repo}`, '--mode=bare']);
      const commit = (dir: string) => execFileSync('ostree', [`--repo=${repo}`, 'commit', '--orphan', `--tree=dir=${dir}`], { encoding: 'utf8' }).trim();
      const [d, f] = [commit(dirFirst), commit(fileFirst)];
      const reader = ObjectReader.open(repo)!;
      for (const [order, dest] of [[[d, f], join(work, 'kinds-1')], [[f, d], join(work, 'kinds-2')]] as const) {
        expect(reader.checkout(order, dest)).toBe(false);
        expect(() => execFileSync('ls', [dest], { stdio: 'pipe' })).toThrow();
      }
    });

    it('leaves a tree whose directories carry xattrs to ostree, having written nothing', () => {
      const src = join(work, 'xattr-src');
      mkdirSync(join(src, 'usr/labelled'), { recursive: true });
      writeFileSync(join(src, 'usr/labelled/f'), 'f');
      execFileSync('setfattr', ['-n', 'user.label', '-v', 'x', join(src, 'usr/labelled')]);
      const { repo, commit } = commitOf(src);
      const dest = join(work, 'xattr-dest');
      expect(ObjectReader.open(repo)!.checkout([commit], dest)).toBe(false);
      expect(() => execFileSync('ls', [dest], { stdio: 'pipe' })).toThrow();
    });
  });
});
