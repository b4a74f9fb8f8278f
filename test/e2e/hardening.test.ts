/**
 * Hostile input and faults against a real Debian minbase sysroot: each case is refused with its documented exit
 * status and a message naming the file, and the system is left exactly as it was.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, buildRawDataTarDeb, ensureDebianMinbase, makeSysroot, type RawTarEntry, type Sysroot } from '@ostree-layer/testkit';
import { cli, systemSnapshot } from '../support/cli.js';

let work: string;
let shared: Sysroot;
let target: string[];

beforeAll(async () => {
  const base = await ensureDebianMinbase();
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-hardening-'));
  shared = await makeSysroot({ base });
  target = ['--sysroot', shared.sysroot, '--os', shared.osName];
}, 600_000);
afterAll(async () => {
  await shared?.dispose();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('truncated packages', () => {
  it.each(['xz', 'gzip', 'none'] as const)('a %s .deb cut anywhere exits 3 naming the file, never an unhandled error', async (compression) => {
    const before = await systemSnapshot(shared.sysroot);
    const deb = await buildDeb(join(work, `cut-${compression}`), {
      name: `cut-${compression}`,
      version: '1.0',
      compression,
      files: [
        // Incompressible-ish content, so that most cut points fall inside this file's body.
        { path: '/usr/share/cut/big', content: Buffer.from(Array.from({ length: 400_000 }, (_, i) => (i * 7919 + (i >> 9)) % 251)) },
        { path: '/usr/share/cut/small', content: 'small\n' },
      ],
    });
    const bytes = readFileSync(deb);
    const cut = join(work, `cut-${compression}.deb`);
    const points = 8;
    for (let k = 1; k <= points; k++) {
      const length = Math.floor((bytes.length * k) / (points + 1));
      writeFileSync(cut, bytes.subarray(0, length));
      const r = await cli(['install', ...target, cut]);
      expect(r.stderr, `cut at ${length} of ${bytes.length}`).not.toMatch(/Unhandled|internal error|at .*\.js:\d+/);
      expect(r.exitCode, `cut at ${length} of ${bytes.length}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain(cut);
    }
    expect(await systemSnapshot(shared.sysroot)).toBe(before);
  }, 300_000);
});

describe('control characters in names', () => {
  const injected = 'L+ /etc/ld.so.preload - - - - /tmp/evil.so';
  const dirs: RawTarEntry[] = [{ name: './', type: 'directory' }, { name: './var/', type: 'directory' }, { name: './var/lib/', type: 'directory' }];
  const cases: Array<[string, RawTarEntry[], string]> = [
    ['a newline in a directory name under /var', [...dirs, { name: `./var/lib/x\n${injected}/`, type: 'directory' }], '/var/lib/x\\n'],
    ['a newline in a symlink target under /var', [...dirs, { name: './var/lib/link', type: 'symlink', linkname: `x\n${injected}` }], '/var/lib/link'],
    ['a newline in an owner name under /var', [...dirs, { name: './var/lib/owned/', type: 'directory', uname: `root\n${injected}` }], '/var/lib/owned'],
    ['a newline in a /usr file name', [{ name: './', type: 'directory' }, { name: './usr/', type: 'directory' }, { name: './usr/share/a\nb', content: 'x' }], '/usr/share/a\\nb'],
  ];
  it.each(cases)('refuses %s: exit 3 naming the path, nothing written', async (what, entries, named) => {
    const before = await systemSnapshot(shared.sysroot);
    const deb = await buildRawDataTarDeb(join(work, what.replace(/\W+/g, '-')), { name: 'ctrl', version: '1.0', entries });
    const r = await cli(['install', ...target, deb]);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toContain(deb);
    expect(r.stderr).toContain(named);
    expect(await systemSnapshot(shared.sysroot)).toBe(before);
  });
});

describe('control fields', () => {
  const control = (fields: Record<string, string>) =>
    Object.entries({ Package: 'fine', Version: '1.0', Architecture: 'all', Maintainer: 'm <m@example.invalid>', Description: 'd', ...fields })
      .map(([k, v]) => `${k}: ${v}\n`)
      .join('');
  const cases: Array<[string, string]> = [
    ['Package', 'a/b'],
    ['Package', '../../etc/x'],
    ['Package', '-dash'],
    ['Version', '1.0/../../x'],
    ['Version', 'a1.0'],
    ['Architecture', '../x'],
    ['Architecture', 'amd64/evil'],
  ];
  const fieldsDeb = (dir: string, fields: Record<string, string>) =>
    buildRawDataTarDeb(join(work, dir), {
      name: 'fields',
      version: '1.0',
      control: control(fields),
      fileName: 'fields.deb',
      entries: [{ name: './', type: 'directory' }, { name: './usr/', type: 'directory' }, { name: './usr/share/', type: 'directory' }, { name: './usr/share/fields', content: 'x' }],
    });
  const dpkgAccepts = async (deb: string) =>
    (await execa('dpkg', ['--root', join(work, 'dpkg-root'), '--dry-run', '-i', deb], { reject: false })).exitCode === 0;

  it('the judge: dpkg accepts the same package with valid fields', async () => {
    expect(await dpkgAccepts(await fieldsDeb('fields-valid', {}))).toBe(true);
  });

  it.each(cases)('refuses %s: %j with exit 3 naming the field and the file, as dpkg-deb does', async (field, value) => {
    const before = await systemSnapshot(shared.sysroot);
    const deb = await fieldsDeb(`field-${field}-${value.replace(/\W+/g, '_')}`, { [field]: value });
    expect(await dpkgAccepts(deb), `dpkg accepted ${field}: ${value}`).toBe(false);
    const r = await cli(['install', ...target, deb]);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toContain(deb);
    expect(r.stderr).toContain(`${field}: ${JSON.stringify(value)}`);
    expect(await systemSnapshot(shared.sysroot)).toBe(before);
  });
});

describe('vercmp edge cases', () => {
  it.each([
    ['3_4', 'lt', '4'],
    ['0:0_-0', 'eq', '0'],
    ['', 'lt', '1'],
    ['', 'lt-nl', '1'],
    ['1', 'gt-nl', ''],
    ['0.1', '<', '0.1'],
    ['0.1', '>', '0.1'],
  ])('dpkg: %j %s %j exits as dpkg --compare-versions does, warnings included', async (a, op, b) => {
    const ours = await cli(['vercmp', a, op, b]);
    const dpkg = await execa('dpkg', ['--compare-versions', a, op, b], { reject: false });
    expect(ours.exitCode).toBe(dpkg.exitCode);
    expect(ours.stderr.includes('warning'), ours.stderr).toBe(dpkg.stderr.includes('warning'));
  });

  it.each([
    ['dpkg', '1 2', 'lt', '3', /embedded spaces/],
    ['dpkg', '1:', 'lt', '3', /nothing after the colon/],
    ['dpkg', '1', 'less', '3', /unknown relation "less"/],
    ['rpm', '', 'lt', '1', /empty version/],
  ])('%s: %j %s %j is a usage error (exit 2) with the reason', async (backend, a, op, b, reason) => {
    const r = await cli(['vercmp', '--backend', backend, a, op, b]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr).not.toMatch(/internal error/);
  });
});

describe('packages that would change the kind of a base path', () => {
  const cases: Array<[string, RawTarEntry[], string]> = [
    ['./usr as a file', [{ name: './', type: 'directory' }, { name: './usr', content: 'not a directory\n' }], '/usr'],
    ['./usr/lib as a symlink', [{ name: './', type: 'directory' }, { name: './usr/', type: 'directory' }, { name: './usr/lib', type: 'symlink', linkname: '/tmp' }], '/usr/lib'],
    ['./etc as a symlink', [{ name: './', type: 'directory' }, { name: './etc', type: 'symlink', linkname: '/tmp' }], '/usr/etc'],
    ['a file under a base file', [{ name: './', type: 'directory' }, { name: './usr/', type: 'directory' }, { name: './usr/bin/', type: 'directory' }, { name: './usr/bin/sh/x', content: 'x' }], '/usr/bin'],
  ];
  it.each(cases)('refuses %s as a file conflict (exit 4) naming the path, before ostree sees it', async (what, entries, path) => {
    const before = await systemSnapshot(shared.sysroot);
    const deb = await buildRawDataTarDeb(join(work, `shape-${what.replace(/\W+/g, '-')}`), { name: 'shape', version: '1.0', entries });
    const r = await cli(['install', ...target, deb]);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toContain(path);
    expect(r.stderr).toContain(deb);
    expect(r.stderr).not.toMatch(/ostree commit failed/);
    expect(await systemSnapshot(shared.sysroot)).toBe(before);
  });
});
