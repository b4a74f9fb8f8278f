// The pacman plugin against the contract's conformance suite, with packages built by the real makepkg, a local
// database written by the real pacman and a sync repository made by the real repo-add.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pacmanPlugin } from '@ostree-layer/pacman';
import { buildDeb, buildPacmanPackage, installPacmanRoot } from '@ostree-layer/testkit';
import { describePluginConformance } from '@ostree-layer/testkit/conformance';

describePluginConformance(pacmanPlugin, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conformance-pacman-'));
  const packages = [
    await buildPacmanPackage(dir, {
      name: 'conf-a',
      version: '1.0',
      arch: 'x86_64',
      files: [{ path: '/usr/share/conf-a', dir: true }, { path: '/usr/share/conf-a/file', content: 'a\n' }, { path: '/usr/share/conf-a/link', symlink: 'file' }],
    }),
    await buildPacmanPackage(dir, { name: 'conf-b', version: '0.1', epoch: 2, compression: 'xz', files: [{ path: '/usr/bin/conf-b', content: '#!/bin/sh\n', mode: 0o755 }] }),
    await buildPacmanPackage(dir, {
      name: 'conf-c',
      version: '3',
      release: '2',
      compression: 'gz',
      files: [{ path: '/usr/share/conf-c', dir: true }, { path: '/usr/share/conf-c/file', content: 'c\n' }, { path: '/usr/share/conf-c/link', symlink: 'file' }],
    }),
  ];
  // pacman has no Replaces for files: only --overwrite lets a stranger take a path, so there is no replacer.
  const sharedPath = '/usr/share/conf-a/file';
  const overwrite = {
    owner: packages[0]!,
    stranger: await buildPacmanPackage(dir, { name: 'conf-stranger', version: '1', files: [{ path: sharedPath, content: 'not a\n' }] }),
    path: sharedPath,
  };
  const scripted = await buildPacmanPackage(dir, {
    name: 'conf-scripted',
    version: '1',
    files: [{ path: '/usr/share/conf-scripted/data', content: 'x\n' }],
    install: 'post_install() {\n  echo "installed $1"\n}\n',
  });
  const otherFormatFile = await buildDeb(dir, { name: 'not-a-pacman-package', version: '1', files: [{ path: '/x', content: 'x' }] });
  const foreignFile = join(dir, 'garbage.pkg.tar.zst');
  writeFileSync(foreignFile, Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00]));
  // The tree: conf-a (x86_64) installed by the real pacman, its database moved to where an OSTree deployment keeps it.
  const tree = join(dir, 'tree');
  await installPacmanRoot(tree, [packages[0]!]);
  mkdirSync(join(tree, 'usr/lib/sysimage'), { recursive: true });
  renameSync(join(tree, 'var/lib/pacman'), join(tree, 'usr/lib/sysimage/pacman'));
  // planScripts needs a shell in the tree; nothing runs this one here.
  mkdirSync(join(tree, 'bin'));
  writeFileSync(join(tree, 'bin/sh'), '#!/no/shell/here\n', { mode: 0o755 });
  // A sync repository per architecture, as Arch lays them out (`$arch` in the server URL): an x86_64 tool and an
  // "any" library it needs for this tree, an aarch64 build of the tool beside them for other machines.
  const mirror = join(dir, 'mirror');
  const tool = (arch: 'x86_64' | 'aarch64') => buildPacmanPackage(join(mirror, arch), { name: 'conf-tool', version: '1.2', arch, depends: ['conf-lib>=1'], files: [{ path: '/usr/bin/conf-tool', content: '#!/bin/sh\n', mode: 0o755 }] });
  const lib = await buildPacmanPackage(join(mirror, 'x86_64'), { name: 'conf-lib', version: '1.0', files: [{ path: '/usr/share/conf-lib/data', content: 'lib\n' }] });
  const repoPackages = [await tool('x86_64'), lib];
  execFileSync('repo-add', ['-q', join(mirror, 'x86_64/conf.db.tar.gz'), ...repoPackages]);
  execFileSync('repo-add', ['-q', join(mirror, 'aarch64/conf.db.tar.gz'), await tool('aarch64')]);
  // Ascending as pacman's vercmp orders them (the version test checks the order against the real vercmp).
  return {
    packages: packages.slice(1), foreignFile, otherFormatFile, treeWithDatabase: tree, overwrite, scripted,
    ascendingVersions: ['1.0a-1', '1.0-1', '1.0.a-1', '1.0.1-1', '1.0.1-2', '1.1-1', '1:0.1-1'],
    versionOperators: { lower: '<', equal: '=', higher: '>' },
    repository: { sources: [`conf file://${mirror}/$arch`], packages: repoPackages, arch: 'x86_64', request: 'conf-tool', installs: ['conf-tool x86_64', 'conf-lib any'] },
  };
});
