/**
 * Install by name from Debian's archive, as the real bookworm minbase deployment configures it (its sources.list and
 * the archive keyring it ships): `install htop vim curl` resolves, downloads with verification, layers and deploys;
 * the binaries run in a chroot of the new deployment and dpkg's own checks pass on the written database.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDebianMinbase, makeSysroot, resolveCacheDir, type Sysroot } from '@ostree-layer/testkit';
import { cli } from '../support/cli.js';

const DB = 'usr/lib/sysimage/dpkg';
let s: Sysroot;

beforeAll(async () => {
  s = await makeSysroot({ base: await ensureDebianMinbase() });
});
afterAll(async () => {
  await s?.dispose();
});

describe('install by name from the archive the base is configured for', () => {
  it('layers htop vim curl with their dependencies; they run, and dpkg agrees', async () => {
    const oldDir = s.deploymentDir();
    const r = await cli(['install', '--json', '--sysroot', s.sysroot, '--os', s.osName, '--cache-dir', join(resolveCacheDir(), 'ostree-layer'), 'htop', 'vim', 'curl']);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.deployed).toBe(true);
    const names: string[] = result.install.map((p: { name: string }) => p.name);
    expect(names).toEqual(expect.arrayContaining(['htop', 'vim', 'curl', 'libcurl4']));

    const dir = s.deploymentDir();
    expect(dir).not.toBe(oldDir);
    expect((await execa('chroot', [dir, '/usr/bin/htop', '--version'])).stdout).toMatch(/^htop 3\./);
    // /usr/bin/vim is an alternatives link that vim's postinst makes in the sandbox.
    expect((await execa('chroot', [dir, '/usr/bin/vim', '--version'])).stdout).toMatch(/^VIM - Vi IMproved 9\./);
    expect((await execa('chroot', [dir, '/usr/bin/curl', '--version'])).stdout).toMatch(/^curl 7\./);

    const admindir = join(dir, DB);
    // Every package is configured: --audit lists nothing, and no package carries a note about scripts not run.
    const audit = await execa('dpkg', [`--admindir=${admindir}`, '--audit'], { reject: false });
    const audited = [...audit.stdout.matchAll(/^ (\S+?)(?::amd64)?\s/gm)].map((m) => m[1]).sort();
    const noted = result.install.filter((p: { note?: string }) => p.note?.includes('unpacked')).map((p: { name: string }) => p.name).sort();
    expect(audited).toEqual(noted);
    expect(audited).toEqual([]);
    expect(audited).not.toContain('htop');
    expect((await execa('dpkg', [`--admindir=${admindir}`, '-S', '/usr/bin/htop'])).stdout).toBe('htop: /usr/bin/htop');
    const listed = (await execa('dpkg-query', [`--admindir=${admindir}`, '-W', ...names])).stdout.split('\n');
    expect(listed).toHaveLength(names.length);
    const verify = await execa('dpkg', [`--root=${dir}`, `--admindir=${admindir}`, '--verify', ...names], { reject: false });
    // /var is created at boot from tmpfiles.d lines, so a deployment checked out on disk has it empty.
    const problems = (verify.stdout + verify.stderr).split('\n').filter((l) => l && !/^missing\s+\/var\//.test(l));
    expect(problems).toEqual([]);
  }, 600_000);
});
