/**
 * Stacking commits on the objects (stack-trees.ts) against `ostree commit --tree=ref=…` stacking the same commits:
 * the same root checksums, byte for byte, with directories large enough for every width of GVariant framing offset.
 * Needs root (a `bare` repo keeps owners as they are).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ObjectStore } from '../object-writer.js';
import { ObjectReader } from '../repo-objects.js';
import { stackTrees } from './stack-trees.js';

const root = process.getuid?.() === 0;
let dir: string;
let repo: string;
const ostree = (...args: string[]) => execFileSync('ostree', [`--repo=${repo}`, ...args], { encoding: 'utf8' }).trim();

/** A commit of the tree `files` describes (path → content; a `->` prefix makes a symlink, a trailing / a directory). */
function commit(name: string, files: Record<string, string>, modes: Record<string, number> = {}): string {
  const tree = join(dir, name);
  for (const [path, content] of Object.entries(files)) {
    const full = join(tree, path);
    if (path.endsWith('/')) {
      mkdirSync(full, { recursive: true });
      continue;
    }
    mkdirSync(join(full, '..'), { recursive: true });
    if (content.startsWith('->')) symlinkSync(content.slice(2), full);
    else writeFileSync(full, content);
  }
  for (const [path, mode] of Object.entries(modes)) execFileSync('chmod', [mode.toString(8), join(tree, path)]);
  return ostree('commit', '--orphan', `--tree=dir=${tree}`, '--owner-uid=0', '--owner-gid=0');
}

/** Root dirtree and dirmeta checksums of a commit, as `ostree ls -C` prints them. */
function rootOf(checksum: string): { tree: string; meta: string } {
  const [, , , , tree, meta] = ostree('ls', '-d', '-C', checksum, '/').split(/\s+/);
  return { tree: tree!, meta: meta! };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stack-trees-'));
  repo = join(dir, 'repo');
  execFileSync('ostree', ['init', `--repo=${repo}`, '--mode=bare']);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!root)('stacking commits in-process', () => {
  it('gives the root ostree commit gives for the same stack', () => {
    const big: Record<string, string> = {};
    // 5,000 entries: element offsets of 1 byte, array offsets of 4 (a table past 64 KiB); 300 with long names: 2-byte element offsets.
    for (let i = 0; i < 5000; i++) big[`usr/lib/db/info/package-${i}.list`] = `${i}\n`;
    for (let i = 0; i < 300; i++) big[`usr/share/long/${'n'.repeat(240)}-${i}`] = 'long\n';
    const base = commit('base', { ...big, 'usr/bin/tool': 'base\n', 'usr/bin/sh': '->dash', 'usr/share/doc/': '', 'etc/keep': 'k\n', 'usr/lib/ünïcode/é': 'u\n' }, { 'usr/share/doc': 0o700 });
    const layer = commit('layer', { 'usr/bin/new': 'new\n', 'usr/bin/tool': 'layer\n', 'usr/lib/db/info/zzz.list': 'z\n', 'usr/lib/db/info/aaa.list': 'a\n', 'usr/share/doc/pkg/copyright': 'c\n', 'usr/lib/ünïcode/ê': 'v\n', 'usr/lib/💾/x': 'x\n' });
    const last = commit('last', { 'usr/lib/db/info/package-42.list': 'replaced\n', 'usr/share/doc/': '' }, { 'usr/share/doc': 0o755 });
    for (const stack of [[base, layer, last], [base, layer], [base, last], [base]]) {
      const expected = rootOf(ostree('commit', '--orphan', ...stack.map((c) => `--tree=ref=${c}`)));
      expect(stackTrees(ObjectReader.open(repo)!, new ObjectStore(repo), stack)).toEqual(expected);
    }
    ostree('fsck', '--quiet');
  });

  it('leaves a name that is a file in one commit and a directory in another to ostree', () => {
    const file = commit('as-file', { 'usr/thing': 'file\n' });
    const directory = commit('as-dir', { 'usr/thing/inside': 'x\n' });
    const reader = ObjectReader.open(repo)!;
    expect(stackTrees(reader, new ObjectStore(repo), [file, directory])).toBeNull();
    expect(stackTrees(reader, new ObjectStore(repo), [directory, file])).toBeNull();
  });
});
