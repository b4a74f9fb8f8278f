// pacman.conf as the deployment's pacman reads it: sections, Include, $repo/$arch, SigLevel.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryTree, UsageError } from '@ostree-layer/core';
import { describe, expect, it } from 'vitest';
import { readSyncConfig } from './config.js';
import { sigPolicy } from './signature.js';

function treeWith(files: Record<string, string>): DirectoryTree {
  const root = mkdtempSync(join(tmpdir(), 'pacman-conf-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return new DirectoryTree(root);
}

describe('pacman.conf', () => {
  it('reads the repositories from /usr/etc, following Include and expanding $repo and $arch', async () => {
    const tree = treeWith({
      '/usr/etc/pacman.conf': '[options]\nArchitecture = auto\nSigLevel = Required DatabaseOptional\n\n[core]\nInclude = /etc/pacman.d/mirrorlist\n\n[extra]\nSigLevel = Never # trusted mirror\nServer = https://mirror.example/$repo/os/$arch/\n',
      '/usr/etc/pacman.d/mirrorlist': '# the mirrors\nServer = https://one.example/$repo/os/$arch\nServer = file:///srv/$repo\n',
    });
    const repos = await readSyncConfig(tree, 'x86_64', ['local file:///srv/local']);
    expect(repos.map((r) => [r.name, r.servers, r.sigLevel, r.configuredIn])).toEqual([
      ['core', ['https://one.example/core/os/x86_64', 'file:///srv/core'], ['Required', 'DatabaseOptional'], '/usr/etc/pacman.conf'],
      ['extra', ['https://mirror.example/extra/os/x86_64'], ['Required', 'DatabaseOptional', 'Never'], '/usr/etc/pacman.conf'],
      ['local', ['file:///srv/local'], ['Required', 'DatabaseOptional'], '--source'],
    ]);
    expect(sigPolicy(repos[0]!.sigLevel)).toMatchObject({ database: 'optional', package: 'required' });
    expect(sigPolicy(repos[1]!.sigLevel)).toMatchObject({ database: 'never', package: 'never' });
    // pacman's built-in default, when pacman.conf says nothing: Optional TrustedOnly.
    expect(sigPolicy([])).toEqual({ database: 'optional', package: 'optional', trustAll: { database: false, package: false } });
    expect(sigPolicy(['PackageTrustAll', 'DatabaseRequired']).trustAll).toEqual({ database: false, package: true });
  });

  it('says what is wrong with a missing Include or a malformed --source', async () => {
    await expect(readSyncConfig(treeWith({ '/usr/etc/pacman.conf': '[core]\nInclude = /etc/pacman.d/gone\n' }), 'x86_64')).rejects.toThrow(/Include = \/etc\/pacman.d\/gone/);
    await expect(readSyncConfig(treeWith({}), 'x86_64', ['just-a-name'])).rejects.toThrow(UsageError);
  });
});
