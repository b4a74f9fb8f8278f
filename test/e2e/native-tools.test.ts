/**
 * The layered database as the deployment's own, unmodified tools see it after a first boot: a copy of the new
 * deployment gets `systemd-tmpfiles --root COPY --create` (what systemd-tmpfiles-setup does at boot), then the real
 * dpkg, apt and apt-mark run inside it with chroot. On the rpm base (which ships no rpm of its own), the host's rpm and
 * dnf read the deployment's macro files, as the deployment's own rpm would.
 */
import { execa } from 'execa';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRpm, ensureDebianMinbase, ensureRpmBase, type Sysroot } from '@ostree-layer/testkit';
import { cli } from '../support/cli.js';
import { buildMirror, makeKey } from './apt-mirror-kit.js';
import { sysrootPool } from '../support/sysroots.js';

let work: string;
const newSysroot = sysrootPool('all');

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-native-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A copy of the default deployment after its first boot's tmpfiles run; `staleVar` seeds /var as an old image did. */
function bootedCopy(s: Sysroot, name: string, staleVar?: (copy: string) => void): string {
  const copy = join(work, name);
  cpSync(s.deploymentDir(), copy, { recursive: true, verbatimSymlinks: true });
  staleVar?.(copy);
  return copy;
}

async function firstBoot(copy: string): Promise<void> {
  const r = await execa('systemd-tmpfiles', ['--root', copy, '--create'], { reject: false });
  // Exit 65/73 only reports lines of the base that cannot apply in a chroot (no such user); ours must have applied.
  expect([0, 65, 73], r.stderr).toContain(r.exitCode);
}

async function inside(copy: string, command: string[]) {
  const r = await execa('chroot', [copy, ...command], { reject: false, env: { LC_ALL: 'C' } });
  return { exitCode: r.exitCode, out: `${r.stdout}${r.stderr}` };
}

/** Runs `command` in the copy with its /usr mounted read-only, as on a booted OSTree system. */
async function insideReadOnlyUsr(copy: string, command: string) {
  const script = `mount --bind "$1/usr" "$1/usr" && mount -o remount,bind,ro "$1/usr" && chroot "$1" sh -c "$2"`;
  const r = await execa('unshare', ['-m', 'sh', '-c', script, 'sh', copy, command], { reject: false, env: { LC_ALL: 'C' } });
  return { exitCode: r.exitCode, out: `${r.stdout}${r.stderr}` };
}

