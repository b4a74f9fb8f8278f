import { execFile } from 'node:child_process';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PackageFormatError, type PackageEntry } from '@ostree-layer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDeb, type DebPackage } from './archive.js';
import { readAr } from './ar.js';
import { inspectDeb } from './inspect.js';
import { dpkgBackend } from './index.js';
import { arArchive, buildDeb, handMadeDeb, run, tarArchive, tempDir, type DebSpec } from './testing/debs.js';
import { Readable } from 'node:stream';

const sh = promisify(execFile);

function modeString(e: PackageEntry): string {
  const t = { file: '-', directory: 'd', symlink: 'l', hardlink: 'h', 'char-device': 'c', 'block-device': 'b', fifo: 'p' }[e.type];
  const m = e.mode;
  const bit = (mask: number, c: string) => (m & mask ? c : '-');
  const special = (x: number, s: number, lower: string, upper: string) => (m & s ? (m & x ? lower : upper) : bit(x, 'x'));
  return t + bit(0o400, 'r') + bit(0o200, 'w') + special(0o100, 0o4000, 's', 'S') + bit(0o40, 'r') + bit(0o20, 'w') +
    special(0o10, 0o2000, 's', 'S') + bit(0o4, 'r') + bit(0o2, 'w') + special(0o1, 0o1000, 't', 'T');
}

/** Our payload printed the way `dpkg-deb -c` prints it, without the date column. */
async function listLikeDpkgDeb(pkg: DebPackage): Promise<string[]> {
  const out: string[] = [];
  for await (const { entry, body } of pkg.payload()) {
    let read = 0;
    if (body) for await (const c of body) read += (c as Buffer).length;
    expect(read).toBe(entry.size);
    const name = '.' + entry.path + (entry.type === 'directory' ? '/' : '');
    const suffix = entry.type === 'symlink' ? ` -> ${entry.linkTarget}` : entry.type === 'hardlink' ? ` link to .${entry.linkTarget}` : '';
    out.push(`${modeString(entry)} ${entry.user}/${entry.group} ${entry.size} ${name}${suffix}`);
  }
  return out;
}

async function dpkgDebList(file: string): Promise<string[]> {
  const { stdout } = await sh('dpkg-deb', ['-c', file]);
  return stdout.trim().split('\n')
    .map((l) => l.replace(/^(\S+) (\S+)\s+(\d+) \d{4}-\d\d-\d\d \d\d:\d\d (.*)$/, '$1 $2 $3 $4'))
    .filter((l) => !/ \.\/$/.test(l));
}

const richFiles: DebSpec['files'] = {
  'etc/demo.conf': 'setting=1\n',
  'usr/bin/demo': { content: '#!/bin/sh\necho demo\n', mode: 0o755 },
  'usr/bin/demo-link': { hardlink: 'usr/bin/demo' },
  'usr/bin/demo-sym': { symlink: 'demo' },
  'usr/bin/suid': { content: 'x', mode: 0o4755 },
  'usr/share/demo/private/data': { content: 'y'.repeat(70_000), mode: 0o600 },
  'usr/share/demo/empty': '',
  'usr/share/demo/sticky/.keep': '',
  [`usr/share/demo/${'long-name-'.repeat(12)}/file`]: 'long path\n',
};

