import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PackageEntry } from '../backend.js';
import { DirectoryTree } from '../tree.js';
import { PathPlacer } from './placement.js';

// A usrmerged base on disk, with the odd symlinks real trees have.
const root = mkdtempSync(join(tmpdir(), 'placement-'));
for (const dir of ['usr/lib/x86_64-linux-gnu', 'usr/bin', 'usr/etc', 'opt/real']) mkdirSync(join(root, dir), { recursive: true });
symlinkSync('usr/lib', join(root, 'lib'));
symlinkSync('usr/bin', join(root, 'bin'));
symlinkSync('/usr/lib', join(root, 'usr/lib64')); // absolute: read relative to the tree, never the host
symlinkSync('../opt/real', join(root, 'usr/optlink'));
symlinkSync('loop-b', join(root, 'loop-a'));
symlinkSync('loop-a', join(root, 'loop-b'));
writeFileSync(join(root, 'usr/bin/tool'), '');
symlinkSync('tool', join(root, 'usr/bin/tool-alias'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const placer = new PathPlacer(new DirectoryTree(root));
const entry = (path: string, type: PackageEntry['type'] = 'file', extra: Partial<PackageEntry> = {}): PackageEntry => ({
  path, type, mode: type === 'directory' ? 0o755 : 0o644, user: 'root', group: 'root', size: 0, mtime: 0, ...extra,
});

describe('PathPlacer', () => {
  it.each([
    ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6'],
    ['/bin/sh', '/usr/bin/sh'],
    ['/usr/lib64/ld.so', '/usr/lib/ld.so'],
    ['/usr/optlink/x', '/opt/real/x'],
    ['/etc/foo.conf', '/usr/etc/foo.conf'],
    ['/boot/vmlinuz', '/usr/lib/ostree-boot/vmlinuz'],
    ['/usr/share/doc/x', '/usr/share/doc/x'],
  ])('places %s at %s', async (from, to) => {
    expect(await placer.place(entry(from), 'x.deb')).toEqual({ kind: 'tree', path: to });
  });

  it('keeps a base symlink a directory entry names, and does not follow a final symlink to a file', async () => {
    expect(await placer.place(entry('/lib', 'directory'), 'x.deb')).toEqual({ kind: 'tree', path: '/usr/lib' });
    expect(await placer.place(entry('/usr/bin/tool-alias'), 'x.deb')).toEqual({ kind: 'tree', path: '/usr/bin/tool-alias' });
  });

  it('gives up on a symlink loop instead of spinning', async () => {
    const placed = await placer.place(entry('/loop-a/x'), 'x.deb');
    expect(placed.kind).toBe('tree');
  });

  it('turns /var and /run entries into tmpfiles.d lines, regular files into factory copies', async () => {
    expect(await placer.place(entry('/var/lib/foo', 'directory', { mode: 0o750, user: 'daemon', group: 'adm' }), 'x.deb')).toEqual({
      kind: 'runtime',
      tmpfiles: 'd /var/lib/foo 0750 daemon adm -',
    });
    expect(await placer.place(entry('/run/foo', 'symlink', { linkTarget: '/tmp/foo' }), 'x.deb')).toEqual({
      kind: 'runtime',
      tmpfiles: 'L /run/foo - - - - /tmp/foo',
    });
    expect(await placer.place(entry('/var/lib/foo/seed file'), 'x.deb')).toEqual({
      kind: 'runtime',
      tmpfiles: 'C "/var/lib/foo/seed file" - - - - "/usr/share/factory/var/lib/foo/seed file"',
      factoryPath: '/usr/share/factory/var/lib/foo/seed file',
    });
  });

  it('refuses a device node under /var with the package named', async () => {
    await expect(placer.place(entry('/var/lib/dev0', 'char-device'), 'evil.deb')).rejects.toThrow(/evil\.deb: \/var\/lib\/dev0/);
  });
});

describe('PathPlacer questions to the base', () => {
  /** The on-disk base above, with every lookup counted. */
  function countingTree(): { tree: DirectoryTree; asked: string[] } {
    const tree = new DirectoryTree(root);
    const asked: string[] = [];
    const lstat = tree.lstat.bind(tree);
    tree.lstat = (path: string) => {
      asked.push(path);
      return lstat(path);
    };
    return { tree, asked };
  }

  it('answers for paths under a directory the base lacks without asking', async () => {
    const { tree, asked } = countingTree();
    const counted = new PathPlacer(tree);
    for (let i = 0; i < 50; i++) await counted.place(entry(`/usr/share/new-package/sub/file${i}`), 'x.deb');
    expect(await counted.stat('/usr/share/new-package/sub/file3')).toBeNull();
    expect(asked.filter((p) => p.startsWith('/usr/share/new-package/'))).toEqual([]);
  });

  it('writes down the facts it placed by, which hold on the same base and fail on another', async () => {
    const facts = new Map<string, string>();
    const recording = new PathPlacer(new DirectoryTree(root)).recording(facts);
    expect(await recording.place(entry('/lib/x86_64-linux-gnu/libnew.so'), 'x.deb')).toEqual({ kind: 'tree', path: '/usr/lib/x86_64-linux-gnu/libnew.so' });
    await recording.stat('/usr/lib/x86_64-linux-gnu/libnew.so');
    expect(facts.get('/lib')).toBe('l usr/lib');
    expect(facts.get('/usr/lib/x86_64-linux-gnu')).toMatch(/^d 755 /);
    expect(facts.get('/usr/lib/x86_64-linux-gnu/libnew.so')).toBe('-');
    expect(await new PathPlacer(new DirectoryTree(root)).sameFacts([...facts])).toBe(true);

    const other = mkdtempSync(join(tmpdir(), 'placement-other-'));
    try {
      mkdirSync(join(other, 'lib/x86_64-linux-gnu'), { recursive: true });
      expect(await new PathPlacer(new DirectoryTree(other)).sameFacts([...facts])).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
