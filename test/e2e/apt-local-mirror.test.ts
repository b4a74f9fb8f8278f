/**
 * Install by name from a signed local mirror (apt-ftparchive + gpg made in set-up) onto a real bookworm minbase
 * deployment. The deployment is never edited: the mirror comes in with `--source`, its key with signed-by=. Every
 * spoiled variant (tampered, wrong key, unsigned, expired, bad index, bad or truncated .deb, impossible dependency)
 * must be refused with its own exit code and a clear message, leaving refs and deployments exactly as they were.
 */
import { execa } from 'execa';
import { mkdtempSync, truncateSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDebianMinbase, makeSysroot, type BaseImage, type Sysroot } from '@ostree-layer/testkit';
import { cli, systemSnapshot } from '../support/cli.js';
import { buildMirror, copyMirror, flipByte, indexMirror, makeKey, poolFile, serve, type Keys } from './apt-mirror-kit.js';

const DB = 'usr/lib/sysimage/dpkg';
let base: BaseImage;
let work: string;
let s: Sysroot;
let key: Keys;
let otherKey: Keys;
let mirror: string;
let cacheN = 0;

const DEBS = [
  { name: 'hello-lib', version: '1.0-1', arch: 'amd64', multiArch: 'same' as const, files: [{ path: '/usr/lib/x86_64-linux-gnu/libhello.so.1', content: 'lib\n' }] },
  {
    name: 'hello-app', version: '2.0-1', arch: 'amd64', depends: 'hello-lib (>= 1.0), libc6 (>= 2.17)', recommends: 'hello-doc',
    files: [{ path: '/usr/bin/hello-app', content: '#!/bin/sh\necho hello-app-ok\n', mode: 0o755 }],
  },
  { name: 'hello-doc', version: '2.0-1', files: [{ path: '/usr/share/doc/hello-app/README', content: 'docs\n' }] },
  { name: 'hello-extra', version: '1.0', depends: 'hello-lib', files: [{ path: '/usr/share/hello-extra/x', content: 'x\n' }] },
  { name: 'needs-new-libc', version: '1.0', arch: 'amd64', depends: 'hello-lib, libc6 (>= 9.0)', files: [{ path: '/usr/bin/needs-new-libc', content: 'x\n' }] },
];

beforeAll(async () => {
  base = await ensureDebianMinbase();
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-apt-'));
  key = await makeKey(work, 'mirror');
  otherKey = await makeKey(work, 'stranger');
  mirror = await buildMirror(join(work, 'mirror'), { debs: DEBS, key });
  s = await makeSysroot({ base });
});
afterAll(async () => {
  await s?.dispose();
  if (work) await rm(work, { recursive: true, force: true });
});

function source(dir: string, keyFile = key.gpg, uri = `file://${dir}`): string {
  return `deb [signed-by=${keyFile}] ${uri} stable main`;
}

/**
 * Runs install. Index caches are keyed by digest, so one cache serves every case; cases that download .debs get a
 * fresh copy of it (the base's own indexes already in) so that one case's verified files never answer for another.
 */
async function install(args: string[], src: string | string[]) {
  const sources = (Array.isArray(src) ? src : [src]).flatMap((l) => ['--source', l]);
  let cache = join(work, 'cache');
  if (!args.includes('--dry-run')) {
    const fresh = join(work, `cache-${cacheN++}`);
    await execa('cp', ['-a', cache, fresh], { reject: false });
    cache = fresh;
  }
  return cli(['install', '--sysroot', s.sysroot, '--os', s.osName, '--cache-dir', cache, ...sources, ...args]);
}

async function refused(args: string[], src: string, exitCode: number, message: RegExp): Promise<string> {
  const before = await systemSnapshot(s.sysroot);
  const r = await install(args, src);
  expect(r.stderr).toMatch(message);
  expect(r.exitCode, r.stderr).toBe(exitCode);
  expect(await systemSnapshot(s.sysroot)).toBe(before);
  return r.stderr;
}

