/**
 * Removing layered packages (root, real ostree, dpkg and rpm as judges): the new deployment is base + the layers that
 * stay, the databases say so, directory metadata survives the recompose, and refusals change nothing.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, buildRpm, ensureDebianMinbase, ensureRpmBase, type Sysroot } from '@ostree-layer/testkit';
import { cli, cliJson, systemSnapshot } from '../support/cli.js';
import { sysrootPool } from '../support/sysroots.js';

let work: string;
const newSysroot = sysrootPool();
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-uninstall-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const target = (s: Sysroot) => ['--sysroot', s.sysroot, '--os', s.osName];

describe('uninstall on a dpkg deployment', () => {
  it('removes one layered package, keeps the other with its directory metadata, then returns to the base', async () => {
    const s = await newSysroot({ base: await ensureDebianMinbase() });
    const DB = 'usr/lib/sysimage/dpkg';
    const gone = await buildDeb(join(work, 'gone'), {
      name: 'going-away',
      version: '1.0',
      multiArch: 'same',
      arch: 'amd64',
      files: [{ path: '/usr/share/going-away/file', content: 'bye\n' }, { path: '/etc/going-away.conf', content: 'x=1\n', conffile: true }],
    });
    const stay = await buildDeb(join(work, 'stay'), {
      name: 'staying',
      version: '2.0',
      files: [{ path: '/usr/share/staying', dir: true, mode: 0o750 }, { path: '/usr/share/staying/file', content: 'hi\n' }],
    });
    expect((await cli(['install', ...target(s), gone, stay])).exitCode).toBe(0);

    const before = await systemSnapshot(s.sysroot);
    const plan = await cliJson(['uninstall', '--dry-run', ...target(s), 'going-away']);
    expect(plan.remove.map((p: { name: string }) => p.name)).toEqual(['going-away']);
    expect(plan.keep.map((p: { name: string }) => p.name)).toEqual(['staying']);
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    const r = await cliJson(['uninstall', ...target(s), 'going-away']);
    expect(r.deployed).toBe(true);
    const dir = s.deploymentDir();
    expect(existsSync(join(dir, 'usr/share/going-away/file'))).toBe(false);
    expect(existsSync(join(dir, 'usr/etc/going-away.conf'))).toBe(false);
    expect(readFileSync(join(dir, 'usr/share/staying/file'), 'utf8')).toBe('hi\n');
    expect(statSync(join(dir, 'usr/share/staying')).mode & 0o7777).toBe(0o750);
    expect(statSync(join(dir, 'usr/share')).mode & 0o7777).toBe(0o755);
    const admindir = join(dir, DB);
    expect((await execa('dpkg-query', [`--admindir=${admindir}`, '-W', 'going-away'], { reject: false })).exitCode).not.toBe(0);
    expect((await execa('dpkg-query', [`--admindir=${admindir}`, '-W', 'staying'])).stdout).toBe('staying\t2.0');
    expect(existsSync(join(admindir, 'info/going-away:amd64.list'))).toBe(false);
    expect((await execa('dpkg', [`--admindir=${admindir}`, '--audit'])).stdout).toBe('');
    const status = await cliJson(['status', ...target(s)]);
    expect(status.deployments[0].baseCommit).toBe(s.commit);
    expect(status.deployments[0].layered.map((p: { name: string }) => p.name)).toEqual(['staying']);
    expect((await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false })).exitCode).toBe(0);

    // Installing it again reuses its cached layer (the record inside the layer matches a fresh listing).
    const again = await cliJson(['install', ...target(s), gone]);
    expect(again.install).toMatchObject([{ name: 'going-away', cached: true }]);
    expect(readFileSync(join(s.deploymentDir(), 'usr/share/going-away/file'), 'utf8')).toBe('bye\n');
    expect(JSON.parse(readFileSync(join(s.deploymentDir(), 'usr/lib/ostree-layer/layers/going-away_amd64.json'), 'utf8'))).toMatchObject({
      package: { name: 'going-away', version: '1.0', arch: 'amd64' },
    });
    expect((await cli(['uninstall', ...target(s), 'going-away'])).exitCode).toBe(0);

    // A base package cannot be removed; nothing changes.
    const snapshot = await systemSnapshot(s.sysroot);
    const baseRefused = await cli(['uninstall', ...target(s), 'dash']);
    expect(baseRefused.exitCode).toBe(7);
    expect(baseRefused.stderr).toMatch(/dash is part of the base/);
    expect(await systemSnapshot(s.sysroot)).toBe(snapshot);

    // The last layered package: the base commit itself is deployed again.
    expect((await cli(['uninstall', ...target(s), 'staying'])).exitCode).toBe(0);
    expect(s.deploymentDir()).toContain(`/${s.commit}.`);
    expect((await cliJson(['status', ...target(s)])).deployments[0].layered).toEqual([]);
  });

  it('refuses to recompose when a layer that stays is no longer cached, changing nothing', async () => {
    const s = await newSysroot({ base: await ensureDebianMinbase() });
    const a = await buildDeb(join(work, 'cache-a'), { name: 'cache-a', version: '1', files: [{ path: '/usr/share/cache-a', content: 'a' }] });
    const b = await buildDeb(join(work, 'cache-b'), { name: 'cache-b', version: '1', files: [{ path: '/usr/share/cache-b', content: 'b' }] });
    expect((await cli(['install', ...target(s), a, b])).exitCode).toBe(0);
    // Both refs that hold cache-b's layer go, and the prune takes the layer commit with them.
    const layerB = (await execa('ostree', [`--repo=${s.repo}`, 'rev-parse', 'ostree-layer/pkg/dpkg/cache-b/1/all'])).stdout.trim();
    await execa('ostree', [`--repo=${s.repo}`, 'refs', '--delete', 'ostree-layer/pkg/dpkg/cache-b/1/all', `ostree-layer/layer/${layerB}`]);
    await execa('ostree', [`--repo=${s.repo}`, 'prune', '--refs-only']);
    const before = await systemSnapshot(s.sysroot);
    const r = await cli(['uninstall', ...target(s), 'cache-a']);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/cached layer of cache-b 1/);
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });
});

describe('uninstall server side', () => {
  it('--commit-only recomposes the ref without the package', async () => {
    const base = await ensureDebianMinbase();
    const repo = join(work, 'fleet');
    await execa('ostree', ['init', `--repo=${repo}`, '--mode=bare-user']);
    await execa('ostree', ['pull-local', `--repo=${repo}`, base.repo, base.ref]);
    await execa('ostree', ['refs', `--repo=${repo}`, '--create=fleet/stable', base.ref]);
    const at = ['--commit-only', '--repo', repo, '--ref', 'fleet/stable'];
    const a = await buildDeb(join(work, 'fleet-a'), { name: 'fleet-a', version: '1', files: [{ path: '/usr/share/fleet-a', content: 'a' }] });
    const b = await buildDeb(join(work, 'fleet-b'), { name: 'fleet-b', version: '1', files: [{ path: '/usr/share/fleet-b', content: 'b' }] });
    expect((await cli(['install', ...at, a, b])).exitCode).toBe(0);
    const r = await cliJson(['uninstall', ...at, 'fleet-a']);
    const head = (await execa('ostree', ['rev-parse', `--repo=${repo}`, 'fleet/stable'])).stdout;
    expect(head).toBe(r.commit);
    const status = (await execa('ostree', ['cat', `--repo=${repo}`, head, '/usr/lib/sysimage/dpkg/status'])).stdout;
    expect(status).toMatch(/^Package: fleet-b$/m);
    expect(status).not.toMatch(/^Package: fleet-a$/m);
    expect((await execa('ostree', ['ls', `--repo=${repo}`, head, '/usr/share/fleet-a'], { reject: false })).exitCode).not.toBe(0);
  });
});

describe('uninstall on an rpm deployment', () => {
  it('removes one layered package; the real rpm agrees', async () => {
    const s = await newSysroot({ base: await ensureRpmBase() });
    const a = await buildRpm(join(work, 'rpm-a'), { name: 'rpm-going', version: '1', provides: ['going-cap'], files: [{ path: '/usr/share/rpm-going/x', content: 'x\n' }] });
    const b = await buildRpm(join(work, 'rpm-b'), { name: 'rpm-staying', version: '1', files: [{ path: '/usr/share/rpm-staying/y', content: 'y\n' }] });
    expect((await cli(['install', ...target(s), a, b])).exitCode).toBe(0);
    const r = await cli(['uninstall', ...target(s), 'rpm-going']);
    expect(r.exitCode, r.stderr).toBe(0);
    const dbpath = join(s.deploymentDir(), 'usr/lib/sysimage/rpm');
    const all = (await execa('rpm', ['--dbpath', dbpath, '-qa'])).stdout.split('\n');
    expect(all).toContain('rpm-staying-1-1.noarch');
    expect(all.some((n) => n.startsWith('rpm-going'))).toBe(false);
    expect((await execa('rpm', ['--dbpath', dbpath, '-q', '--whatprovides', 'going-cap'], { reject: false })).exitCode).not.toBe(0);
    expect((await execa('rpm', ['--dbpath', dbpath, '-qf', '/usr/share/rpm-staying/y'])).stdout).toBe('rpm-staying-1-1.noarch');
    expect(existsSync(join(s.deploymentDir(), 'usr/share/rpm-going/x'))).toBe(false);
  });
});
