// The dpkg plugin against the contract's conformance suite, with .debs built by the real dpkg-deb and a flat APT
// repository indexed by the real apt-ftparchive.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dpkgPlugin } from '@ostree-layer/dpkg';
import { buildDeb, buildRpm } from '@ostree-layer/testkit';
import { describePluginConformance } from '@ostree-layer/testkit/conformance';

describePluginConformance(dpkgPlugin, async () => {
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
  const otherFormatFile = await buildRpm(join(dir, 'rpm'), { name: 'an-rpm', version: '1', files: [{ path: '/usr/share/an-rpm', content: 'x\n' }] });
  // A flat repository ("deb [trusted=yes] file:///dir ./"): an amd64 tool that needs an arch: all library, and the
  // same tool for arm64, which this amd64 tree cannot take.
  const mirror = join(dir, 'mirror');
  const tool = (arch: string) => buildDeb(mirror, { name: 'conf-tool', version: '1.2-1', arch, depends: 'conf-lib (>= 1)', files: [{ path: '/usr/bin/conf-tool', content: '#!/bin/sh\n', mode: 0o755 }] });
  await tool('arm64');
  const repoPackages = [await tool('amd64'), await buildDeb(mirror, { name: 'conf-lib', version: '1.0-1', arch: 'all', files: [{ path: '/usr/share/conf-lib/data', content: 'lib\n' }] })];
  writeFileSync(join(mirror, 'Packages'), execFileSync('apt-ftparchive', ['packages', '.'], { cwd: mirror }));
  writeFileSync(join(mirror, 'Release'), execFileSync('apt-ftparchive', ['release', '.'], { cwd: mirror }));
  // Ascending as dpkg --compare-versions orders them (checked by hand with the real tool).
  return {
    packages, foreignFile, otherFormatFile, treeWithDatabase: tree, overwrite, scripted,
    ascendingVersions: ['0.9', '1.0~rc1', '1.0', '1.0-1', '1.0a', '1.0+b1', '1:0.1'],
    versionOperators: { lower: 'lt', equal: 'eq', higher: 'gt' },
    repository: {
      sources: [`deb [trusted=yes] file://${mirror} ./`],
      packages: repoPackages,
      // The tree's only package is amd64 and its database names no other architecture.
      arch: 'amd64',
      request: 'conf-tool',
      installs: ['conf-tool amd64', 'conf-lib all'],
    },
  };
});