describe('install by name from a signed local mirror', () => {
  it('plans like apt: dependencies and Recommends, with sizes; --no-install-recommends drops the recommendation', async () => {
    const r = await install(['--dry-run', '--json', 'hello-app'], source(mirror));
    expect(r.exitCode, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.install.map((p: { name: string }) => p.name).sort()).toEqual(['hello-app', 'hello-doc', 'hello-lib']);
    expect(plan.install.find((p: { name: string }) => p.name === 'hello-app')).toMatchObject({ version: '2.0-1', arch: 'amd64' });
    expect(plan.downloadSize).toBeGreaterThan(0);
    const lean = JSON.parse((await install(['--dry-run', '--json', '--no-install-recommends', 'hello-app'], source(mirror))).stdout);
    expect(lean.install.map((p: { name: string }) => p.name).sort()).toEqual(['hello-app', 'hello-lib']);
    const text = await install(['--dry-run', 'hello-app'], source(mirror));
    expect(text.stdout).toMatch(/The following NEW packages will be installed:\n.*hello-app/);
    expect(text.stdout).toMatch(/3 newly installed/);
    expect(text.stdout).toMatch(/Inst hello-lib \(1\.0-1 \[amd64\]\)/);
  });

  it('refuses an InRelease whose signed text was altered', async () => {
    const bad = await copyMirror(mirror, join(work, 'tampered'));
    const inRelease = join(bad, 'dists/stable/InRelease');
    writeFileSync(inRelease, readFileSync(inRelease, 'utf8').replace(/^(Codename: )stable$/m, '$1stabel'));
    await refused(['--dry-run', 'hello-app'], source(bad), 8, /InRelease: BAD signature/);
  });

  it('refuses a mirror signed by a key the source does not trust (armored key file)', async () => {
    await refused(['--dry-run', 'hello-app'], source(mirror, otherKey.asc), 8, /not signed by a trusted key.*--allow-unauthenticated/);
  });

  it('refuses an unsigned mirror unless --allow-unauthenticated; uses Release + Release.gpg when there is no InRelease', async () => {
    const unsigned = await copyMirror(mirror, join(work, 'unsigned'));
    await rm(join(unsigned, 'dists/stable/InRelease'));
    const detached = await install(['--dry-run', '--json', 'hello-app'], source(unsigned));
    expect(detached.exitCode, detached.stderr).toBe(0);
    await rm(join(unsigned, 'dists/stable/Release.gpg'));
    await refused(['--dry-run', 'hello-app'], source(unsigned), 8, /not signed.*--allow-unauthenticated/);
    const allowed = await install(['--dry-run', '--json', '--allow-unauthenticated', 'hello-app'], source(unsigned));
    expect(allowed.exitCode, allowed.stderr).toBe(0);
  });

  it('refuses an expired Release (Valid-Until in the past)', async () => {
    const expired = await copyMirror(mirror, join(work, 'expired'));
    await indexMirror(expired, { key, releaseExtra: 'Valid-Until: Sat, 01 Jan 2000 00:00:00 UTC' });
    await refused(['--dry-run', 'hello-app'], source(expired), 8, /expired on Sat, 01 Jan 2000/);
  });

  it('refuses a Packages index whose digest differs from the signed Release', async () => {
    const bad = await copyMirror(mirror, join(work, 'bad-index'));
    await indexMirror(bad, { key, compressions: [''] });
    const packages = join(bad, 'dists/stable/main/binary-amd64/Packages');
    writeFileSync(packages, readFileSync(packages, 'utf8').replace('hello-app', 'hellO-app'));
    await refused(['--dry-run', 'hello-app'], source(bad), 8, /Packages: .* has SHA256 [0-9a-f]{64}, but the signed metadata expects [0-9a-f]{64}/);
  });

  it('refuses a .deb whose digest differs from the index, and a truncated one', async () => {
    const bad = await copyMirror(mirror, join(work, 'bad-deb'));
    await flipByte(await poolFile(bad, 'hello-lib_'));
    await refused(['hello-app'], source(bad), 8, /hello-lib: file:\/\/.*hello-lib_1\.0-1_amd64\.deb has SHA256 [0-9a-f]{64}, but the signed metadata expects/);
    const short = await copyMirror(mirror, join(work, 'short-deb'));
    const file = await poolFile(short, 'hello-app_');
    const size = statSync(file).size;
    truncateSync(file, size - 100);
    await refused(['hello-app'], source(short), 8, new RegExp(`hello-app: .* is truncated or incomplete: expected ${size} bytes, got ${size - 100}`));
  });

  it('explains a request that needs a newer base library, naming the chain and the locked base package', async () => {
    const stderr = await refused(['needs-new-libc'], source(mirror), 7, /needs-new-libc/);
    expect(stderr).toMatch(/libc6 \(>= 9\.0\)/);
    expect(stderr).toMatch(/libc6 2\.36/);
    expect(stderr).toMatch(/base packages cannot change/);
  });

  it('says which name is unknown', async () => {
    await refused(['--dry-run', 'no-such-package'], source(mirror), 7, /unable to locate package no-such-package/);
  });

  it('search and show read the same verified repositories, and change nothing', async () => {
    const before = await systemSnapshot(s.sysroot);
    const common = ['--sysroot', s.sysroot, '--os', s.osName, '--cache-dir', join(work, 'cache'), '--source', source(mirror)];
    const found = await cli(['search', ...common, '--json', 'hello-*']);
    expect(found.exitCode, found.stderr).toBe(0);
    const names = JSON.parse(found.stdout).map((h: { name: string }) => h.name);
    expect(names).toEqual(expect.arrayContaining(['hello-app', 'hello-lib', 'hello-doc', 'hello-extra']));
    expect(names).not.toContain('needs-new-libc');
    const shown = await cli(['show', ...common, '--json', 'hello-app']);
    expect(shown.exitCode, shown.stderr).toBe(0);
    const [record] = JSON.parse(shown.stdout);
    expect(record).toMatchObject({ Package: 'hello-app', Version: '2.0-1' });
    expect(String(record.Depends)).toContain('hello-lib (>= 1.0)');
    const human = await cli(['show', ...common, 'hello-app']);
    expect(human.stdout).toMatch(/^Package: hello-app$/m);
    const missing = await cli(['show', ...common, 'no-such-package']);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toMatch(/no-such-package/);
    // A mirror whose InRelease was altered is refused by search too.
    const tampered = await copyMirror(mirror, join(work, 'search-tampered'));
    const inrelease = join(tampered, 'dists/stable/InRelease');
    writeFileSync(inrelease, readFileSync(inrelease, 'utf8').replace('Suite: stable', 'Suite: stab1e'));
    const bad = await cli(['search', '--sysroot', s.sysroot, '--os', s.osName, '--cache-dir', join(work, 'cache'), '--source', source(tampered), 'hello']);
    expect(bad.exitCode).toBe(8);
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });

  it('layers from file:// and then from http:// on top of the result; dpkg agrees', async () => {
    const r = await install(['--json', 'hello-app'], source(mirror));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).deployed).toBe(true);
    const dir = s.deploymentDir();
    expect((await execa('chroot', [dir, '/usr/bin/hello-app'])).stdout).toBe('hello-app-ok');
    const q = await execa('dpkg-query', [`--admindir=${join(dir, DB)}`, '-W', 'hello-app', 'hello-lib', 'hello-doc']);
    expect(q.stdout.split('\n').sort()).toEqual(['hello-app\t2.0-1', 'hello-doc\t2.0-1', 'hello-lib:amd64\t1.0-1']);
    expect((await execa('dpkg', [`--admindir=${join(dir, DB)}`, '--audit'])).stdout).toBe('');

    const http = await serve(mirror);
    try {
      const second = await install(['--json', 'hello-extra'], source(mirror, key.gpg, http.url));
      expect(second.exitCode, second.stderr).toBe(0);
      // hello-lib came with the first layer: only hello-extra is new.
      expect(JSON.parse(second.stdout).install.map((p: { name: string }) => p.name)).toEqual(['hello-extra']);
      expect(http.requests).toContain('/dists/stable/InRelease');
      expect(http.requests.some((p) => p.startsWith('/pool/main/hello-extra_'))).toBe(true);
    } finally {
      http.server.close();
    }
    const q2 = await execa('dpkg-query', [`--admindir=${join(s.deploymentDir(), DB)}`, '-W', 'hello-extra', 'hello-app']);
    expect(q2.stdout.split('\n').sort()).toEqual(['hello-app\t2.0-1', 'hello-extra\t1.0']);
  });
});
