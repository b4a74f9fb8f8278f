import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SystemStateError } from '../errors.js';
import { PathPlacer } from '../import/placement.js';
import { DirectoryTree } from '../tree.js';
import { placeDatabasePath } from './final-layer.js';

const root = mkdtempSync(join(tmpdir(), 'final-layer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('placeDatabasePath', () => {
  it('follows the base symlink a database is reached through, relocates /etc, and refuses /var', async () => {
    mkdirSync(join(root, 'usr/lib/sysimage/dpkg/info'), { recursive: true });
    mkdirSync(join(root, 'var/lib'), { recursive: true });
    mkdirSync(join(root, 'var/lib/rpm'), { recursive: true });
    symlinkSync('../../usr/lib/sysimage/dpkg', join(root, 'var/lib/dpkg'));
    const placer = new PathPlacer(new DirectoryTree(root));
    expect(await placeDatabasePath(placer, '/var/lib/dpkg/status', false)).toBe('/usr/lib/sysimage/dpkg/status');
    expect(await placeDatabasePath(placer, '/var/lib/dpkg/info', true)).toBe('/usr/lib/sysimage/dpkg/info');
    expect(await placeDatabasePath(placer, '/etc/dpkg/origins/x', false)).toBe('/usr/etc/dpkg/origins/x');
    await expect(placeDatabasePath(placer, '/var/lib/rpm/rpmdb.sqlite', false)).rejects.toThrow(SystemStateError);
    await expect(placeDatabasePath(placer, '/var/lib/rpm/rpmdb.sqlite', false)).rejects.toThrow(/OSTree does not deploy/);
  });
});
