// Opening pacman packages: what makepkg writes is read, and hand-made hostile archives are refused with a clear error.
import { gzipSync } from 'node:zlib';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PackageFormatError, type PackageEntry } from '@ostree-layer/core';
import { HOSTILE_DATA_ENTRIES, rawTar, type RawTarEntry } from '@ostree-layer/testkit';
import { describe, expect, it } from 'vitest';
import { openPacmanPackage } from './archive.js';
import { pacmanBackend } from './index.js';

const work = mkdtempSync(join(tmpdir(), 'pacman-archive-'));
let serial = 0;

const PKGINFO = 'pkgname = raw\npkgbase = raw\npkgver = 1.0-1\npkgdesc = hand made\nbuilddate = 1700000000\npackager = test\nsize = 3\narch = any\n';

/** A gzip'd pacman archive written by hand: `.PKGINFO` (unless left out) first, then `entries`. */
async function rawPackage(entries: RawTarEntry[], pkginfo: string | null = PKGINFO): Promise<string> {
  const file = join(work, `raw-${++serial}.pkg.tar.gz`);
  const meta: RawTarEntry[] = pkginfo === null ? [] : [{ name: '.PKGINFO', content: pkginfo }];
  writeFileSync(file, gzipSync(await rawTar([...meta, ...entries])));
  return file;
}

async function entries(file: string): Promise<PackageEntry[]> {
  const out: PackageEntry[] = [];
  for await (const { entry, body } of (await openPacmanPackage(file)).payload()) {
    out.push(entry);
    if (body) for await (const _ of body) void _;
  }
  return out;
}

describe('pacman archives', () => {
  it('reads a hand-made archive: metadata members are never payload, hardlinks point at earlier files', async () => {
    const file = await rawPackage([
      { name: '.MTREE', content: gzipSync('#mtree\n./usr/bin/raw type=file size=3 md5digest=0123\n') },
      { name: 'usr/', type: 'directory', mode: 0o755 },
      { name: 'usr/bin/', type: 'directory', mode: 0o755 },
      { name: 'usr/bin/raw', content: 'raw', mode: 0o755, uname: 'root', gname: 'root' },
      { name: 'usr/bin/raw-again', type: 'link', linkname: 'usr/bin/raw' },
    ]);
    expect(await pacmanBackend.supportsFile(file)).toBe(true);
    const pkg = await openPacmanPackage(file);
    expect(pkg.id).toEqual({ name: 'raw', version: '1.0-1', arch: 'any' });
    expect(pkg.md5s().get('/usr/bin/raw')).toBe('0123');
    const listed = await entries(file);
    expect(listed.map((e) => `${e.type} ${e.path}`)).toEqual(['directory /usr', 'directory /usr/bin', 'file /usr/bin/raw', 'hardlink /usr/bin/raw-again']);
    expect(listed[3]!.linkTarget).toBe('/usr/bin/raw');
  });

  it('does not claim a compressed tar without .PKGINFO, and says why when asked to open it', async () => {
    const file = await rawPackage([{ name: 'usr/bin/x', content: 'x' }], null);
    expect(await pacmanBackend.supportsFile(file)).toBe(false);
    await expect(openPacmanPackage(file)).rejects.toThrow(/no \.PKGINFO/);
  });

  it.each([
    ['a package name pacman refuses', PKGINFO.replace('pkgname = raw', 'pkgname = ../raw'), /pkgname "\.\.\/raw" is not valid/],
    ['a version without pkgrel', PKGINFO.replace('pkgver = 1.0-1', 'pkgver = 1.0'), /pkgver "1\.0" is not valid/],
    ['a missing arch', PKGINFO.replace('arch = any\n', ''), /"arch" is missing/],
    ['a line that is no key = value', PKGINFO + 'garbage\n', /not "key = value"/],
  ])('refuses %s in .PKGINFO as a bad package (exit 3)', async (_, pkginfo, message) => {
    const file = await rawPackage([{ name: 'usr/bin/x', content: 'x' }], pkginfo);
    const err = await openPacmanPackage(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageFormatError);
    expect((err as PackageFormatError).exitCode).toBe(3);
    expect(String((err as Error).message)).toMatch(message);
    expect(String((err as Error).message)).toContain(file);
  });

  it.each(Object.keys(HOSTILE_DATA_ENTRIES).filter((k) => ['parentEscape', 'absolutePath', 'hardlinkEscape'].includes(k)))('refuses the hostile payload %s naming the file', async (kind) => {
    const file = await rawPackage(HOSTILE_DATA_ENTRIES[kind]!);
    await expect(entries(file)).rejects.toThrow(PackageFormatError);
    await expect(entries(file)).rejects.toThrow(file);
  });
});
