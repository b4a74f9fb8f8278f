/**
 * Hand-assembled .deb files whose data.tar holds exactly the entries given, including ones dpkg-deb would never
 * build (escaping paths, absolute names, links out of the tree). They exist to prove the importer refuses them.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack as tarPack, type Header } from 'tar-stream';
import { ToolError } from '@ostree-layer/core';

export interface RawTarEntry {
  /** Written to the tar header verbatim: "../x", "/etc/x" and "./usr/share/" are all allowed. */
  name: string;
  /** Default "file". `link` is a hard link to `linkname`. */
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device' | 'block-device';
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtime?: number;
  devmajor?: number;
  devminor?: number;
}

export interface RawDebSpec {
  name: string;
  version: string;
  arch?: string;
  entries: RawTarEntry[];
  /** Replaces the generated control file entirely (for malformed-control cases). */
  control?: string;
  /** More control.tar members beside ./control (oversized or odd ones). */
  controlEntries?: RawTarEntry[];
  /** data.tar compression; default "none". */
  dataCompression?: 'none' | 'gzip' | 'xz';
  /** Output file name inside `dir`; default "<name>_<version>_<arch>.deb". */
  fileName?: string;
}

/** The hostile payloads the design asks the importer to refuse or neutralise, ready for buildRawDataTarDeb. */
export const HOSTILE_DATA_ENTRIES: Record<string, RawTarEntry[]> = {
  parentEscape: [{ name: '../x', content: 'escaped the package tree\n' }],
  absolutePath: [{ name: '/etc/x', content: 'absolute member name\n' }],
  hardlinkEscape: [
    { name: './usr/', type: 'directory' },
    { name: './usr/share/', type: 'directory' },
    { name: './usr/share/shadow-copy', type: 'link', linkname: '../../etc/shadow' },
  ],
  symlinkThenFile: [
    { name: './usr/', type: 'directory' },
    { name: './usr/share/', type: 'directory' },
    { name: './usr/share/foo', type: 'symlink', linkname: '/etc' },
    { name: './usr/share/foo/passwd', content: 'root::0:0:root:/root:/bin/sh\n' },
  ],
  directoryMetadata: [
    { name: './', type: 'directory', mode: 0o755 },
    { name: './usr/', type: 'directory', mode: 0o755 },
    { name: './usr/share/', type: 'directory', mode: 0o700, uid: 5, gid: 5, uname: 'games', gname: 'games' },
    { name: './usr/share/hostile-marker', content: 'marker\n' },
  ],
};

/** Serialises tar entries with tar-stream (which writes names as given) into one buffer. */
export async function rawTar(entries: RawTarEntry[]): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolveTar, rejectTar) => {
    pack.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    pack.on('end', () => resolveTar(Buffer.concat(chunks)));
    pack.on('error', rejectTar);
  });
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const body = type === 'file' ? Buffer.from(entry.content ?? '') : undefined;
    const header: Partial<Header> & { name: string } = {
      name: entry.name,
      type,
      mode: entry.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      uname: entry.uname ?? (entry.uid ? '' : 'root'),
      gname: entry.gname ?? (entry.gid ? '' : 'root'),
      mtime: new Date((entry.mtime ?? 1_700_000_000) * 1000),
      ...(entry.linkname !== undefined ? { linkname: entry.linkname } : {}),
      size: body?.length ?? 0,
      devmajor: entry.devmajor ?? 0,
      devminor: entry.devminor ?? 0,
    };
    await new Promise<void>((resolveEntry, rejectEntry) => {
      const callback = (err?: Error | null) => (err ? rejectEntry(err) : resolveEntry());
      if (body) pack.entry(header, body, callback);
      else pack.entry(header, callback);
    });
  }
  pack.finalize();
  return done;
}

function xz(data: Buffer): Promise<Buffer> {
  return new Promise((resolveXz, rejectXz) => {
    const child = spawn('xz', ['-c', '-6'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', rejectXz);
    child.on('close', (code) =>
      code === 0 ? resolveXz(Buffer.concat(out)) : rejectXz(new ToolError(`xz -c exited with ${code}: ${stderr.trim()}`)),
    );
    child.stdin.end(data);
  });
}

/** One ar(1) member: 60-byte header (name, mtime, uid, gid, octal mode, size, "`\n"), body, pad to even length. */
function arMember(name: string, body: Buffer, mtime: number): Buffer {
  const field = (value: string, width: number) => value.padEnd(width, ' ').slice(0, width);
  const header =
    field(name, 16) + field(String(mtime), 12) + field('0', 6) + field('0', 6) + field('100644', 8) + field(String(body.length), 10) + '`\n';
  const parts = [Buffer.from(header, 'latin1'), body];
  if (body.length % 2 === 1) parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** Writes a .deb around a data.tar holding exactly `spec.entries` and returns its path. */
export async function buildRawDataTarDeb(dir: string, spec: RawDebSpec): Promise<string> {
  const arch = spec.arch ?? 'all';
  const control =
    spec.control ??
    `Package: ${spec.name}\nVersion: ${spec.version}\nArchitecture: ${arch}\n` +
      `Maintainer: ostree-layer testkit <testkit@example.invalid>\nDescription: ${spec.name} hostile test package\n`;
  const controlTar = gzipSync(
    await rawTar([
      { name: './', type: 'directory' },
      { name: './control', content: control },
      ...(spec.controlEntries ?? []),
    ]),
  );
  const dataTar = await rawTar(spec.entries);
  const compression = spec.dataCompression ?? 'none';
  const [dataName, dataBody] =
    compression === 'gzip' ? ['data.tar.gz', gzipSync(dataTar)] : compression === 'xz' ? ['data.tar.xz', await xz(dataTar)] : ['data.tar', dataTar];
  const mtime = 1_700_000_000;
  const deb = Buffer.concat([
    Buffer.from('!<arch>\n', 'latin1'),
    arMember('debian-binary', Buffer.from('2.0\n'), mtime),
    arMember('control.tar.gz', controlTar, mtime),
    arMember(dataName, dataBody, mtime),
  ]);
  const outDir = resolve(dir);
  await mkdir(outDir, { recursive: true });
  const out = join(outDir, spec.fileName ?? `${spec.name}_${spec.version.replace(/^\d+:/, '')}_${arch}.deb`);
  await writeFile(out, deb);
  return out;
}
