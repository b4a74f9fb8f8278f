/**
 * The apt and dnf drop-ins (scripts/shims): an admin's usual commands become ostree-layer transactions on real
 * sysroots (root, real ostree), and the verbs that cannot work on OSTree explain themselves.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, buildRpm, ensureDebianMinbase, ensureRpmBase, makeSysroot, type Sysroot } from '@ostree-layer/testkit';
import { systemSnapshot } from '../support/cli.js';

const SHIMS = join(import.meta.dirname, '../../scripts/shims');
let work: string;
const sysroots: Sysroot[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-shims-'));
});
afterAll(async () => {
  for (const s of sysroots) await s.dispose();
  await rm(work, { recursive: true, force: true });
});

describe('apt drop-in', () => {
  it('apt install -y FILE layers it; full-upgrade and autoremove map to ostree-layer; apt remove takes it off again; base packages are refused', async () => {
    const s = await makeSysroot({ base: await ensureDebianMinbase() });
    sysroots.push(s);
    const deb = await buildDeb(work, { name: 'shimmed', version: '1.0', files: [{ path: '/usr/share/shimmed/x', content: 'via apt\n' }] });
    const target = ['--sysroot', s.sysroot, '--os', s.osName];

    const dry = await execa(join(SHIMS, 'apt'), ['install', '-s', ...target, deb], { reject: false });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/would be layered/);

    const r = await execa(join(SHIMS, 'apt-get'), ['install', '-y', '--no-install-recommends', ...target, deb], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(readFileSync(join(s.deploymentDir(), 'usr/share/shimmed/x'), 'utf8')).toBe('via apt\n');

    const before = await systemSnapshot(s.sysroot);
    // Same base, same package file: full-upgrade and autoremove find nothing to do.
    const upgrade = await execa(join(SHIMS, 'apt'), ['full-upgrade', '-y', ...target], { reject: false });
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    expect(upgrade.stdout).toMatch(/No upgrade available/);
    const autoremove = await execa(join(SHIMS, 'apt'), ['autoremove', '-y', ...target], { reject: false });
    expect(autoremove.exitCode, autoremove.stderr).toBe(0);
    expect(autoremove.stdout).toMatch(/Nothing to remove/);
    const reinstall = await execa(join(SHIMS, 'apt'), ['reinstall', '-y', 'shimmed', ...target], { reject: false });
    expect(reinstall.exitCode).toBe(2);
    const base = await execa(join(SHIMS, 'apt'), ['remove', '-y', 'dash', ...target], { reject: false });
    expect(base.exitCode).toBe(7);
    expect(base.stderr).toMatch(/dash is part of the base/);
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    // apt remove of the only layered package deploys the base commit itself again.
    const remove = await execa(join(SHIMS, 'apt'), ['remove', '-y', 'shimmed', ...target], { reject: false });
    expect(remove.exitCode, remove.stderr).toBe(0);
    expect(s.deploymentDir()).toContain(`/${s.commit}.`);
    const q = await execa('dpkg-query', [`--admindir=${join(s.deploymentDir(), 'usr/lib/sysimage/dpkg')}`, '-W', 'shimmed'], { reject: false });
    expect(q.exitCode).not.toBe(0);
  });
});

describe('dnf drop-in', () => {
  it('dnf install -y FILE layers it onto an rpm base; the real rpm sees it; upgrade and history undo last map to ostree-layer', async () => {
    const s = await makeSysroot({ base: await ensureRpmBase() });
    sysroots.push(s);
    const rpmFile = await buildRpm(work, { name: 'shimmed-rpm', version: '1.0', files: [{ path: '/usr/share/shimmed-rpm/x', content: 'via dnf\n' }] });
    const r = await execa(join(SHIMS, 'dnf'), ['install', '-y', '--setopt=install_weak_deps=False', '--sysroot', s.sysroot, '--os', s.osName, rpmFile], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const q = await execa('rpm', ['--dbpath', join(s.deploymentDir(), 'usr/lib/sysimage/rpm'), '-qf', '/usr/share/shimmed-rpm/x']);
    expect(q.stdout).toBe('shimmed-rpm-1.0-1.noarch');
    const target = ['--sysroot', s.sysroot, '--os', s.osName];
    const upgrade = await execa(join(SHIMS, 'dnf'), ['upgrade', '-y', ...target], { reject: false });
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    expect(upgrade.stdout).toMatch(/No upgrade available/);
    // dnf history undo last: the deployment before the install boots next.
    const undo = await execa(join(SHIMS, 'dnf'), ['history', 'undo', 'last', ...target], { reject: false });
    expect(undo.exitCode, undo.stderr).toBe(0);
    expect(s.deploymentDir()).toContain(`/${s.commit}.`);
  });
});
