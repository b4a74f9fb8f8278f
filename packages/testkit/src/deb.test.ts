import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { extract as tarExtract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, buildRawDataTarDeb, HOSTILE_DATA_ENTRIES, type DebSpec } from './index.js';
import { isRoot } from './run.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'testkit-deb-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const field = async (file: string, name: string) => (await execa('dpkg-deb', ['-f', file, name])).stdout;
/** `tar -tv --numeric-owner` of the data member: "mode uid/gid name[ -> target]" per entry. */
async function listData(file: string): Promise<string[]> {
  const { stdout } = await execa('sh', ['-c', `dpkg-deb --fsys-tarfile '${file}' | tar -tv --numeric-owner`]);
  return stdout.split('\n').map((line) => {
    const [mode, owner, , , , ...rest] = line.split(/\s+/);
    return `${mode} ${owner} ${rest.join(' ')}`;
  });
}
const arMembers = async (file: string) => (await execa('ar', ['t', file])).stdout.split('\n');

describe('buildDeb', () => {
  const spec: DebSpec = {
    name: 'htop-test',
    version: '1:3.2.2-2',
    arch: 'amd64',
    depends: ['libc6 (>= 2.34)', 'libncursesw6 (>= 6) | libncurses6'],
    preDepends: 'dpkg (>= 1.17)',
    replaces: 'htop (<< 3)',
    conflicts: ['htop-legacy'],
    provides: 'top-viewer',
    multiArch: 'foreign',
    description: 'interactive viewer\nLonger text.\n\nSecond paragraph.',
    extraFields: { Homepage: 'https://example.invalid/htop' },
    files: [
      { path: '/usr/bin/htop-test', content: 'binary\n', mode: 0o755 },
      { path: 'usr/bin/htop-setuid', content: 'suid\n', mode: 0o4755, uid: 0, gid: 5 },
      { path: '/usr/share/htop-test', dir: true, mode: 0o700, uid: 5, gid: 60 },
      { path: '/usr/share/htop-test/link', symlink: '../../bin/htop-test' },
      { path: '/usr/share/htop-test/hard', hardlink: '/usr/bin/htop-test' },
      { path: '/etc/htoprc', content: 'color=1\n', conffile: true },
    ],
    scripts: { postinst: 'echo configured', prerm: '#!/bin/bash\necho bye\n' },
  };

  it('writes every control field dpkg-deb reads back', async () => {
    const file = await buildDeb(dir, spec);
    expect(basename(file)).toBe('htop-test_3.2.2-2_amd64.deb');
    expect(await field(file, 'Package')).toBe('htop-test');
    expect(await field(file, 'Version')).toBe('1:3.2.2-2');
    expect(await field(file, 'Architecture')).toBe('amd64');
    expect(await field(file, 'Depends')).toBe('libc6 (>= 2.34), libncursesw6 (>= 6) | libncurses6');
    expect(await field(file, 'Pre-Depends')).toBe('dpkg (>= 1.17)');
    expect(await field(file, 'Replaces')).toBe('htop (<< 3)');
    expect(await field(file, 'Conflicts')).toBe('htop-legacy');
    expect(await field(file, 'Provides')).toBe('top-viewer');
    expect(await field(file, 'Multi-Arch')).toBe('foreign');
    expect(await field(file, 'Homepage')).toBe('https://example.invalid/htop');
    expect(await field(file, 'Description')).toBe('interactive viewer\n Longer text.\n .\n Second paragraph.');
    expect((await execa('dpkg-deb', ['-I', file, 'conffiles'])).stdout.trim()).toBe('/etc/htoprc');
    expect((await execa('dpkg-deb', ['-I', file, 'postinst'])).stdout).toBe('#!/bin/sh\nset -e\necho configured');
    expect((await execa('dpkg-deb', ['-I', file, 'prerm'])).stdout).toBe('#!/bin/bash\necho bye');
  });

  // Owners other than root need root to stage; in CI (root) it always runs.
  it.skipIf(!isRoot() && !process.env.CI)('ships the files with the modes, owners and links of the spec', async () => {
    const file = await buildDeb(join(dir, 'owners'), spec);
    const entries = await listData(file);
    expect(entries).toEqual(
      expect.arrayContaining([
        'drwxr-xr-x 0/0 ./',
        'drwxr-xr-x 0/0 ./usr/',
        '-rwxr-xr-x 0/0 ./usr/bin/htop-test',
        '-rwsr-xr-x 0/5 ./usr/bin/htop-setuid',
        'drwx------ 5/60 ./usr/share/htop-test/',
        'lrwxrwxrwx 0/0 ./usr/share/htop-test/link -> ../../bin/htop-test',
        '-rw-r--r-- 0/0 ./etc/htoprc',
      ]),
    );
    // tar stores the second name of a hard link as a link entry to the first one it met.
    expect(entries.some((e) => / \.\/usr\/(bin\/htop-test|share\/htop-test\/hard) link to \.\/usr\//.test(e))).toBe(true);
    expect(entries).toHaveLength(11);
  });

  it('compresses data.tar as asked, and equal specs give byte-identical files', async () => {
    const small: DebSpec = { name: 'tiny', version: '1.0', files: [{ path: '/usr/share/tiny/readme', content: 'hi\n' }] };
    const members: Record<string, string> = { xz: 'data.tar.xz', gzip: 'data.tar.gz', zstd: 'data.tar.zst', none: 'data.tar' };
    for (const compression of ['xz', 'gzip', 'zstd', 'none'] as const) {
      const file = await buildDeb(join(dir, compression), { ...small, compression });
      expect(await arMembers(file)).toEqual(['debian-binary', expect.stringMatching(/^control\.tar/), members[compression]]);
      expect((await listData(file)).at(-1)).toBe('-rw-r--r-- 0/0 ./usr/share/tiny/readme');
    }
    const digest = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');
    const again = await buildDeb(join(dir, 'again'), { ...small, compression: 'xz' });
    expect(await digest(again)).toBe(await digest(join(dir, 'xz', 'tiny_1.0_all.deb')));
  });

  it('reports what dpkg-deb refuses', async () => {
    await expect(buildDeb(dir, { name: 'Bad_Name', version: '1', files: [] })).rejects.toThrow(/dpkg-deb.*Bad_Name|package name/s);
    await expect(buildDeb(dir, { name: 'esc', version: '1', files: [{ path: '../etc/x' }] })).rejects.toThrow(/buildRawDataTarDeb/);
  });
});

/** The data.tar headers as written, read with tar-stream from `dpkg-deb --fsys-tarfile`. */
async function headers(file: string): Promise<{ name: string; type: string; linkname: string | null }[]> {
  const tar = execa('dpkg-deb', ['--fsys-tarfile', file], { buffer: false });
  const out: { name: string; type: string; linkname: string | null }[] = [];
  const extract = tarExtract();
  tar.stdout!.pipe(extract);
  for await (const entry of extract) {
    out.push({ name: entry.header.name, type: entry.header.type, linkname: entry.header.linkname ?? null });
    entry.resume();
  }
  await tar;
  return out;
}

describe('buildRawDataTarDeb', () => {
  const listing = async (file: string) => {
    const { stdout } = await execa('sh', ['-c', `dpkg-deb --fsys-tarfile '${file}' | tar -tv --numeric-owner`]);
    return stdout.split('\n');
  };

  it('writes a .deb whose control dpkg-deb reads and whose data holds the names verbatim', async () => {
    const file = await buildRawDataTarDeb(dir, { name: 'evil-escape', version: '1', entries: HOSTILE_DATA_ENTRIES.parentEscape! });
    expect(await field(file, 'Package')).toBe('evil-escape');
    expect(await arMembers(file)).toEqual(['debian-binary', 'control.tar.gz', 'data.tar']);
    expect((await listing(file))[0]).toMatch(/^-rw-r--r-- 0\/0 +\d+ \S+ \S+ \.\.\/x$/);
  });

  it('keeps absolute names, escaping hard links and symlinked parents as written', async () => {
    const absolute = await buildRawDataTarDeb(dir, { name: 'evil-abs', version: '1', entries: HOSTILE_DATA_ENTRIES.absolutePath! });
    expect((await listing(absolute))[0]).toMatch(/ \/etc\/x$/);
    const hard = await buildRawDataTarDeb(dir, { name: 'evil-hard', version: '1', entries: HOSTILE_DATA_ENTRIES.hardlinkEscape! });
    // GNU tar's listing drops the "../" of a link target, so read the header itself.
    expect((await headers(hard)).at(-1)).toEqual({ name: './usr/share/shadow-copy', type: 'link', linkname: '../../etc/shadow' });
    const via = await buildRawDataTarDeb(dir, { name: 'evil-symlink', version: '1', entries: HOSTILE_DATA_ENTRIES.symlinkThenFile!, dataCompression: 'xz' });
    expect(await arMembers(via)).toContain('data.tar.xz');
    const lines = await listing(via);
    expect(lines[2]).toMatch(/^l\S+ 0\/0 .* \.\/usr\/share\/foo -> \/etc$/);
    expect(lines[3]).toMatch(/ \.\/usr\/share\/foo\/passwd$/);
  });

  it('keeps the directory metadata a hostile package claims', async () => {
    const file = await buildRawDataTarDeb(dir, { name: 'evil-dir', version: '1', entries: HOSTILE_DATA_ENTRIES.directoryMetadata!, dataCompression: 'gzip' });
    expect(await arMembers(file)).toContain('data.tar.gz');
    expect((await listing(file))[2]).toMatch(/^drwx------ 5\/5 .* \.\/usr\/share\/$/);
  });
});