describe('dpkg and apt on a layered Debian deployment', () => {
  it('see the layered packages, their files and apt\'s auto-installed marks; writing verbs fail on the read-only /usr', async () => {
    const s = await newSysroot({ base: await ensureDebianMinbase() });
    const key = await makeKey(work, 'native');
    const mirror = await buildMirror(join(work, 'mirror'), {
      key,
      debs: [
        { name: 'native-lib', version: '1.0-1', arch: 'amd64', multiArch: 'same', files: [{ path: '/usr/lib/x86_64-linux-gnu/libnative.so.1', content: 'lib\n' }] },
        { name: 'native-doc', version: '1.0-1', files: [{ path: '/usr/share/doc/native-app/README', content: 'doc\n' }] },
        {
          name: 'native-app', version: '2.0-1', arch: 'amd64', depends: 'native-lib (>= 1.0)', recommends: 'native-doc',
          files: [{ path: '/usr/bin/native-app', content: '#!/bin/sh\necho native\n', mode: 0o755 }],
        },
      ],
    });
    const target = ['--sysroot', s.sysroot, '--os', s.osName, '--cache-dir', join(work, 'cache')];
    const r = await cli(['install', ...target, '--source', `deb [signed-by=${key.gpg}] file://${mirror} stable main`, 'native-app']);
    expect(r.exitCode, r.stderr).toBe(0);

    // A base whose /var was seeded with a database copy: the boot replaces it with the link to the deployment's.
    const copy = bootedCopy(s, 'deb-copy', (c) => {
      mkdirSync(join(c, 'var/lib/dpkg'), { recursive: true });
      writeFileSync(join(c, 'var/lib/dpkg/status'), '');
    });
    await firstBoot(copy);

    const list = await inside(copy, ['dpkg', '-l', 'native-app', 'native-lib']);
    expect(list.out).toMatch(/^ii {2}native-app +2\.0-1 +amd64/m);
    expect(list.out).toMatch(/^ii {2}native-lib:amd64 +1\.0-1/m);
    expect((await inside(copy, ['dpkg', '-L', 'native-app'])).out.split('\n')).toContain('/usr/bin/native-app');
    expect((await inside(copy, ['dpkg', '-S', '/usr/bin/native-app'])).out.trim()).toBe('native-app: /usr/bin/native-app');
    expect((await inside(copy, ['dpkg-query', '-W', '-f', '${Version}', 'native-app'])).out).toBe('2.0-1');
    const clean = await inside(copy, ['dpkg', '--verify', 'native-app', 'native-lib']);
    expect(clean).toEqual({ exitCode: 0, out: '' });
    // --verify really reads the layered md5sums: a changed file is reported.
    writeFileSync(join(copy, 'usr/bin/native-app'), '#!/bin/sh\necho changed\n');
    expect((await inside(copy, ['dpkg', '--verify', 'native-app'])).out).toMatch(/^\?\?5\?{6} {3}\/usr\/bin\/native-app$/m);

    const apt = await inside(copy, ['apt', 'list', '--installed']);
    expect(apt.out).toMatch(/^native-app\/now 2\.0-1 amd64 \[installed,local\]$/m);
    expect(apt.out).toMatch(/^dpkg\/now /m);
    expect((await inside(copy, ['apt-cache', 'policy', 'native-app'])).out).toMatch(/Installed: 2\.0-1/);
    // Dependencies and recommendations are marked as apt marks them; the requested package is not.
    const auto = (await inside(copy, ['apt-mark', 'showauto'])).out.split('\n').filter(Boolean).sort();
    expect(auto).toEqual(['native-doc', 'native-lib']);

    const remove = await insideReadOnlyUsr(copy, 'dpkg -r native-app');
    expect(remove.exitCode).not.toBe(0);
    expect(remove.out).toMatch(/\/var\/lib\/dpkg: Read-only file system/);
    const mark = await insideReadOnlyUsr(copy, 'apt-mark manual native-lib');
    expect(mark.exitCode).not.toBe(0);
    expect(mark.out).toMatch(/Read-only file system/);

    // Uninstalling drops the removed package's mark and keeps the others and the link.
    const u = await cli(['uninstall', '--sysroot', s.sysroot, '--os', s.osName, 'native-doc']);
    expect(u.exitCode, u.stderr).toBe(0);
    const after = bootedCopy(s, 'deb-copy-2');
    await firstBoot(after);
    expect((await inside(after, ['apt-mark', 'showauto'])).out.trim()).toBe('native-lib');
    const gone = await inside(after, ['dpkg', '-l', 'native-doc']);
    // dpkg still knows the name from native-app's Recommends, as on any system after a purge: "un", not "ii".
    expect(gone.out).toMatch(/^un {2}native-doc +<none>/m);
    expect((await inside(after, ['dpkg', '-S', '/usr/bin/native-app'])).out.trim()).toBe('native-app: /usr/bin/native-app');
  }, 400_000); // two transactions, the base's Debian indexes fetched once, on a shared machine
});

describe('rpm and dnf on a layered rpm deployment', () => {
  it('list the layered rpm through the %_dbpath the deployment ships', async () => {
    const s = await newSysroot({ base: await ensureRpmBase() });
    const rpmFile = await buildRpm(work, { name: 'native-rpm', version: '1.0', files: [{ path: '/usr/share/native-rpm/x', content: 'x\n' }] });
    const r = await cli(['install', '--sysroot', s.sysroot, '--os', s.osName, rpmFile]);
    expect(r.exitCode, r.stderr).toBe(0);
    const copy = bootedCopy(s, 'rpm-copy');
    await firstBoot(copy);
    const macros = join(copy, 'usr/lib/rpm/macros.d');
    expect(existsSync(macros)).toBe(true);
    expect(readFileSync(join(macros, 'macros.ostree-layer'), 'utf8')).toMatch(/^%_dbpath \/usr\/lib\/sysimage\/rpm$/m);

    // The host's rpm defaults to ~/.rpmdb; given the deployment's macro files it finds the layered database.
    const qa = await execa('rpm', ['--root', copy, '--load', join(macros, 'macros.ostree-layer'), '-qa'], { reject: false });
    expect(qa.stdout.split('\n')).toContain('native-rpm-1.0-1.noarch');
    expect(qa.stdout.split('\n')).toContain('setup-2.14.3-2.noarch');
    // dnf asks rpm for the database path: the deployment's macros.d stands in for the host's in a private mount.
    const script = `mount --bind "$1/usr/lib/rpm/macros.d" /usr/lib/rpm/macros.d && dnf --installroot="$1" --releasever=1 -q list installed`;
    const dnf = await execa('unshare', ['-m', 'sh', '-c', script, 'sh', copy], { reject: false });
    expect(dnf.stdout, dnf.stderr).toMatch(/^native-rpm\.noarch +1\.0-1 +@System$/m);
    expect(dnf.stdout).toMatch(/^busybox\.x86_64 +1:1\.35\.0-1 +@System$/m);
  });
});
