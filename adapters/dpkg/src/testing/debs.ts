/** Test fixtures built with the real dpkg-deb at test time (never committed binaries). */
import { execFile } from 'node:child_process';
import { chmod, link, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { LayerFile } from '@ostree-layer/core';

export const run = promisify(execFile);

export type FileSpec = string | { content: string; mode?: number } | { symlink: string } | { hardlink: string } | { dir: true };

export interface DebSpec {
  name: string;
  version?: string;
  arch?: string;
  /** Extra control fields ("Multi-Arch: same"…), one per line. */
  control?: string;
  /** Paths relative to the package root ("usr/bin/x"). Directories are created as needed. */
  files: Record<string, FileSpec>;
  conffiles?: string[];
  /** Control members (postinst, triggers…); scripts get mode 0755. */
  scripts?: Record<string, string>;
  md5sums?: boolean;
  compression?: 'xz' | 'zstd' | 'gzip' | 'none';
  /** chown these paths ("user:group") and keep real owners instead of --root-owner-group. */
  owners?: Record<string, string>;
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Builds a .deb with `dpkg-deb --build` and returns its path. */
export async function buildDeb(dir: string, spec: DebSpec): Promise<string> {
  const root = join(dir, `${spec.name}-src`);
  await rm(root, { recursive: true, force: true });
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  for (const [rel, f] of Object.entries(spec.files)) {
    const path = join(root, rel);
    await mkdir(dirname(path), { recursive: true });
    if (typeof f === 'string') await writeFile(path, f);
    else if ('content' in f) {
      await writeFile(path, f.content);
      if (f.mode !== undefined) await chmod(path, f.mode);
    } else if ('symlink' in f) await symlink(f.symlink, path);
    else if ('dir' in f) await mkdir(path, { recursive: true });
    else await link(join(root, f.hardlink), path);
  }
  const control = [
    `Package: ${spec.name}`, `Version: ${spec.version ?? '1.0-1'}`, `Architecture: ${spec.arch ?? 'amd64'}`,
    'Maintainer: Tester <test@example.com>', ...(spec.control ? [spec.control.trim()] : []),
    `Description: test package ${spec.name}`, ' Built by the dpkg adapter tests.',
  ].join('\n') + '\n';
  await writeFile(join(root, 'DEBIAN/control'), control);
  if (spec.conffiles) await writeFile(join(root, 'DEBIAN/conffiles'), spec.conffiles.map((c) => c + '\n').join(''));
  for (const [name, body] of Object.entries(spec.scripts ?? {})) {
    await writeFile(join(root, 'DEBIAN', name), body);
    if (body.startsWith('#!')) await chmod(join(root, 'DEBIAN', name), 0o755);
  }
  if (spec.md5sums) {
    const { stdout } = await run('bash', ['-c', 'cd "$1" && find . -path ./DEBIAN -prune -o -type f -printf "%P\\0" | sort -z | xargs -0r md5sum', 'x', root]);
    await writeFile(join(root, 'DEBIAN/md5sums'), stdout);
  }
  for (const [rel, owner] of Object.entries(spec.owners ?? {})) await run('chown', ['-h', owner, join(root, rel)]);
  const out = join(dir, `${spec.name}.deb`);
  const ownerFlag = spec.owners ? [] : ['--root-owner-group'];
  await run('dpkg-deb', [...ownerFlag, `-Z${spec.compression ?? 'xz'}`, '--build', root, out]);
  return out;
}

/**
 * A dpkg admin directory with the given status text, an empty `.list` for every package in it (so dpkg does not
 * complain), an empty `.md5sums` (or --audit would), and the `format`, `updates/`, `triggers/` members dpkg expects.
 */
export async function makeAdminDir(dir: string, status: string): Promise<void> {
  await mkdir(join(dir, 'info'), { recursive: true });
  await mkdir(join(dir, 'updates'), { recursive: true });
  await mkdir(join(dir, 'triggers'), { recursive: true });
  await writeFile(join(dir, 'status'), status);
  await writeFile(join(dir, 'info/format'), '1\n');
  for (const para of status.split(/\n\n+/)) {
    const name = /^Package: (\S+)/m.exec(para)?.[1];
    if (!name) continue;
    const ma = /^Multi-Arch: same$/m.test(para) ? `:${/^Architecture: (\S+)/m.exec(para)![1]}` : '';
    await writeFile(join(dir, `info/${name}${ma}.list`), '');
    await writeFile(join(dir, `info/${name}${ma}.md5sums`), '');
  }
}

/** Writes LayerFiles into a directory tree standing for the new commit. */
export async function applyLayerFiles(root: string, files: LayerFile[]): Promise<void> {
  for (const f of files) {
    const path = join(root, f.path);
    await mkdir(dirname(path), { recursive: true });
    if (f.type === 'directory') await mkdir(path, { recursive: true });
    else if (f.type === 'symlink') await symlink(String(f.content), path);
    else {
      await writeFile(path, f.source ? await readFile(f.source) : f.content ?? '');
      await chmod(path, f.mode);
    }
  }
}

export const FIXTURE_STATUS = new URL('../../../../../shared/fixtures/dpkg/debian12-status', import.meta.url);

/** An ar archive in the common format, for hand-made hostile packages. */
export function arArchive(members: { name: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n')];
  for (const m of members) {
    const h = m.name.padEnd(16) + '0'.padEnd(12) + '0'.padEnd(6) + '0'.padEnd(6) + '100644'.padEnd(8) + String(m.data.length).padEnd(10) + '`\n';
    parts.push(Buffer.from(h, 'latin1'), m.data);
    if (m.data.length % 2) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** A tar made with tar-stream from raw headers (so names like "../x" go through untouched). */
export async function tarArchive(entries: { header: Partial<import('tar-stream').Header> & { name: string }; body?: string }[]): Promise<Buffer> {
  const tar = await import('tar-stream');
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => pack.on('end', resolve));
  for (const e of entries) pack.entry(e.header, e.body ?? '');
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A .deb whose data.tar is `data`, with a minimal valid control.tar. */
export async function handMadeDeb(data: Buffer): Promise<Buffer> {
  const control = await tarArchive([
    { header: { name: './', type: 'directory', mode: 0o755 } },
    { header: { name: './control', mode: 0o644 }, body: 'Package: hostile\nVersion: 1\nArchitecture: all\nMaintainer: x <x@example.com>\nDescription: x\n' },
  ]);
  return arArchive([
    { name: 'debian-binary', data: Buffer.from('2.0\n') },
    { name: 'control.tar', data: control },
    { name: 'data.tar', data },
  ]);
}
