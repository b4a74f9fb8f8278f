/**
 * A tiny RPM-based base for the rpm adapter's end-to-end tests: four packages built here with rpmbuild, installed
 * with the real rpm into a root whose database is /usr/lib/sysimage/rpm, made OSTree-ready and cached as a commit.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SystemStateError, UsageError } from '@ostree-layer/core';
import { ensureCached, freshBuildDir, sharedPerCacheDir, type BaseImage, type CacheOptions } from './cache.js';
import { removeTree } from './cleanup.js';
import { commitTree, makeOstreeReady } from './ostree-tree.js';
import { buildRpm, type RpmSpec } from './rpm.js';
import { isRoot, run } from './run.js';

export const RPM_BASE_REF = 'testkit/rpm-base';
/** Where the rpm database lives in the committed tree (relative to the root). */
export const RPM_DB_PATH = 'usr/lib/sysimage/rpm';

const RECIPE = 'rpm-base-2';

export interface RpmBase extends BaseImage {
  /** The packages installed in the base, kept in the cache (e.g. for a createrepo_c repo in a test). */
  rpms: string[];
}

/** Applets linked to busybox in the base; enough for `sh -c` scripts in a chroot. */
const APPLETS = ['sh', 'ls', 'cat', 'echo', 'true', 'false', 'mkdir', 'rm', 'cp', 'mv', 'ln', 'test', 'id', 'grep', 'sed',
  'head', 'tail', 'wc', 'sort', 'tr', 'cut', 'env', 'chmod', 'touch', 'stat', 'readlink', 'find', 'uname'];

const OS_RELEASE =
  'NAME="ostree-layer testkit RPM base"\nID=testkit-rpm\nID_LIKE=fedora\nVERSION_ID=1\n' +
  'PRETTY_NAME="ostree-layer testkit RPM base 1"\n';

/** The packages of the base, in install order. `busybox` is the host's static busybox binary. */
export function rpmBaseSpecs(busybox: string): RpmSpec[] {
  const dirs = ['/usr', '/usr/bin', '/usr/sbin', '/usr/lib', '/usr/lib64', '/usr/libexec', '/usr/share', '/etc', '/var',
    '/var/log', '/home', '/opt', '/srv', '/mnt', '/media', '/boot', '/proc', '/sys', '/dev', '/run'];
  return [
    {
      name: 'filesystem',
      version: '3.18',
      arch: 'x86_64',
      summary: 'The basic directory layout',
      files: [
        ...dirs.map((path) => ({ path, dir: true })),
        { path: '/tmp', dir: true, mode: 0o1777 },
        { path: '/root', dir: true, mode: 0o550 },
        // usrmerge as Fedora has it: the adapter must resolve package paths through these.
        { path: '/bin', symlink: 'usr/bin' },
        { path: '/sbin', symlink: 'usr/sbin' },
        { path: '/lib', symlink: 'usr/lib' },
        { path: '/lib64', symlink: 'usr/lib64' },
      ],
    },
    {
      name: 'setup',
      version: '2.14.3',
      release: '2',
      summary: 'System configuration files',
      requires: ['filesystem'],
      files: [
        { path: '/etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:Nobody:/:/sbin/nologin\n', config: 'noreplace' },
        { path: '/etc/group', content: 'root:x:0:\nwheel:x:10:\nnobody:x:65534:\n', config: 'noreplace' },
        { path: '/etc/shadow', content: 'root:*::0:99999:7:::\nnobody:*::0:99999:7:::\n', mode: 0o000, config: 'noreplace' },
        { path: '/etc/hosts', content: '127.0.0.1 localhost\n::1 localhost\n', config: true },
        { path: '/usr/lib/os-release', content: OS_RELEASE },
        { path: '/etc/os-release', symlink: '../usr/lib/os-release' },
        { path: '/var/log/lastlog', ghost: true, mode: 0o644 },
      ],
    },
    {
      name: 'libtestkit',
      version: '1.2.0',
      release: '3',
      arch: 'x86_64',
      summary: 'A library the shell package depends on by soname',
      provides: ['libtestkit.so.1()(64bit)'],
      files: [
        { path: '/usr/lib64/libtestkit.so.1.2.0', content: 'not really a shared object\n', mode: 0o755 },
        { path: '/usr/lib64/libtestkit.so.1', symlink: 'libtestkit.so.1.2.0' },
      ],
    },
    {
      name: 'busybox',
      version: '1.35.0',
      epoch: 1,
      arch: 'x86_64',
      summary: 'Statically linked shell and core utilities',
      requires: ['filesystem', 'setup', 'libtestkit.so.1()(64bit)'],
      provides: ['/bin/sh', 'sh'],
      files: [
        { path: '/usr/bin/busybox', source: busybox, mode: 0o755 },
        ...APPLETS.map((applet) => ({ path: `/usr/bin/${applet}`, symlink: 'busybox' })),
      ],
    },
  ];
}