let dir: string;
beforeAll(async () => {
  dir = await tempDir('dpkg-archive-');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('payload() against dpkg-deb -c', () => {
  it.each(['xz', 'zstd', 'gzip', 'none'] as const)('lists what dpkg-deb lists (%s)', async (compression) => {
    const file = await buildDeb(dir, {
      name: `rich-${compression}`, files: richFiles, conffiles: ['/etc/demo.conf'], compression,
      scripts: { postinst: '#!/bin/sh\nexit 0\n', triggers: 'interest-noawait /usr/share/demo\n' },
      owners: { 'usr/share/demo/private/data': 'daemon:daemon', 'usr/bin/demo-sym': 'bin:bin' },
    });
    await run('chmod', ['1777', join(dir, `rich-${compression}-src/usr/share/demo/sticky`)]);
    const rebuilt = await buildDeb(dir, { name: `rich2-${compression}`, files: richFiles, compression });
    for (const f of [file, rebuilt]) {
      const pkg = await openDeb(f);
      expect(await listLikeDpkgDeb(pkg)).toEqual(await dpkgDebList(f));
    }
    const pkg = await openDeb(file);
    expect(pkg.dataMember).toBe(compression === 'none' ? 'data.tar' : `data.tar.${{ xz: 'xz', zstd: 'zst', gzip: 'gz' }[compression]}`);
    expect(pkg.conffiles).toEqual(['/etc/demo.conf']);
    expect(pkg.hasScripts).toBe(true);
    expect(pkg.infoMembers().map((m) => [m.name, m.mode])).toEqual([['postinst', 0o755], ['triggers', 0o644]]);
    const entries: PackageEntry[] = [];
    for await (const { entry } of pkg.payload()) entries.push(entry); // bodies left unread on purpose
    expect(entries.find((e) => e.path === '/etc/demo.conf')?.config).toBe(true);
    expect(entries.filter((e) => e.config)).toHaveLength(1);
    expect(entries.find((e) => e.path === '/usr/share/demo/private/data')).toMatchObject({ user: 'daemon', uid: 1, size: 70_000 });
    expect(entries.find((e) => e.path === '/usr/bin/demo-link')).toMatchObject({ type: 'hardlink', linkTarget: '/usr/bin/demo' });
  });

  it('reads a body, then reads the package again from the start', async () => {
    const pkg = await openDeb(await buildDeb(dir, { name: 'twice', files: { 'usr/share/twice/a': 'hello\n' } }));
    for (let round = 0; round < 2; round++) {
      let text = '';
      for await (const { entry, body } of pkg.payload()) if (entry.path === '/usr/share/twice/a') text = (await body!.toArray()).join('');
      expect(text).toBe('hello\n');
    }
  });

  it('stops its decompressor when the consumer stops early', async () => {
    const pkg = await openDeb(await buildDeb(dir, { name: 'early', files: { 'usr/share/early/big': 'e'.repeat(3_000_000) }, compression: 'xz' }));
    for await (const { entry } of pkg.payload()) if (entry.type === 'file') break;
    await new Promise((r) => setTimeout(r, 200));
    const { stdout } = await sh('ps', ['-o', 'comm=', '--ppid', String(process.pid)]).catch((e: { stdout: string }) => e);
    expect(stdout.split('\n')).not.toContain('xz');
  });

  it('describes the package for inspect --json', async () => {
    const file = await buildDeb(dir, {
      name: 'inspected', version: '2:1.2~rc1-3', files: { 'usr/bin/x': 'x' },
      control: 'Depends: libc6 (>= 2.36) | musl:amd64, perl:any\nPre-Depends: dpkg (> 1.0)\nProvides: x-tool (= 1)\nSection: utils',
    });
    const json = await inspectDeb(file);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
    expect(json).toMatchObject({
      name: 'inspected', version: '2:1.2~rc1-3', arch: 'amd64',
      relations: {
        Depends: [[{ name: 'libc6', constraint: { op: '>=', version: '2.36' } }, { name: 'musl', archQualifier: 'amd64' }], [{ name: 'perl', archQualifier: 'any' }]],
        'Pre-Depends': [[{ name: 'dpkg', constraint: { op: '>=', version: '1.0' } }]],
        Provides: [[{ name: 'x-tool', constraint: { op: '=', version: '1' } }]],
      },
      fields: { Section: 'utils' },
      files: [{ path: '/usr', type: 'directory' }, { path: '/usr/bin', type: 'directory' }, { path: '/usr/bin/x', type: 'file', mode: 0o644, user: 'root', group: 'root', size: 1 }],
    });
    expect(await dpkgBackend.supportsFile(file)).toBe(true);
    expect(await dpkgBackend.supportsFile(join(dir, 'rich-none-src/usr/bin/demo'))).toBe(false);
  });
});

async function expectFormatError(file: string, pattern: RegExp): Promise<void> {
  const attempt = async () => {
    const pkg = await openDeb(file);
    for await (const { body } of pkg.payload()) if (body) for await (const _ of body) void _;
  };
  const err = await attempt().then(() => null, (e: unknown) => e);
  expect(err, `no error for ${file}`).toBeInstanceOf(PackageFormatError);
  expect((err as Error).message).toContain(file);
  expect((err as Error).message).toMatch(pattern);
}

describe('hostile and broken input', () => {
  it('refuses a file without the ar magic', async () => {
    const file = join(dir, 'bad-magic.deb');
    await writeFile(file, 'PK\x03\x04 this is a zip');
    await expectFormatError(file, /bad magic/);
    expect(await dpkgBackend.supportsFile(file)).toBe(false);
  });

  it.each(['xz', 'gzip', 'none', 'zstd'] as const)('refuses every truncation of a %s package', async (compression) => {
    const file = await buildDeb(dir, { name: `trunc-${compression}`, files: { 'usr/share/t/big': 'z'.repeat(200_000), 'usr/share/t/small': 'a' }, compression });
    const full = await readFile(file);
    // Not full.length - 1: that byte may be the final ar padding, whose absence dpkg-deb accepts too.
    for (const cut of [4, 30, 70, 130, Math.floor(full.length / 2), full.length - 600, full.length - 3]) {
      const part = join(dir, `trunc-${compression}-${cut}.deb`);
      await writeFile(part, full.subarray(0, cut));
      await expectFormatError(part, /truncat|corrupt|incomplete|no data\.tar/);
    }
  });

  it('refuses a corrupt ar header', async () => {
    const good = arArchive([{ name: 'debian-binary', data: Buffer.from('2.0\n') }]);
    good.write('12x4', 8 + 48, 'latin1');
    const file = join(dir, 'bad-header.deb');
    await writeFile(file, good);
    await expectFormatError(file, /corrupt ar header/);
  });

  it('iterates ar members and reports truncation in a member body', async () => {
    const ar = arArchive([{ name: 'a', data: Buffer.from('abc') }, { name: 'b', data: Buffer.from('0123456789') }]);
    const seen: string[] = [];
    for await (const m of readAr(Readable.from([ar]), 'mem.ar')) seen.push(`${m.name}:${(await m.body.toArray()).join('')}`);
    expect(seen).toEqual(['a:abc', 'b:0123456789']);
    const cut = readAr(Readable.from([ar.subarray(0, ar.length - 4)]), 'cut.ar');
    const err = await (async () => { for await (const m of cut) await m.body.toArray(); })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageFormatError);
  });

  it.each([
    ['a "../" entry', [{ header: { name: './usr/../../etc/passwd' }, body: 'x' }], /contains "\.\."/],
    ['an absolute entry', [{ header: { name: '/etc/passwd' }, body: 'x' }], /absolute path/],
    ['a hardlink leaving the package', [{ header: { name: './usr/x', type: 'link' as const, linkname: '../etc/shadow' } }], /contains "\.\."/],
    ['a hardlink to a file the package lacks', [{ header: { name: './usr/x', type: 'link' as const, linkname: './etc/shadow' } }], /not an earlier regular file/],
    ['a hardlink to a directory', [{ header: { name: './d/', type: 'directory' as const } }, { header: { name: './l', type: 'link' as const, linkname: './d' } }], /not an earlier regular file/],
    ['a hardlink to a later entry', [{ header: { name: './a', type: 'link' as const, linkname: './b' } }, { header: { name: './b' }, body: 'b' }], /not an earlier regular file/],
    ['a pax sparse entry', [{ header: { name: './sparse', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' } }, body: 'x' }], /sparse/],
  ])('refuses %s in data.tar', async (_label, entries, pattern) => {
    const file = join(dir, `hostile-${_label.replace(/\W+/g, '-')}.deb`);
    await writeFile(file, await handMadeDeb(await tarArchive(entries)));
    await expectFormatError(file, pattern);
  });

  it('refuses a GNU sparse member made by tar --sparse', async () => {
    const src = join(dir, 'sparse-src');
    await run('bash', ['-c', `mkdir -p "$1" && cd "$1" && truncate -s 4M hole && printf data >> hole && tar --format=gnu --sparse -cf ../sparse.tar ./hole`, 'x', src]);
    const file = join(dir, 'sparse.deb');
    await writeFile(file, await handMadeDeb(await readFile(join(dir, 'sparse.tar'))));
    await expectFormatError(file, /sparse/);
  });

  it('refuses a data.tar that is cut short inside the ar member', async () => {
    const data = await tarArchive([{ header: { name: './big' }, body: 'q'.repeat(5000) }]);
    const file = join(dir, 'short-tar.deb');
    await writeFile(file, await handMadeDeb(data.subarray(0, 2048)));
    await expectFormatError(file, /truncated|Unexpected end/);
    await truncate(file, 10);
    await expectFormatError(file, /truncat|incomplete/);
  });
});
