// The testkit's fake plugin against the contract's conformance suite: core's tests rely on it behaving as a format.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDeb, fakePlugin, makeFakeTree, writeFakePackage, writeFakeRepository } from '@ostree-layer/testkit';
import { describePluginConformance } from '@ostree-layer/testkit/conformance';

describePluginConformance(fakePlugin, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conformance-fake-'));
  const base = { name: 'base-files', version: '12', entries: [{ path: '/etc', type: 'directory' as const }, { path: '/etc/issue', content: 'Fake 12\n' }] };
  // The one arch-specific base package says what the target runs.
  const libc = { name: 'fake-libc', version: '2', arch: 'fake64', entries: [{ path: '/usr/lib/libfake.so', content: 'lib\n' }] };
  const tree = await makeFakeTree(join(dir, 'tree'), [base, libc]);
  const packages = [
    await writeFakePackage(dir, {
      name: 'conf-a',
      version: '1.0',
      entries: [{ path: '/usr/share/conf-a', type: 'directory' }, { path: '/usr/share/conf-a/file', content: 'a\n' }, { path: '/usr/share/conf-a/link', type: 'symlink', target: 'file' }],
    }),
    await writeFakePackage(dir, { name: 'conf-b', version: '0.1', arch: 'x86_64', entries: [{ path: '/usr/bin/conf-b', content: '#!/bin/sh\n', mode: 0o755 }] }),
  ];
  const sharedPath = '/usr/share/conf-a/file';
  const overwrite = {
    owner: packages[0]!,
    stranger: await writeFakePackage(dir, { name: 'conf-stranger', version: '1', entries: [{ path: sharedPath, content: 'not a\n' }] }),
    replacer: await writeFakePackage(dir, { name: 'conf-replacer', version: '1', replaces: ['conf-a'], entries: [{ path: sharedPath, content: 'newer a\n' }] }),
    path: sharedPath,
  };
  const scripted = await writeFakePackage(dir, { name: 'conf-scripted', version: '1', scripts: { postinst: 'exit 0\n' }, entries: [{ path: '/usr/share/conf-scripted/data', content: 'x\n' }] });
  const foreignFile = join(dir, 'not-fake.fakepkg');
  writeFileSync(foreignFile, '{"name": "no magic line"}\n');
  const otherFormatFile = await buildDeb(join(dir, 'deb'), { name: 'a-deb', version: '1', files: [{ path: '/usr/share/a-deb', content: 'x\n' }] });
  // A repository with the tool for the target's arch, the same tool for another arch, and a library for any arch.
  const mirror = join(dir, 'mirror');
  const tool = (arch: string) => writeFakePackage(mirror, { name: 'conf-tool', version: '1.2', arch, requires: ['conf-lib'], entries: [{ path: '/usr/bin/conf-tool', content: '#!/bin/sh\n', mode: 0o755 }] });
  const repoPackages = [await tool('fake64'), await writeFakePackage(mirror, { name: 'conf-lib', version: '1', entries: [{ path: '/usr/share/conf-lib', content: 'lib\n' }] })];
  const source = await writeFakeRepository(mirror, [...repoPackages, await tool('other64')]);
  return {
    packages, foreignFile, otherFormatFile, treeWithDatabase: tree, overwrite, scripted,
    ascendingVersions: ['0.9', '1.0', '1.0.1', '1.1', '1.10', '2', '2a'],
    versionOperators: { lower: '<', equal: '=', higher: '>' },
    repository: { sources: [source], packages: repoPackages, arch: 'fake64', request: 'conf-tool', installs: ['conf-tool fake64', 'conf-lib any'] },
  };
});