/** A static busybox on the host (Debian's busybox-static); a dynamic one would not run in the bare base. */
export async function findStaticBusybox(): Promise<string> {
  for (const candidate of ['/usr/bin/busybox', '/bin/busybox']) {
    if (existsSync(candidate) && (await isStaticElf(candidate))) return candidate;
  }
  throw new UsageError('the RPM test base needs a static busybox: apt-get install busybox-static (scripts/setup does)');
}

/** True when the ELF64 file has no PT_INTERP program header, i.e. needs no dynamic loader. */
async function isStaticElf(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const header = Buffer.alloc(64);
    await handle.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) return false;
    const phoff = Number(header.readBigUInt64LE(32));
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    const table = Buffer.alloc(phentsize * phnum);
    await handle.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    await handle.close();
  }
}

/**
 * Installs `rpms` with the real rpm (`--noscripts`; no `--nodeps`: rpm checks that their requires close over each
 * other) into a new root `root`, database at /usr/lib/sysimage/rpm, and leaves the database closed: no -wal, -shm or
 * lock file. A plain directory, not yet OSTree-ready: what tests compare real rpm runs on.
 */
export async function installRpmRoot(root: string, rpms: string[]): Promise<void> {
  await mkdir(root, { recursive: true });
  const rpmArgs = ['--root', root, '--dbpath', `/${RPM_DB_PATH}`];
  await run('rpm', [...rpmArgs, '-i', '--noscripts', ...rpms], { hint: 'the RPM test base packages do not install together' });
  const dbDir = join(root, RPM_DB_PATH);
  await run('rpm', [...rpmArgs, '-qa']);
  const wal = join(dbDir, 'rpmdb.sqlite-wal');
  if (existsSync(wal) && (await stat(wal)).size > 0) {
    throw new SystemStateError(`${wal} still holds transactions after rpm closed the database; refusing to use it`);
  }
  // Lock and shared-memory files belong to a running rpm, not to the tree.
  for (const transient of ['rpmdb.sqlite-wal', 'rpmdb.sqlite-shm', '.rpm.lock']) await rm(join(dbDir, transient), { force: true });
}

/** The RPM test base commit (about a second to build; a cache hit costs two `ostree` calls). */
export const ensureRpmBase: (options?: CacheOptions) => Promise<RpmBase> = sharedPerCacheDir(buildOrReuse);

async function buildOrReuse(cacheDir: string): Promise<RpmBase> {
  if (!isRoot()) throw new UsageError('ensureRpmBase needs root (rpm --root, ownership in the commit)');
  const rpmsDir = join(cacheDir, 'rpm-base-rpms');
  const { repo, commit } = await ensureCached(cacheDir, RPM_BASE_REF, RECIPE, (repo) => buildRpmBase(cacheDir, rpmsDir, repo));
  const rpms = existsSync(rpmsDir) ? (await readdir(rpmsDir)).filter((n) => n.endsWith('.rpm')).sort().map((n) => join(rpmsDir, n)) : [];
  return { repo, ref: RPM_BASE_REF, commit, osName: 'rpmbase', rpms };
}

async function buildRpmBase(cacheDir: string, rpmsDir: string, repo: string): Promise<void> {
  const busybox = await findStaticBusybox();
  await rm(rpmsDir, { recursive: true, force: true });
  await mkdir(rpmsDir, { recursive: true });
  const rpms: string[] = [];
  for (const spec of rpmBaseSpecs(busybox)) rpms.push(await buildRpm(rpmsDir, spec));

  const work = await freshBuildDir(cacheDir, 'rpmbase');
  const root = join(work, 'root');
  try {
    await installRpmRoot(root, rpms);
    await makeOstreeReady(root);
    await commitTree({
      repo,
      ref: RPM_BASE_REF,
      root,
      subject: 'RPM test base (ostree-layer testkit)',
      recipe: RECIPE,
      metadata: { version: RECIPE },
    });
  } finally {
    await removeTree(work);
  }
}
