// The rpm plugin against the contract's conformance suite, with .rpms built by the real rpmbuild and a repository
// made by the real createrepo_c.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rpmPlugin } from '@ostree-layer/rpm';
import { buildDeb, buildRpm } from '@ostree-layer/testkit';
import { describePluginConformance } from '@ostree-layer/testkit/conformance';

describePluginConformance(rpmPlugin, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conformance-rpm-'));
  const packages = [
    await buildRpm(dir, {
      name: 'conf-a',
      version: '1.0',
      files: [{ path: '/usr/share/conf-a', dir: true }, { path: '/usr/share/conf-a/file', content: 'a\n' }, { path: '/usr/share/conf-a/link', symlink: 'file' }],
    }),
    await buildRpm(dir, { name: 'conf-b', version: '0.1', epoch: 2, files: [{ path: '/usr/bin/conf-b', content: '#!/bin/sh\n', mode: 0o755 }] }),
    await buildRpm(dir, {
      name: 'conf-c',
      version: '3',
      release: '2',
      files: [{ path: '/usr/share/conf-c', dir: true }, { path: '/usr/share/conf-c/file', content: 'c\n' }, { path: '/usr/share/conf-c/link', symlink: 'file' }],
    }),
  ];
  // rpm has no Replaces: a stranger may only overwrite a multilib sibling's ELF files, which a noarch pair is not.
  const sharedPath = '/usr/share/conf-a/file';
  const overwrite = {
    owner: packages[0]!,
    stranger: await buildRpm(dir, { name: 'conf-stranger', version: '1', files: [{ path: sharedPath, content: 'not a\n' }] }),
    path: sharedPath,
  };
  const scripted = await buildRpm(dir, { name: 'conf-scripted', version: '1', files: [{ path: '/usr/share/conf-scripted/data', content: 'x\n' }], scripts: { post: 'exit 0' } });
  const otherFormatFile = await buildDeb(dir, { name: 'not-an-rpm', version: '1', files: [{ path: '/x', content: 'x' }] });
  const foreignFile = join(dir, 'garbage.rpm');
  writeFileSync(foreignFile, Buffer.from([0xed, 0xab, 0xee]));
  const tree = join(dir, 'tree');
  const db = join(tree, 'usr/lib/sysimage/rpm');
  mkdirSync(db, { recursive: true });
  execFileSync('rpm', ['--dbpath', db, '--initdb']);
  execFileSync('rpm', ['--root', tree, '--dbpath', '/usr/lib/sysimage/rpm', '-i', '--justdb', '--nodeps', packages[0]]);
  // planScripts refuses a scriptlet whose interpreter the tree lacks; nothing runs this one here.
  mkdirSync(join(tree, 'bin'));
  writeFileSync(join(tree, 'bin/sh'), '#!/no/shell/here\n', { mode: 0o755 });
  // The installed package is noarch: the arch comes from the tree's rpm platform file, as rpm in the tree reads it.
  mkdirSync(join(tree, 'usr/etc/rpm'), { recursive: true });
  writeFileSync(join(tree, 'usr/etc/rpm/platform'), 'x86_64-redhat-linux-gnu\n');
  // A repository with an x86_64 tool, a noarch library it needs and an aarch64 build this tree cannot run.
  const mirror = join(dir, 'mirror');
  const tool = (arch: string) => buildRpm(mirror, { name: 'conf-tool', version: '1.2', arch, requires: ['conf-lib >= 1'], files: [{ path: '/usr/bin/conf-tool', content: '#!/bin/sh\n', mode: 0o755 }] });
  const repoPackages = [await tool('x86_64'), await tool('aarch64'), await buildRpm(mirror, { name: 'conf-lib', version: '1.0', files: [{ path: '/usr/share/conf-lib/data', content: 'lib\n' }] })];
  execFileSync('createrepo_c', ['--quiet', mirror]);
  // Ascending as rpm.vercmp orders them (checked by hand with the real tool).
  return {
    packages: packages.slice(1), foreignFile, otherFormatFile, treeWithDatabase: tree, overwrite, scripted,
    ascendingVersions: ['0.9', '1.0~rc1', '1.0', '1.0^git1', '1.0a', '1.0.1', '1:0.1'],
    versionOperators: { lower: 'lt', equal: 'eq', higher: 'gt' },
    repository: { sources: [`file://${mirror}`], packages: repoPackages, arch: 'x86_64', request: 'conf-tool', installs: ['conf-tool x86_64', 'conf-lib noarch'] },
  };
});
