/** Hostile and broken packages are refused with PackageFormatError, never a crash or a write outside the tree. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PackageFormatError } from '@ostree-layer/core';
import { readArchive } from './archive.js';
import { openRpm } from './package.js';

let work: string;
let plain: string;
let gz: string;

function build(name: string, payload: string): string {
  const top = join(work, `top-${name}`);
  mkdirSync(join(top, 'SPECS'), { recursive: true });
  const spec = join(top, 'SPECS', `${name}.spec`);
  writeFileSync(spec, `Name: ${name}
Version: 1
Release: 1
Summary: s
License: MIT
BuildArch: noarch
%description
d
%install
mkdir -p %{buildroot}/usr/share/hx
head -c 300000 /dev/urandom > %{buildroot}/usr/share/hx/abcdefgh
echo small > %{buildroot}/usr/share/hx/zz
%files
/usr/share/hx/abcdefgh
/usr/share/hx/zz
`);
  execFileSync('rpmbuild', ['--define', `_topdir ${top}`, '--define', `_binary_payload ${payload}`, '--dbpath', join(work, 'db'), '-bb', spec], { stdio: 'ignore' });
  return join(top, 'RPMS/noarch', readdirSync(join(top, 'RPMS/noarch'))[0]);
}

async function drain(file: string): Promise<void> {
  const pkg = await openRpm(file, { verify: false });
  for await (const { body } of pkg.payload()) if (body) for await (const _ of body) void _;
}

function patched(from: string, name: string, edit: (b: Buffer, a: { headerOffset: number; payloadOffset: number }) => Buffer, a: { headerOffset: number; payloadOffset: number }): string {
  const out = join(work, name);
  writeFileSync(out, edit(Buffer.from(readFileSync(from)), a));
  return out;
}

describe('hostile rpm input', () => {
  let layout: { headerOffset: number; payloadOffset: number };
  let gzLayout: { headerOffset: number; payloadOffset: number };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rpm-hostile-'));
    plain = build('plainpkg', 'w.ufdio');
    gz = build('gzpkg', 'w9.gzdio');
    layout = await readArchive(plain);
    gzLayout = await readArchive(gz);
  }, 60_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('reads the untouched packages (the baseline the mutations break)', async () => {
    await drain(plain);
    await drain(gz);
    expect((await openRpm(plain)).id).toEqual({ name: 'plainpkg', version: '1-1', arch: 'noarch' });
  });

  it('refuses an absurd header index count before allocating', async () => {
    const f = patched(plain, 'il.rpm', (b, a) => (b.writeUInt32BE(0x7fffffff, a.headerOffset + 8), b), layout);
    await expect(openRpm(f)).rejects.toThrow(PackageFormatError);
    await expect(openRpm(f)).rejects.toThrow(/claims 2147483647 index entries/);
  });

  it('refuses an absurd header data length', async () => {
    const f = patched(plain, 'dl.rpm', (b, a) => (b.writeUInt32BE(0xfffffff0, a.headerOffset + 12), b), layout);
    await expect(openRpm(f)).rejects.toThrow(/claims 4294967280 bytes of data/);
    const g = patched(plain, 'dl2.rpm', (b, a) => (b.writeUInt32BE(b.readUInt32BE(a.headerOffset + 12) + 5000000, a.headerOffset + 12), b), layout);
    await expect(openRpm(g)).rejects.toThrow(/file ends first/);
  });

  it('refuses an index entry pointing outside the data store', async () => {
    const f = patched(plain, 'off.rpm', (b, a) => (b.writeInt32BE(0x00ffffff, a.headerOffset + 16 + 16 * 3 + 8), b), layout);
    await expect(openRpm(f, { verify: false })).rejects.toThrow(/points outside the data store/);
  });

  it('refuses a truncated payload, at open (size) and while streaming', async () => {
    for (const [src, a] of [[plain, layout], [gz, gzLayout]] as const) {
      const f = patched(src, `trunc-${a.payloadOffset}.rpm`, (b, l) => b.subarray(0, l.payloadOffset + 150000), a);
      await expect(openRpm(f)).rejects.toThrow(/truncated/);
      await expect(drain(f)).rejects.toThrow(PackageFormatError);
      await expect(drain(f)).rejects.toThrow(/truncated/);
    }
  });

  it('refuses a payload whose digest does not match', async () => {
    const f = patched(gz, 'flip.rpm', (b) => ((b[b.length - 100] ^= 0xff), b), gzLayout);
    await expect(openRpm(f)).rejects.toThrow(/payload digest does not match/);
  });

  it('refuses a cpio member named with ".."', async () => {
    const f = patched(plain, 'dotdot.rpm', (b, a) => {
      const at = b.indexOf('./usr/share/hx/abcdefgh', a.payloadOffset);
      b.write('../usr/share/hx/abcdefg', at, 'latin1');
      return b;
    }, layout);
    await expect(drain(f)).rejects.toThrow(PackageFormatError);
    await expect(drain(f)).rejects.toThrow(/contains "\.\."/);
  });

  it('refuses an absolute cpio member the header does not list', async () => {
    const f = patched(plain, 'abs.rpm', (b, a) => {
      const at = b.indexOf('./usr/share/hx/abcdefgh', a.payloadOffset);
      b.write('/etc/shadow.hostile-abc', at, 'latin1');
      return b;
    }, layout);
    await expect(drain(f)).rejects.toThrow(PackageFormatError);
    await expect(drain(f)).rejects.toThrow(/\/etc\/shadow\.hostile-abc, which the header does not list/);
  });

  it.each([
    ['Name', 'plainpkg', 'pla/npkg'],
    ['Name', 'plainpkg', '../../xy'],
    ['Arch', 'noarch', 'no/rch'],
    ['Arch', 'noarch', '..arch'],
  ])('refuses a header %s %j rewritten to %j, naming the field and the file', async (field, from, to) => {
    const f = patched(plain, `field-${to.replace(/\W/g, '_')}.rpm`, (b, a) => {
      b.write(to, b.indexOf(`${from}\0`, a.headerOffset + 16), 'latin1');
      return b;
    }, layout);
    await expect(openRpm(f, { verify: false })).rejects.toThrow(PackageFormatError);
    await expect(openRpm(f, { verify: false })).rejects.toThrow(`header field ${field}: ${JSON.stringify(to)}`);
    await expect(openRpm(f, { verify: false })).rejects.toThrow(f);
  });

  it('refuses a file name that is not UTF-8 instead of rewriting it to U+FFFD (two names must not become one)', async () => {
    // "abcdefgh" in the header's base names becomes "abc\xe9efgh" (ISO-8859-1 é): same length, so the header stays valid.
    const f = patched(plain, 'latin1-name.rpm', (b, a) => {
      const at = b.indexOf('abcdefgh\0', a.headerOffset + 16, 'latin1');
      b[at + 3] = 0xe9;
      return b;
    }, layout);
    await expect(drain(f)).rejects.toThrow(PackageFormatError);
    await expect(drain(f)).rejects.toThrow(/"abc\u00e9efgh", which is not valid UTF-8/);
  });

  it('refuses a file that is not an rpm', async () => {
    const f = join(work, 'not.rpm');
    writeFileSync(f, 'hello world, this is not a package at all'.repeat(10));
    await expect(openRpm(f)).rejects.toThrow(/not an rpm package/);
  });
});
