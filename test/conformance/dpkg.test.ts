// The dpkg backend against the contract's conformance suite, with .debs built by the real dpkg-deb.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dpkgBackend } from '@ostree-layer/dpkg';
import { buildDeb } from '@ostree-layer/testkit';
import { describeBackendConformance } from '@ostree-layer/testkit/conformance';

describeBackendConformance(dpkgBackend, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conformance-dpkg-'));
  const packages = [
    await buildDeb(dir, {
      name: 'conf-a',
      version: '1.0-1',
      files: [{ path: '/usr/share/conf-a', dir: true }, { path: '/usr/share/conf-a/file', content: 'a\n' }, { path: '/usr/share/conf-a/link', symlink: 'file' }],
    }),
    await buildDeb(dir, { name: 'conf-b', version: '2:0.1', arch: 'amd64', files: [{ path: '/usr/bin/conf-b', content: '#!/bin/sh\n', mode: 0o755 }], compression: 'zstd' }),
  ];
  const sharedPath = '/usr/share/conf-a/file';
  const overwrite = {
    owner: packages[0]!,
    stranger: await buildDeb(dir, { name: 'conf-stranger', version: '1', files: [{ path: sharedPath, content: 'not a\n' }] }),
    replacer: await buildDeb(dir, { name: 'conf-replacer', version: '1', replaces: 'conf-a (<< 2)', files: [{ path: sharedPath, content: 'newer a\n' }] }),
    path: sharedPath,
  };
  const scripted = await buildDeb(dir, {
    name: 'conf-scripted',
    version: '1',
    files: [{ path: '/usr/share/conf-scripted/data', content: 'x\n' }],
    scripts: { preinst: '#!/bin/sh\nexit 0\n', postinst: '#!/bin/sh\nexit 0\n' },
  });
  const foreignFile = join(dir, 'not-a-deb.deb');
  writeFileSync(foreignFile, '!<arch>\nbut nothing a .deb needs\n');
  const tree = join(dir, 'tree');
  const db = join(tree, 'usr/lib/sysimage/dpkg');
  mkdirSync(join(db, 'info'), { recursive: true });
  mkdirSync(join(db, 'updates'));
  writeFileSync(join(db, 'status'), 'Package: base-files\nStatus: install ok installed\nPriority: required\nSection: admin\nMaintainer: x <x@example.org>\nArchitecture: amd64\nVersion: 12.4\nDescription: base\n\n');
  writeFileSync(join(db, 'info/base-files.list'), '/.\n/etc\n/etc/debian_version\n');
  execFileSync('dpkg-query', [`--admindir=${db}`, '-W', 'base-files']); // the hand-made database is one dpkg reads
  // Ascending as dpkg --compare-versions orders them (checked by hand with the real tool).
  return {
    packages, foreignFile, treeWithDatabase: tree, overwrite, scripted,
    ascendingVersions: ['0.9', '1.0~rc1', '1.0', '1.0-1', '1.0a', '1.0+b1', '1:0.1'],
  };
});
