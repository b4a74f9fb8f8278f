/** Header text and source packages, judged by the real rpm: what `rpm -qp` prints is what we read. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRpm } from './package.js';

let top: string;
let binary: string;
let source: string;

beforeAll(() => {
  top = mkdtempSync(join(tmpdir(), 'rpm-text-'));
  mkdirSync(join(top, 'SPECS'));
  // rpmbuild 4.18 refuses non-UTF-8 text; older ones wrote ISO-8859 as it was. Placeholders are patched below.
  writeFileSync(join(top, 'SPECS/latin.spec'), `Name: latin
Version: 1
Release: 1
Summary: cafX crYme
License: MIT
BuildArch: noarch
Source0: notes.txt
%description
d
%install
mkdir -p %{buildroot}/usr/share/latin
echo x > %{buildroot}/usr/share/latin/f
%files
/usr/share/latin/f
`);
  mkdirSync(join(top, 'SOURCES'));
  writeFileSync(join(top, 'SOURCES/notes.txt'), 'notes\n');
  execFileSync('rpmbuild', ['--define', `_topdir ${top}`, '--dbpath', join(top, 'db'), '-ba', join(top, 'SPECS/latin.spec')], { stdio: 'ignore' });
  binary = join(top, 'RPMS/noarch', readdirSync(join(top, 'RPMS/noarch'))[0]!);
  source = join(top, 'SRPMS', readdirSync(join(top, 'SRPMS'))[0]!);
}, 60_000);
afterAll(() => rmSync(top, { recursive: true, force: true }));

const rpmQuery = (file: string, args: string[]): Buffer => execFileSync('rpm', ['-qp', '--nodigest', '--nosignature', ...args, file]);

describe('rpm text fields', () => {
  it('an ISO-8859 summary keeps its bytes, read as rpm -qp prints them (no U+FFFD)', async () => {
    const bytes = Buffer.from(readFileSync(binary));
    const at = bytes.indexOf('cafX crYme');
    bytes[at + 3] = 0xe9;
    bytes[at + 7] = 0xe8;
    const patched = join(top, 'latin-patched.rpm');
    writeFileSync(patched, bytes);
    const printed = rpmQuery(patched, ['--qf', '%{SUMMARY}']);
    expect(printed).toEqual(Buffer.from([...Buffer.from('caf'), 0xe9, ...Buffer.from(' cr'), 0xe8, ...Buffer.from('me')]));
    const pkg = await openRpm(patched, { verify: false });
    expect(pkg.metadata.summary).toBe(printed.toString('latin1'));
    expect(String(pkg.metadata.summary)).not.toContain('\uFFFD');
  });
});

describe('source rpms', () => {
  it('lists files as rpm -qlp does, without a leading "/"', async () => {
    const listed = rpmQuery(source, ['-l']).toString('utf8').trim().split('\n');
    const pkg = await openRpm(source);
    expect((pkg.metadata.files as Array<{ path: string }>).map((f) => f.path).sort()).toEqual(listed.sort());
  });
});
