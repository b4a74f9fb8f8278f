// The rpm backend against the contract's conformance suite, with .rpms built by the real rpmbuild.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rpmBackend } from '@ostree-layer/rpm';
import { buildDeb, buildRpm } from '@ostree-layer/testkit';
import { describeBackendConformance } from '@ostree-layer/testkit/conformance';

describeBackendConformance(rpmBackend, async () => {
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
  const foreignFile = await buildDeb(dir, { name: 'not-an-rpm', version: '1', files: [{ path: '/x', content: 'x' }] });
  const tree = join(dir, 'tree');
  const db = join(tree, 'usr/lib/sysimage/rpm');
  mkdirSync(db, { recursive: true });
  execFileSync('rpm', ['--dbpath', db, '--initdb']);
  execFileSync('rpm', ['--root', tree, '--dbpath', '/usr/lib/sysimage/rpm', '-i', '--justdb', '--nodeps', packages[0]]);
  // planScripts refuses a scriptlet whose interpreter the tree lacks; nothing runs this one here.
  mkdirSync(join(tree, 'bin'));
  writeFileSync(join(tree, 'bin/sh'), '#!/no/shell/here\n', { mode: 0o755 });
  // Ascending as rpm.vercmp orders them (checked by hand with the real tool).
  return { packages: packages.slice(1), foreignFile, treeWithDatabase: tree, overwrite, scripted, ascendingVersions: ['0.9', '1.0~rc1', '1.0', '1.0^git1', '1.0a', '1.0.1', '1:0.1'] };
});
