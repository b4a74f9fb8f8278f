// The testkit's fake backend against the contract's conformance suite: core's tests rely on it behaving as a backend.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeBackend, makeFakeTree, writeFakePackage } from '@ostree-layer/testkit';
import { describeBackendConformance } from '@ostree-layer/testkit/conformance';

describeBackendConformance(fakeBackend, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conformance-fake-'));
  const base = { name: 'base-files', version: '12', entries: [{ path: '/etc', type: 'directory' as const }, { path: '/etc/issue', content: 'Fake 12\n' }] };
  const tree = await makeFakeTree(join(dir, 'tree'), [base]);
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
  return { packages, foreignFile, treeWithDatabase: tree, overwrite, scripted, ascendingVersions: ['0.9', '1.0', '1.0.1', '1.1', '1.10', '2', '2a'] };
});
