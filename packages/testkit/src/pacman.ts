/**
 * Real pacman packages for tests: a PKGBUILD generated from a declarative description, built by Debian's makepkg
 * (pacman 6.0.2). makepkg refuses to run as root, so it runs as `nobody` in a scratch directory it owns; the payload is
 * staged beforehand and copied into $pkgdir inside makepkg's fakeroot, so every entry is owned by root as in a real
 * package.
 */
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, rename, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '@ostree-layer/core';
import { removeTree } from './cleanup.js';
import { run } from './run.js';

export interface PacmanFileSpec {
  /** Absolute path in the package ("/usr/bin/x"). Parent directories are shipped too, as pacman packages do. */
  path: string;
  content?: string | Buffer;
  /** A regular file copied from the host (e.g. a static busybox). */
  source?: string;
  symlink?: string;
  dir?: boolean;
  /** Default 0644 files, 0755 dirs. */
  mode?: number;
}

export type PacmanCompression = 'zst' | 'xz' | 'gz';

export interface PacmanSpec {
  name: string;
  /** pkgver (no hyphen). */
  version: string;
  /** pkgrel, default "1". */
  release?: string;
  epoch?: number;
  /** Default "any"; "x86_64" for the host; another architecture is built as makepkg would build it there (CARCH). */
  arch?: 'any' | 'x86_64' | 'aarch64';
  description?: string;
  depends?: string[];
  optdepends?: string[];
  provides?: string[];
  conflicts?: string[];
  replaces?: string[];
  groups?: string[];
  /** Configuration files, absolute paths (pacman's `backup`). */
  backup?: string[];
  files: PacmanFileSpec[];
  /** The .INSTALL scriptlet (functions pre_install, post_install…). */
  install?: string;
  /** Default "zst". */
  compression?: PacmanCompression;
}

/** The uid and gid makepkg runs as (Debian's nobody / nogroup). */
const NOBODY = 65534;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const array = (items: string[] | undefined) => `(${(items ?? []).map(quote).join(' ')})`;

/** The PKGBUILD for `spec`: package() copies the staged payload into $pkgdir, keeping modes and symlinks. */
export function pkgbuildText(spec: PacmanSpec): string {
  return [
    `pkgname=${quote(spec.name)}`,
    `pkgver=${quote(spec.version)}`,
    `pkgrel=${quote(spec.release ?? '1')}`,
    ...(spec.epoch !== undefined ? [`epoch=${spec.epoch}`] : []),
    `pkgdesc=${quote(spec.description ?? `${spec.name} (ostree-layer testkit)`)}`,
    `arch=(${quote(spec.arch ?? 'any')})`,
    `url='https://example.invalid/${spec.name}'`,
    `license=('MIT')`,
    `depends=${array(spec.depends)}`,
    `optdepends=${array(spec.optdepends)}`,
    `provides=${array(spec.provides)}`,
    `conflicts=${array(spec.conflicts)}`,
    `replaces=${array(spec.replaces)}`,
    `groups=${array(spec.groups)}`,
    `backup=${array(spec.backup?.map((p) => p.replace(/^\/+/, '')))}`,
    // Binaries stay as staged (a static busybox must not be stripped), man pages uncompressed, empty dirs kept.
    `options=('!strip' '!zipman' '!purge' 'emptydirs' '!debug')`,
    ...(spec.install ? [`install=${quote(`${spec.name}.install`)}`] : []),
    'package() {',
    '  cp -R --preserve=mode "$startdir/payload/." "$pkgdir/"',
    '}',
    '',
  ].join('\n');
}

async function stagePayload(dir: string, files: PacmanFileSpec[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const f of files) {
    const target = join(dir, f.path);
    if (!resolve(target).startsWith(resolve(dir) + '/')) throw new UsageError(`pacman fixture path ${f.path} leaves the package`);
    await mkdir(dirname(target), { recursive: true });
    if (f.dir) {
      await mkdir(target, { recursive: true });
      await chmod(target, f.mode ?? 0o755);
    } else if (f.symlink !== undefined) {
      await symlink(f.symlink, target);
    } else {
      if (f.source) await copyFile(f.source, target);
      else await writeFile(target, f.content ?? '');
      await chmod(target, f.mode ?? 0o644);
    }
  }
}

async function chownTree(path: string): Promise<void> {
  await chown(path, NOBODY, NOBODY);
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    const full = join(entry.parentPath, entry.name);
    if (!entry.isSymbolicLink()) await chown(full, NOBODY, NOBODY);
  }
}

/** Builds the package with makepkg into `outDir` and returns its path. Needs root (to hand the build to nobody). */
export async function buildPacmanPackage(outDir: string, spec: PacmanSpec): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), `makepkg-${spec.name}-`));
  try {
    await writeFile(join(work, 'PKGBUILD'), pkgbuildText(spec));
    if (spec.install) await writeFile(join(work, `${spec.name}.install`), spec.install);
    await stagePayload(join(work, 'payload'), spec.files);
    // Fast levels: fixtures are built on every cold cache, and the compressed bytes are not what a test looks at.
    const carch = spec.arch && spec.arch !== 'any' ? `CARCH=${spec.arch}\n` : '';
    await writeFile(join(work, 'makepkg.conf'), `source /etc/makepkg.conf\n${carch}COMPRESSZST=(zstd -c -q -3 -)\nCOMPRESSXZ=(xz -c -z -1 -)\nCOMPRESSGZ=(gzip -c -f -n -1)\n`);
    await chownTree(work);
    await chmod(work, 0o755);
    const ext = `.pkg.tar.${spec.compression ?? 'zst'}`;
    await run('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', 'makepkg', '--config', join(work, 'makepkg.conf'), '--nodeps', '--nocheck', '--noconfirm'], {
      cwd: work,
      env: { HOME: work, PKGEXT: ext, PACKAGER: 'ostree-layer testkit <testkit@example.invalid>', LC_ALL: 'C', SOURCE_DATE_EPOCH: '1700000000' },
      hint: 'makepkg comes with Debian\'s "makepkg" package (scripts/setup installs it)',
    });
    const built = (await readdir(work)).filter((n) => n.endsWith(ext));
    if (built.length !== 1) throw new UsageError(`makepkg left ${built.length} package files for ${spec.name} in ${work}`);
    await mkdir(outDir, { recursive: true });
    const out = join(outDir, built[0]!);
    await rename(join(work, built[0]!), out).catch(async () => {
      await copyFile(join(work, built[0]!), out);
    });
    await chown(out, 0, 0);
    return out;
  } finally {
    await removeTree(work);
  }
}
