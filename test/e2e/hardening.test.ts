/**
 * Hostile input against a real Debian minbase sysroot: each case is refused with its documented exit status and a
 * message naming the file, and the system is left exactly as it was (faults are in faults.test.ts).
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, buildRawDataTarDeb, buildRpm, ensureDebianMinbase, makeSysroot, type RawTarEntry, type Sysroot } from '@ostree-layer/testkit';
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

describe('files the deployment cannot take', () => {
  it('an .rpm offered to a dpkg deployment is named as an rpm (exit 3)', async () => {
    const rpm = await buildRpm(join(work, 'rpm-for-dpkg'), { name: 'wrong-format', version: '1.0', release: '1', files: [{ path: '/usr/share/wrong-format', content: 'x' }] });
    const r = await cli(['install', ...target, rpm]);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toContain(rpm);
    expect(r.stderr).toMatch(/rpm package .*dpkg-based/);
  });

  it.each([
    ['a 300-byte file name', `./usr/share/${'n'.repeat(300)}`],
    ['a path over 4 kB', `./usr/share/${Array.from({ length: 21 }, () => 'd'.repeat(200)).join('/')}/f`],
  ])('refuses %s with exit 3 (not ENAMETOOLONG as an internal error)', async (_what, name) => {
    const before = await systemSnapshot(shared.sysroot);
    const deb = await buildRawDataTarDeb(join(work, `long-${name.length}`), { name: 'longname', version: '1.0', entries: [{ name: './', type: 'directory' }, { name, content: 'x' }] });
    const r = await cli(['install', ...target, deb]);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toContain(deb);
    expect(r.stderr).toMatch(/at most (255|4095)/);
    expect(await systemSnapshot(shared.sysroot)).toBe(before);
  });
});

describe("paths ostree-layer owns", () => {
  const usrLib: RawTarEntry[] = [{ name: './', type: 'directory' }, { name: './usr/', type: 'directory' }, { name: './usr/lib/', type: 'directory' }];
  it.each([
    ['its state file', [...usrLib, { name: './usr/lib/ostree-layer/', type: 'directory' }, { name: './usr/lib/ostree-layer/state.json', content: '{}' }], '/usr/lib/ostree-layer'],
    ['a generated tmpfiles.d file', [...usrLib, { name: './usr/lib/tmpfiles.d/', type: 'directory' }, { name: './usr/lib/tmpfiles.d/ostree-layer-other.conf', content: 'L+ /etc/x - - - - /tmp/y\n' }], '/usr/lib/tmpfiles.d/ostree-layer-other.conf'],
    ['a sysusers.d name of the tool', [...usrLib, { name: './usr/lib/sysusers.d/', type: 'directory' }, { name: './usr/lib/sysusers.d/ostree-layer-x.conf', content: 'u evil 0\n' }], '/usr/lib/sysusers.d/ostree-layer-x.conf'],
  ] as Array<[string, RawTarEntry[], string]>)('refuses a package shipping %s as a conflict (exit 4)', async (what, entries, path) => {
    const before = await systemSnapshot(shared.sysroot);
    const deb = await buildRawDataTarDeb(join(work, `owned-${what.replace(/\W+/g, '-')}`), { name: 'owned', version: '1.0', entries });
    const r = await cli(['install', ...target, deb]);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toContain(path);
    expect(r.stderr).toContain('ostree-layer itself writes');
    expect(await systemSnapshot(shared.sysroot)).toBe(before);
  });

  it('refuses a file name that is not UTF-8 instead of rewriting it (two names must not become one)', async () => {
    const before = await systemSnapshot(shared.sysroot);
    // tar-stream writes names as UTF-8, so the header is patched afterwards: "caf\xe9" in ISO-8859-1.
    const deb = await buildRawDataTarDeb(join(work, 'latin1'), { name: 'latin1', version: '1.0', entries: [{ name: './', type: 'directory' }, { name: './usr/', type: 'directory' }, { name: './usr/share/', type: 'directory' }, { name: './usr/share/cafX', content: 'x' }] });
    const bytes = readFileSync(deb);
    const at = bytes.indexOf('./usr/share/cafX');
    bytes[at + './usr/share/caf'.length] = 0xe9;
    writeFileSync(deb, fixTarChecksum(bytes, at));
    const r = await cli(['install', ...target, deb]);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/not valid UTF-8/);
    expect(await systemSnapshot(shared.sysroot)).toBe(before);
  });
});

/** Recomputes the checksum of the tar header that starts at `headerAt` (the name field is the header's start). */
function fixTarChecksum(bytes: Buffer, headerAt: number): Buffer {
  const header = bytes.subarray(headerAt, headerAt + 512);
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return bytes;
}

