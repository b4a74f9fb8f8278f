import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryTree } from '@ostree-layer/core';
import { DPKG_TMPFILES, EXTENDED_STATES, nativeToolFiles } from './native-tools.js';

function treeWith(files: Record<string, string>): DirectoryTree {
  const root = mkdtempSync(join(tmpdir(), 'dpkg-native-tools-'));
  mkdirSync(join(root, 'usr/etc'), { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return new DirectoryTree(root);
}

describe('nativeToolFiles', () => {
  it('links /var/lib/dpkg to the database, points apt at its marks, and keeps, adds and drops marks', async () => {
    const tree = treeWith({ [EXTENDED_STATES]: 'Package: old-dep\nArchitecture: amd64\nAuto-Installed: 1\n\nPackage: gone\nArchitecture: amd64\nAuto-Installed: 1\n' });
    const files = await nativeToolFiles(tree, '/usr/lib/sysimage/dpkg', {
      automatic: [{ name: 'data-all', version: '1', arch: 'all' }, { name: 'old-dep', version: '1', arch: 'amd64' }],
      removed: [{ name: 'gone', version: '1', arch: 'amd64' }],
      nativeArch: 'amd64',
    });
    const byPath = new Map(files.map((f) => [f.path, String(f.content)]));
    expect(byPath.get(DPKG_TMPFILES)).toMatch(/^L\+ \/var\/lib\/dpkg - - - - \/usr\/lib\/sysimage\/dpkg$/m);
    expect(byPath.get('/usr/etc/apt/apt.conf.d/50ostree-layer')).toContain(`Dir::State::extended_states "${EXTENDED_STATES}";`);
    // apt records arch-all packages under the native architecture.
    expect(byPath.get(EXTENDED_STATES)).toBe(
      'Package: old-dep\nArchitecture: amd64\nAuto-Installed: 1\n\nPackage: data-all\nArchitecture: amd64\nAuto-Installed: 1\n',
    );
  });

  it('writes nothing for a tree that keeps its database in /var/lib/dpkg', async () => {
    expect(await nativeToolFiles(treeWith({}), '/var/lib/dpkg', { nativeArch: 'amd64' })).toEqual([]);
  });
});
