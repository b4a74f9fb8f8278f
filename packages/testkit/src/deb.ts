/** Real .deb files for tests, built with dpkg-deb from a small declarative spec. */
import { existsSync } from 'node:fs';
import { chmod, lchown, link, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '@ostree-layer/core';
import { removeTree } from './cleanup.js';
import { isRoot, run } from './run.js';

export interface DebFileSpec {
  /** Path inside the package ("/usr/bin/x" or "usr/bin/x"). Parent directories are added as 0755 root. */
  path: string;
  /** A regular file with this content (the default, empty, when nothing else is given). */
  content?: string | Buffer;
  /** A symlink to this target, written as is. */
  symlink?: string;
  /** A hard link to an earlier regular file of the same package (its package path). */
  hardlink?: string;
  /** A directory. */
  dir?: boolean;
  /** Permission bits incl. setuid/setgid/sticky; default 0644 files, 0755 dirs. */
  mode?: number;
  /** Numeric owner (needs root; default 0). */
  uid?: number;
  gid?: number;
  /** List in DEBIAN/conffiles (dpkg only accepts it for existing regular files; Debian keeps them under /etc). */
  conffile?: boolean;
}

export type DebCompression = 'xz' | 'gzip' | 'zstd' | 'none';

export interface DebSpec {
  name: string;
  /** Full Debian version, epoch included ("1:2.3-4"). */
  version: string;
  /** Default "all". */
  arch?: string;
  depends?: string | string[];
  preDepends?: string | string[];
  recommends?: string | string[];
  suggests?: string | string[];
  breaks?: string | string[];
  replaces?: string | string[];
  conflicts?: string | string[];
  provides?: string | string[];
  multiArch?: 'same' | 'foreign' | 'allowed' | 'no';
  essential?: boolean;
  section?: string;
  priority?: string;
  source?: string;
  maintainer?: string;
  /** First line is the synopsis; default "<name> test package". */
  description?: string;
  /** More control fields, in this order, after the standard ones. */
  extraFields?: Record<string, string>;
  files: DebFileSpec[];
  scripts?: { preinst?: string; postinst?: string; prerm?: string; postrm?: string; config?: string };
  /** DEBIAN/triggers content. */
  triggers?: string;
  /** data.tar compression; default "xz" as Debian builds it. */
  compression?: DebCompression;
  /** Clamp for every mtime (SOURCE_DATE_EPOCH), so equal specs give byte-identical files. Default 1700000000. */
  mtime?: number;
}

const relationList = (value: string | string[] | undefined): string | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : value;

/** Package-relative form of a spec path ("/usr/bin/x" → "usr/bin/x"); refuses what dpkg-deb could not ship. */
function relativePath(path: string, pkg: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) {
    throw new UsageError(`buildDeb ${pkg}: bad file path "${path}"; use buildRawDataTarDeb for hostile paths`);
  }
  return parts.join('/');
}