describe('what a failed install leaves behind', () => {
  it('no cache ref of its own: a conflict found after the imports takes back the refs they created', async () => {
    const before = await systemSnapshot(shared.sysroot);
    const refsBefore = (await execa('ostree', [`--repo=${shared.repo}`, 'refs'])).stdout;
    const fine = await buildDeb(join(work, 'refs-fine'), { name: 'refs-fine', version: '1.0', files: [{ path: '/usr/share/refs-fine/x', content: 'x\n' }] });
    // dpkg owns /usr/bin/dpkg in the base; different content without Replaces is a conflict (exit 4).
    const clash = await buildDeb(join(work, 'refs-clash'), { name: 'refs-clash', version: '1.0', files: [{ path: '/usr/bin/dpkg', content: 'not dpkg\n', mode: 0o755 }] });
    const r = await cli(['install', ...target, fine, clash]);
    expect(r.exitCode, r.stderr).toBe(4);
    expect((await execa('ostree', [`--repo=${shared.repo}`, 'refs'])).stdout).toBe(refsBefore);
    expect(await systemSnapshot(shared.sysroot)).toBe(before);
  });
});

describe('memory bombs', () => {
  it('a control.tar of many large members is refused (exit 3) instead of being held in memory', async () => {
    const before = await systemSnapshot(shared.sysroot);
    const big = Buffer.alloc(20 << 20, 0x61);
    const deb = await buildRawDataTarDeb(join(work, 'control-bomb'), {
      name: 'control-bomb',
      version: '1.0',
      controlEntries: Array.from({ length: 5 }, (_, i) => ({ name: `./blob${i}`, content: big })),
      entries: [{ name: './', type: 'directory' }],
    });
    const r = await cli(['install', ...target, deb]);
    expect(r.exitCode, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/holds more than 64 MiB of control files/);
    expect(await systemSnapshot(shared.sysroot)).toBe(before);
  }, 120_000);
});

describe('inspect on broken files', () => {
  it('a .deb cut inside its magic is a bad package file (exit 3) naming it; a missing file is a usage error', async () => {
    const deb = await buildDeb(join(work, 'inspect-cut'), { name: 'inspect-cut', version: '1.0', files: [{ path: '/usr/share/x', content: 'x' }] });
    const cut = join(work, 'inspect-cut.deb');
    for (const length of [1, 8, 15]) {
      writeFileSync(cut, readFileSync(deb).subarray(0, length));
      const r = await cli(['inspect', cut, '--json']);
      expect(r.exitCode, r.stdout).toBe(3);
      expect(JSON.parse(r.stdout).error.message).toContain(cut);
    }
    expect((await cli(['inspect', join(work, 'no-such.deb')])).exitCode).toBe(2);
  });

  it('a directory named as a package file is a usage error (exit 2) naming it, not an internal error', async () => {
    const before = await systemSnapshot(shared.sysroot);
    // Named like a package file, so that install takes it for a file and not for a package name.
    const dir = join(work, 'a-directory.deb');
    mkdirSync(dir);
    for (const args of [['inspect', dir], ['install', ...target, dir]]) {
      const r = await cli(args);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${dir} is a directory`);
    }
    expect(await systemSnapshot(shared.sysroot)).toBe(before);
  });
});
