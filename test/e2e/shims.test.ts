/**
 * The apt and dnf drop-ins (scripts/shims) driven as an admin types them, on real sysroots (root, real ostree): the
 * plan and the question, -y / --assume-no / an answer on stdin, the listing verbs, and the verbs that cannot work on
 * OSTree explaining themselves. The target comes from OSTREE_LAYER_SYSROOT / OSTREE_LAYER_OS, as on a sysroot on disk.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, buildRpm, ensureDebianMinbase, ensureRpmBase, type Sysroot } from '@ostree-layer/testkit';
import { systemSnapshot } from '../support/cli.js';
import { buildMirror, makeKey } from './apt-mirror-kit.js';
import { sysrootPool } from '../support/sysroots.js';

const SHIMS = join(import.meta.dirname, '../../scripts/shims');
let work: string;
const newSysroot = sysrootPool('all');

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-shims-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function shim(s: Sysroot, tool: string, args: string[], input?: string) {
  const env = { OSTREE_LAYER_SYSROOT: s.sysroot, OSTREE_LAYER_OS: s.osName, OSTREE_LAYER_CACHE_DIR: join(work, `cache-${s.osName}`) };
  return execa(join(SHIMS, tool), args, { reject: false, env, input: input ?? '', stripFinalNewline: false });
}

describe('apt drop-in', () => {
  it('--help and --version exit 0; an unknown verb or option is a usage error', async () => {
    const help = await execa(join(SHIMS, 'apt'), ['--help'], { reject: false });
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^ {2}install +layer packages/m);
    const version = await execa(join(SHIMS, 'apt-get'), ['--version'], { reject: false });
    expect(version.exitCode).toBe(0);
    expect(version.stdout).toMatch(/^apt-get \(ostree-layer \d+\.\d+\.\d+\)/);
    expect((await execa(join(SHIMS, 'apt'), ['frobnicate'], { reject: false })).exitCode).toBe(2);
    expect((await execa(join(SHIMS, 'apt'), ['install', '--frob', 'x'], { reject: false })).stderr).toMatch(/^E: --frob: option not supported/m);
  });

  it('asks before changing anything: "n" aborts; -y layers with auto marks; list, show, policy, search; remove asks too', async () => {
    const s = await newSysroot({ base: await ensureDebianMinbase() });
    const key = await makeKey(work, 'shims');
    const mirror = await buildMirror(join(work, 'mirror'), {
      key,
      debs: [
        { name: 'shim-lib', version: '1.0-1', arch: 'amd64', files: [{ path: '/usr/lib/shim-lib/x', content: 'lib\n' }] },
        { name: 'shim-app', version: '2.0-1', arch: 'amd64', depends: 'shim-lib', description: 'a shimmed app\nLong text about the app.', files: [{ path: '/usr/bin/shim-app', content: '#!/bin/sh\n', mode: 0o755 }] },
      ],
    });
    const source = ['--source', `deb [signed-by=${key.gpg}] file://${mirror} stable main`];
    const before = await systemSnapshot(s.sysroot);

    const no = await shim(s, 'apt', ['install', ...source, 'shim-app'], 'n\n');
    expect(no.stdout).toMatch(/The following additional packages will be installed:\n {2}shim-lib\n/);
    expect(no.stdout).toMatch(/The following NEW packages will be installed:\n {2}shim-lib shim-app\n/);
    expect(no.stdout).toMatch(/0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded\.\nNeed to get [\d.]+ [kM]?B of archives\./);
    expect(no.stdout).toMatch(/Do you want to continue\? \[Y\/n\] Abort\.\n$/);
    expect(no.exitCode).toBe(1);
    const assumeNo = await shim(s, 'apt-get', ['install', '--assume-no', ...source, 'shim-app']);
    expect(assumeNo.exitCode).toBe(1);
    const simulated = await shim(s, 'apt-get', ['-s', 'install', ...source, 'shim-app']);
    expect(simulated.exitCode, simulated.stderr).toBe(0);
    expect(simulated.stdout).toMatch(/^Inst shim-app \(2\.0-1 stable\/main \[amd64\]\)$/m);
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    const yes = await shim(s, 'apt-get', ['install', '-qy', ...source, 'shim-app']);
    expect(yes.exitCode, yes.stderr).toBe(0);
    expect(yes.stdout).toMatch(/boots next; reboot to use it/);
    expect(readFileSync(join(s.deploymentDir(), 'usr/bin/shim-app'), 'utf8')).toBe('#!/bin/sh\n');

    const list = await shim(s, 'apt', ['list', '--installed', 'shim-*']);
    expect(list.stdout).toMatch(/^shim-app\/now 2\.0-1 amd64 \[installed\]$/m);
    expect(list.stdout).toMatch(/^shim-lib\/now 1\.0-1 amd64 \[installed,automatic\]$/m);
    const show = await shim(s, 'apt', ['show', ...source, 'shim-app']);
    expect(show.stdout).toMatch(/^Description: a shimmed app\n Long text about the app\.$/m);
    expect(show.stdout).toMatch(/^APT-Manual-Installed: yes$/m);
    expect(show.stdout).toMatch(/^Installed: 2\.0-1 \(layered\)$/m);
    const policy = await shim(s, 'apt', ['policy', ...source, 'shim-app']);
    expect(policy.stdout).toMatch(/^shim-app:\n {2}Installed: 2\.0-1\n {2}Candidate: 2\.0-1\n/);
    expect(policy.stdout).toMatch(/^ \*\*\* 2\.0-1 500$/m);
    const search = await shim(s, 'apt', ['search', ...source, '^shim-(app|lib)$']);
    expect(search.stdout).toMatch(/^shim-app\/stable 2\.0-1 amd64 \[installed\]\n {2}a shimmed app$/m);
    expect(search.stdout).toMatch(/^shim-lib\/stable 1\.0-1 amd64 \[installed\]$/m);

    const keep = await systemSnapshot(s.sysroot);
    // Same base, same mirror: full-upgrade and autoremove find nothing to do; reinstall cannot work on OSTree.
    const upgrade = await shim(s, 'apt', ['full-upgrade', ...source]);
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    expect(upgrade.stdout).toMatch(/No upgrade available/);
    const autoremove = await shim(s, 'apt', ['autoremove', '-y']);
    expect(autoremove.exitCode, autoremove.stderr).toBe(0);
    expect(autoremove.stdout).toMatch(/0 to remove/);
    const reinstall = await shim(s, 'apt', ['reinstall', '-y', 'shim-app']);
    expect(reinstall.exitCode).toBe(2);
    expect(reinstall.stderr).toMatch(/^E: 'reinstall' is not available on an OSTree system: /m);
    const base = await shim(s, 'apt', ['remove', '-y', 'dash']);
    expect(base.exitCode).toBe(7);
    expect(base.stderr).toMatch(/dash is part of the base/);
    const declined = await shim(s, 'apt', ['remove', 'shim-app'], 'n\n');
    // shim-lib was pulled in for shim-app only: it goes along (ostree-layer's uninstall drops unneeded dependencies).
    expect(declined.stdout).toMatch(/The following packages will be REMOVED:\n {2}shim-lib shim-app\n0 upgraded, 0 newly installed, 2 to remove/);
    expect(declined.exitCode).toBe(1);
    expect(await systemSnapshot(s.sysroot)).toBe(keep);

    const remove = await shim(s, 'apt', ['remove', 'shim-app'], 'y\n');
    expect(remove.exitCode, remove.stderr).toBe(0);
    const q = await execa('dpkg-query', [`--admindir=${join(s.deploymentDir(), 'usr/lib/sysimage/dpkg')}`, '-W', 'shim-app'], { reject: false });
    expect(q.exitCode).not.toBe(0);
  }, 400_000);
});

describe('dnf drop-in', () => {
  it('shows the transaction table and asks "Is this ok [y/N]"; -y layers; list, info, repolist, provides, history', async () => {
    const s = await newSysroot({ base: await ensureRpmBase() });
    const repoDir = join(work, 'rpmrepo');
    await buildRpm(repoDir, { name: 'dnf-lib', version: '1.0', files: [{ path: '/usr/share/dnf-lib/x', content: 'x\n' }] });
    await buildRpm(repoDir, { name: 'dnf-app', version: '2.0', requires: ['dnf-lib'], summary: 'An app from the test repo', files: [{ path: '/usr/bin/dnf-app', content: 'app\n', mode: 0o755 }] });
    await execa('createrepo_c', ['--quiet', repoDir]);
    const repoFile = join(work, 'shim.repo');
    writeFileSync(repoFile, `[shimrepo]\nname=Shim test repository\nbaseurl=file://${repoDir}\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=0\n`);
    const source = ['--source', repoFile];
    const before = await systemSnapshot(s.sysroot);

    // dnf's default answer is no: an empty line aborts.
    const asked = await shim(s, 'dnf', ['install', ...source, 'dnf-app'], '\n');
    expect(asked.stdout).toMatch(/^Installing:\n dnf-app +noarch +2\.0-1 +shimrepo +\d+ k\n/m);
    expect(asked.stdout).toMatch(/^Installing dependencies:\n dnf-lib +noarch +1\.0-1 +shimrepo/m);
    expect(asked.stdout).toMatch(/^Install {2}2 Packages$/m);
    expect(asked.stdout).toMatch(/Is this ok \[y\/N\]: Operation aborted\.\n$/);
    expect(asked.exitCode).toBe(1);
    expect((await shim(s, 'dnf', ['install', '--assumeno', ...source, 'dnf-app'])).exitCode).toBe(1);
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    const yes = await shim(s, 'dnf', ['install', '-y', ...source, 'dnf-app']);
    expect(yes.exitCode, yes.stderr).toBe(0);
    expect(yes.stdout).toMatch(/Complete!\n$/);
    const q = await execa('rpm', ['--dbpath', join(s.deploymentDir(), 'usr/lib/sysimage/rpm'), '-q', 'dnf-app', 'dnf-lib']);
    expect(q.stdout).toBe('dnf-app-2.0-1.noarch\ndnf-lib-1.0-1.noarch');

    const list = await shim(s, 'dnf', ['list', 'installed', 'dnf-*']);
    expect(list.stdout).toMatch(/^dnf-app\.noarch +2\.0-1 +@ostree-layer$/m);
    const info = await shim(s, 'dnf', ['info', ...source, 'dnf-app']);
    expect(info.stdout).not.toContain('[object Object]');
    expect(info.stdout).toMatch(/^Installed Packages\nName +: dnf-app$/m);
    expect(info.stdout).toMatch(/^Summary +: An app from the test repo$/m);
    expect(info.stdout).toMatch(/^(Dependencies)? +: requires: dnf-lib$/m);
    expect((await shim(s, 'dnf', ['repolist', ...source])).stdout).toMatch(/^shimrepo +Shim test repository$/m);
    const check = await shim(s, 'dnf', ['check-update', ...source]);
    expect(check.exitCode).toBe(0);
    expect((await shim(s, 'dnf', ['provides', '/usr/bin/dnf-app'])).stdout).toMatch(/^dnf-app-2\.0-1\.noarch/m);
    expect((await shim(s, 'dnf', ['search', ...source, 'app'])).stdout).toMatch(/^dnf-app\.noarch : An app from the test repo$/m);
    expect((await shim(s, 'dnf', ['history'])).stdout).toMatch(/^1 +install dnf-app +Install$/m);

    const upgrade = await shim(s, 'dnf', ['upgrade', '-y', ...source]);
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    expect(upgrade.stdout).toMatch(/No upgrade available/);
    expect((await shim(s, 'dnf', ['downgrade', 'dnf-app'])).stderr).toMatch(/^Error: 'downgrade' is not available on an OSTree system/m);
    const help = await shim(s, 'dnf', ['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/^install +layer a package/m);
    expect((await shim(s, 'dnf', ['--version'])).exitCode).toBe(0);

    // dnf remove of the library takes what needs it along, as dnf does.
    const remove = await shim(s, 'dnf', ['remove', '-y', 'dnf-lib']);
    expect(remove.exitCode, remove.stderr).toBe(0);
    expect(remove.stdout).toMatch(/^Removing:\n dnf-(app|lib) .*\n dnf-(app|lib) /m);
    expect(s.deploymentDir()).toContain(`/${s.commit}.`);
    // dnf history undo last: the deployment before the removal boots next again.
    const undo = await shim(s, 'dnf', ['history', 'undo', 'last']);
    expect(undo.exitCode, undo.stderr).toBe(0);
    expect(s.deploymentDir()).not.toContain(`/${s.commit}.`);
  }, 300_000);
});