/** Renders the DEBIAN/control text for `spec`. */
export function debControl(spec: DebSpec): string {
  const description = spec.description ?? `${spec.name} test package`;
  const [synopsis, ...body] = description.split('\n');
  const fields: [string, string | undefined][] = [
    ['Package', spec.name],
    ['Source', spec.source],
    ['Version', spec.version],
    ['Architecture', spec.arch ?? 'all'],
    ['Multi-Arch', spec.multiArch],
    ['Essential', spec.essential ? 'yes' : undefined],
    ['Maintainer', spec.maintainer ?? 'ostree-layer testkit <testkit@example.invalid>'],
    ['Section', spec.section],
    ['Priority', spec.priority],
    ['Pre-Depends', relationList(spec.preDepends)],
    ['Depends', relationList(spec.depends)],
    ['Recommends', relationList(spec.recommends)],
    ['Suggests', relationList(spec.suggests)],
    ['Breaks', relationList(spec.breaks)],
    ['Conflicts', relationList(spec.conflicts)],
    ['Replaces', relationList(spec.replaces)],
    ['Provides', relationList(spec.provides)],
    ...Object.entries(spec.extraFields ?? {}),
    ['Description', [synopsis, ...body.map((l) => (l.trim() === '' ? ' .' : ` ${l}`))].join('\n')],
  ];
  return fields.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}: ${v}\n`).join('');
}

/**
 * Builds `<dir>/<name>_<version without epoch>_<arch>.deb` with the real dpkg-deb and returns its path. As root the
 * staging tree is chowned so per-file owners reach the archive; otherwise every entry is root:root.
 */
export async function buildDeb(dir: string, spec: DebSpec): Promise<string> {
  const outDir = resolve(dir);
  await mkdir(outDir, { recursive: true });
  const root = isRoot();
  if (!root && spec.files.some((f) => (f.uid ?? 0) !== 0 || (f.gid ?? 0) !== 0)) {
    throw new UsageError(`buildDeb ${spec.name}: per-file uid/gid needs root (dpkg-deb takes owners from the staging tree)`);
  }
  const stage = await mkdtemp(join(outDir, `.stage-${spec.name}-`));
  try {
    await stageFiles(stage, spec, root);
    const debian = join(stage, 'DEBIAN');
    await mkdir(debian, { mode: 0o755 });
    await writeFile(join(debian, 'control'), debControl(spec));
    const conffiles = spec.files.filter((f) => f.conffile).map((f) => '/' + relativePath(f.path, spec.name));
    if (conffiles.length > 0) await writeFile(join(debian, 'conffiles'), conffiles.join('\n') + '\n');
    for (const [name, body] of Object.entries(spec.scripts ?? {})) {
      if (body === undefined) continue;
      await writeFile(join(debian, name), body.startsWith('#!') ? body : `#!/bin/sh\nset -e\n${body}\n`, { mode: 0o755 });
      await chmod(join(debian, name), 0o755);
    }
    if (spec.triggers) await writeFile(join(debian, 'triggers'), spec.triggers);
    const arch = spec.arch ?? 'all';
    const out = join(outDir, `${spec.name}_${spec.version.replace(/^\d+:/, '')}_${arch}.deb`);
    const args = ['--build', `-Z${spec.compression ?? 'xz'}`];
    if (!root) args.push('--root-owner-group');
    await run('dpkg-deb', [...args, stage, out], {
      env: { SOURCE_DATE_EPOCH: String(spec.mtime ?? 1_700_000_000) },
      hint: `buildDeb ${spec.name}: dpkg-deb refused the spec; fix the field or file it names`,
    });
    return out;
  } finally {
    await removeTree(stage);
  }
}

async function stageFiles(stage: string, spec: DebSpec, chownAll: boolean): Promise<void> {
  // mkdtemp made the stage 0700 and mkdir obeys the umask; "./" and implicit parents must read as 0755 in the tar.
  await chmod(stage, 0o755);
  const ensureParents = async (rel: string): Promise<void> => {
    let current = stage;
    for (const part of dirname(rel).split('/')) {
      if (part === '.') return;
      current = join(current, part);
      if (existsSync(current)) continue;
      await mkdir(current);
      await chmod(current, 0o755);
    }
  };
  const owned: { path: string; uid: number; gid: number; mode?: number; isLink: boolean }[] = [];
  for (const file of spec.files) {
    const rel = relativePath(file.path, spec.name);
    const path = join(stage, rel);
    await ensureParents(rel);
    if (file.dir) {
      await mkdir(path, { recursive: true });
      owned.push({ path, uid: file.uid ?? 0, gid: file.gid ?? 0, mode: file.mode ?? 0o755, isLink: false });
    } else if (file.symlink !== undefined) {
      await symlink(file.symlink, path);
      owned.push({ path, uid: file.uid ?? 0, gid: file.gid ?? 0, isLink: true });
    } else if (file.hardlink !== undefined) {
      await link(join(stage, relativePath(file.hardlink, spec.name)), path);
    } else {
      await writeFile(path, file.content ?? '');
      owned.push({ path, uid: file.uid ?? 0, gid: file.gid ?? 0, mode: file.mode ?? 0o644, isLink: false });
    }
  }
  // Owners first, modes after: chown clears setuid/setgid bits.
  if (chownAll) await run('chown', ['-R', '--no-dereference', '0:0', stage]);
  for (const entry of owned) {
    if (chownAll) await lchown(entry.path, entry.uid, entry.gid);
    if (!entry.isLink && entry.mode !== undefined) await chmod(entry.path, entry.mode);
  }
}
