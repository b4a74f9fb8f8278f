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
});
