import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryTree } from './tree.js';

const root = mkdtempSync(join(tmpdir(), 'tree-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('DirectoryTree.lstat', () => {
  it('answers "not there" for a path the tree prefix pushes past PATH_MAX, when a parent is missing', async () => {
    const tree = new DirectoryTree(root);
    const deep = '/usr/share/' + Array.from({ length: 20 }, () => 'd'.repeat(203)).join('/');
    expect(deep.length).toBeLessThan(4096);
    expect(await tree.lstat(deep)).toBeNull();
    expect((await tree.lstat('/'))?.type).toBe('directory');
  });
});
