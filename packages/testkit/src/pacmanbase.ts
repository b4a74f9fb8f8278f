/**
 * A tiny pacman-based base (a mini-distro) for the pacman adapter's end-to-end tests: packages built here with the
 * real makepkg, installed with the real `pacman -U` into a root (pacman checks that their depends close), the local
 * database moved to /usr/lib/sysimage/pacman and /etc to /usr/etc, and cached as a commit.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '@ostree-layer/core';
import { ensureCached, freshBuildDir, sharedPerCacheDir, type BaseImage, type CacheOptions } from './cache.js';
import { removeTree } from './cleanup.js';
import { commitTree, makeOstreeReady } from './ostree-tree.js';
import { buildPacmanPackage, type PacmanSpec } from './pacman.js';
import { findStaticBusybox } from './rpmbase.js';
import { isRoot, run } from './run.js';

export const PACMAN_BASE_REF = 'testkit/pacman-base';
/** Where the local database's DBPath is in the committed tree (relative to the root). */
export const PACMAN_DB_PATH = 'usr/lib/sysimage/pacman';

const RECIPE = 'pacman-base-1';

export interface PacmanBase extends BaseImage {
  /** The package files installed in the base, kept in the cache. */
  packages: string[];
}

/** Applets linked to busybox; enough for `sh -c` scripts and .INSTALL scriptlets in a chroot. */
const APPLETS = ['sh', 'ls', 'cat', 'echo', 'true', 'false', 'mkdir', 'rm', 'cp', 'mv', 'ln', 'test', 'id', 'grep', 'sed',
  'head', 'tail', 'wc', 'sort', 'tr', 'cut', 'env', 'chmod', 'touch', 'stat', 'readlink', 'find', 'uname'];

const OS_RELEASE = 'NAME="ostree-layer testkit pacman base"\nID=testkit-pacman\nID_LIKE=arch\nPRETTY_NAME="ostree-layer testkit pacman base"\n';

/** The packages of the base, in dependency order. `busybox` is the host's static busybox binary. */
export function pacmanBaseSpecs(busybox: string): PacmanSpec[] {
  // Only directories that survive makeOstreeReady: /var, /run, /tmp… are emptied there, so no package owns their contents.
  const dirs = ['/usr', '/usr/bin', '/usr/lib', '/usr/share', '/etc', '/var', '/proc', '/sys', '/dev', '/run', '/home', '/opt', '/srv', '/mnt', '/boot'];
  return [
    {
      name: 'filesystem',
      version: '2023.09.18',
      release: '1',
      arch: 'x86_64',
      description: 'Base directory layout, account files and os-release',
      backup: ['/etc/passwd', '/etc/group', '/etc/hosts'],
      files: [
        ...dirs.map((path) => ({ path, dir: true })),
        { path: '/tmp', dir: true, mode: 0o1777 },
        { path: '/root', dir: true, mode: 0o750 },
        // Arch's usrmerge: /bin, /sbin, /lib and /usr/sbin all lead to /usr/bin or /usr/lib.
        { path: '/bin', symlink: 'usr/bin' },
        { path: '/sbin', symlink: 'usr/bin' },
        { path: '/lib', symlink: 'usr/lib' },
        { path: '/usr/sbin', symlink: 'bin' },
        { path: '/etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:Nobody:/:/usr/bin/nologin\n' },
        { path: '/etc/group', content: 'root:x:0:root\nwheel:x:998:\nnobody:x:65534:\n' },
        { path: '/etc/hosts', content: '127.0.0.1 localhost\n::1 localhost\n' },
        { path: '/usr/lib/os-release', content: OS_RELEASE },
        { path: '/etc/os-release', symlink: '../usr/lib/os-release' },
      ],
    },
    {
      name: 'busybox',
      version: '1.35.0',
      release: '2',
      arch: 'x86_64',
      description: 'Statically linked shell and core utilities',
      depends: ['filesystem'],
      provides: ['sh'],
      files: [
        { path: '/usr/bin/busybox', source: busybox, mode: 0o755 },
        ...APPLETS.map((applet) => ({ path: `/usr/bin/${applet}`, symlink: 'busybox' })),
      ],
    },
    {
      name: 'libgreet',
      version: '2.1',
      release: '1',
      epoch: 1,
      description: 'Greeting data that layered test packages depend on',
      depends: ['sh'],
      provides: ['greet-data=2.1'],
      files: [{ path: '/usr/share/libgreet/greeting', content: 'hello from libgreet\n' }],
    },
  ];
}

/**
 * Installs `packages` with the real pacman into a new root `root` (database at <root>/var/lib/pacman, no scriptlets:
 * the base packages have none). A plain directory, not yet OSTree-ready.
 */
export async function installPacmanRoot(root: string, packages: string[]): Promise<void> {
  const dbpath = join(root, 'var/lib/pacman');
  await mkdir(dbpath, { recursive: true });
  await run('pacman', ['--root', root, '--dbpath', dbpath, '--config', '/etc/pacman.conf', '--noconfirm', '--noprogressbar', '-U', ...packages], {
    hint: 'the pacman test base packages do not install together (pacman comes with Debian\'s pacman-package-manager)',
  });
  // pacman's lock belongs to a running pacman, its log and cache to a mutable system.
  await rm(join(dbpath, 'db.lck'), { force: true });
}

/** The pacman test base commit (a few seconds to build; a cache hit costs two `ostree` calls). */
export const ensurePacmanBase: (options?: CacheOptions) => Promise<PacmanBase> = sharedPerCacheDir(buildOrReuse);

async function buildOrReuse(cacheDir: string): Promise<PacmanBase> {
  if (!isRoot()) throw new UsageError('ensurePacmanBase needs root (makepkg as nobody, pacman --root, ownership in the commit)');
  const packagesDir = join(cacheDir, 'pacman-base-packages');
  const { repo, commit } = await ensureCached(cacheDir, PACMAN_BASE_REF, RECIPE, (repo) => buildPacmanBase(cacheDir, packagesDir, repo));
  const packages = existsSync(packagesDir) ? (await readdir(packagesDir)).filter((n) => n.includes('.pkg.tar')).sort().map((n) => join(packagesDir, n)) : [];
  return { repo, ref: PACMAN_BASE_REF, commit, osName: 'pacbase', packages };
}

async function buildPacmanBase(cacheDir: string, packagesDir: string, repo: string): Promise<void> {
  const busybox = await findStaticBusybox();
  await rm(packagesDir, { recursive: true, force: true });
  const packages: string[] = [];
  for (const spec of pacmanBaseSpecs(busybox)) packages.push(await buildPacmanPackage(packagesDir, spec));
  const work = await freshBuildDir(cacheDir, 'pacmanbase');
  const root = join(work, 'root');
  try {
    await installPacmanRoot(root, packages);
    await makeOstreeReady(root, { moveIntoUsr: [['var/lib/pacman', PACMAN_DB_PATH]] });
    await commitTree({ repo, ref: PACMAN_BASE_REF, root, subject: 'pacman test base (ostree-layer testkit)', recipe: RECIPE, metadata: { version: RECIPE } });
  } finally {
    await removeTree(work);
  }
}
