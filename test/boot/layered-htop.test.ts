/**
 * Boots what ostree-layer made. A raw disk image holds a sysroot with one deployment of a bootable Debian bookworm;
 * the real CLI layers htop onto it by name from the image's own APT sources; qemu boots the new default deployment,
 * and the booted system answers the questions below over its serial console. One boot serves every assertion in this
 * file: to check one more thing in the booted system, add a command to BOOT_COMMANDS and an `it` reading its result.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBootableDebian, makeBootDisk, resolveCacheDir, type BootDisk, type BootReport } from '@ostree-layer/testkit';
import { cliJson } from '../support/cli.js';

const BOOT_COMMANDS = {
  htopVersion: 'htop --version',
  dpkgHtop: "dpkg-query --admindir=/usr/lib/sysimage/dpkg -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' htop",
  // The deployment the kernel was pointed at (ostree= on the command line), resolved as ostree-prepare-root did.
  bootedCheckout: 'realpath "/sysroot$(sed -n "s/.*ostree=\\([^ ]*\\).*/\\1/p" /proc/cmdline)"',
  usrOptions: 'findmnt --noheadings --output OPTIONS --target /usr',
  writeUsr: 'touch /usr/ostree-layer-write-test',
  // The unmodified dpkg and apt, with no options: /var/lib/dpkg links to the database at boot (tmpfiles.d).
  varLibDpkg: 'readlink /var/lib/dpkg',
  dpkgList: 'dpkg -l htop',
  dpkgSearch: 'dpkg -S /usr/bin/htop',
  aptInstalled: 'apt list --installed htop',
  aptPolicy: 'apt-cache policy htop',
  aptAuto: 'apt-mark showauto',
  dpkgRemove: 'dpkg -r htop',
  // openssh-server is configured by its maintainer scripts in the sandbox: its user, its enabled unit, its keys.
  sshActive: 'systemctl is-active ssh.service',
  sshdUser: 'getent passwd sshd',
  sshdConfig: '/usr/sbin/sshd -t',
  // The unmodified dpkg, without --admindir, sees the layered database.
  nativeDpkg: "dpkg-query -W -f '${Package} ${db:Status-Abbrev}\\n' htop openssh-server",
} as const;
type BootCommand = keyof typeof BOOT_COMMANDS;

interface InstallJson {
  commit: string;
  deployed: boolean;
  install: Array<{ name: string; version: string }>;
}

let disk: BootDisk;
let baseCommit: string;
let layered: InstallJson;
let report: BootReport<BootCommand>;

beforeAll(async () => {
  disk = await makeBootDisk({ base: await ensureBootableDebian() });
  baseCommit = disk.commit;
  layered = await cliJson<InstallJson>([
    'install', '--sysroot', disk.sysroot, '--os', disk.osName, '--cache-dir', join(resolveCacheDir(), 'ostree-layer'), 'htop', 'openssh-server',
  ]);
  if (!layered.deployed) throw new Error(`ostree-layer install htop did not deploy: ${JSON.stringify(layered)}`);
  report = await disk.boot({ label: 'layered-htop', commands: BOOT_COMMANDS });
}, 40 * 60_000);

afterAll(async () => {
  await disk?.dispose();
});

describe('a deployment with htop layered, booted in qemu', () => {
  it('boots the layered commit the CLI deployed', () => {
    expect(layered.commit).not.toBe(baseCommit);
    expect(report.booted?.commit, report.summary).toBe(layered.commit);
    expect(report.commands.bootedCheckout.stdout.trim(), report.summary).toMatch(
      new RegExp(`^/sysroot/ostree/deploy/${disk.osName}/deploy/${layered.commit}\\.\\d+$`),
    );
    expect(report.cmdline).toContain(report.entry.options);
  });

  // Strict on purpose: the bootable base reaches "running" with no failed unit (seen on every boot here, also under a
  // load of 15), so any failed unit is news, and its name is in the message with the serial log.
  it('reaches systemd state "running" with no failed unit', () => {
    expect(report.failedUnits, report.summary).toEqual([]);
    expect(report.systemState, report.summary).toBe('running');
  });

  it('runs the layered htop', () => {
    const htop = report.commands.htopVersion;
    expect(htop.exitCode, `${htop.stderr}\n${report.summary}`).toBe(0);
    expect(htop.stdout).toMatch(/^htop 3\./);
  });

  it('has htop in the dpkg database inside /usr, installed', () => {
    const version = layered.install.find((p) => p.name === 'htop')?.version;
    expect(version).toBeDefined();
    const query = report.commands.dpkgHtop;
    expect(query.exitCode, `${query.stderr}\n${report.summary}`).toBe(0);
    expect(query.stdout.trim()).toBe(`htop ${version} ii`);
  });

  it('lets the unmodified dpkg and apt see htop, with its dependencies marked automatic; dpkg -r fails on /usr', () => {
    const version = layered.install.find((p) => p.name === 'htop')!.version;
    const c = report.commands;
    expect(c.varLibDpkg.stdout.trim(), report.summary).toBe('/usr/lib/sysimage/dpkg');
    expect(c.dpkgList.stdout, c.dpkgList.stderr).toMatch(new RegExp(`^ii {2}htop +${version.replace(/[.+]/g, '\\$&')} +amd64`, 'm'));
    expect(c.dpkgSearch.stdout.trim()).toBe('htop: /usr/bin/htop');
    expect(c.aptInstalled.stdout).toMatch(new RegExp(`^htop/\\S+ ${version.replace(/[.+]/g, '\\$&')} amd64 \\[installed`, 'm'));
    expect(c.aptPolicy.stdout).toMatch(new RegExp(`Installed: ${version.replace(/[.+]/g, '\\$&')}`));
    const requested = ['htop', 'openssh-server'];
    const pulledIn = layered.install.map((p) => p.name).filter((n) => !requested.includes(n)).sort();
    expect(c.aptAuto.stdout.split('\n').filter(Boolean).sort()).toEqual(pulledIn);
    expect(c.dpkgRemove.exitCode).not.toBe(0);
    expect(c.dpkgRemove.stderr).toMatch(/Read-only file system/);
  });

  it('mounts /usr read-only', () => {
    expect(report.commands.usrOptions.stdout.split(',')[0], report.summary).toBe('ro');
    const write = report.commands.writeUsr;
    expect(write.exitCode, report.summary).not.toBe(0);
    expect(write.stderr).toMatch(/Read-only file system/);
  });

  it('keeps the base deployment as the rollback', () => {
    const lines = report.ostreeAdminStatus.split('\n');
    const baseLine = lines.find((l) => l.includes(`${disk.osName} ${baseCommit}.`));
    expect(baseLine, report.ostreeAdminStatus).toBeDefined();
    expect(baseLine).toMatch(/\(rollback\)/);
    expect(lines.filter((l) => /^[* ] \S+ [0-9a-f]{64}\.\d+/.test(l))).toHaveLength(2);
  });

  it('is mounted again after the boot, with the stateroot /var the booted system populated', () => {
    // Before its first boot the stateroot /var holds only the empty skeleton ostree makes: these came from the guest.
    const stateVar = join(disk.sysroot, 'ostree/deploy', disk.osName, 'var');
    expect(existsSync(join(stateVar, 'roothome')), report.summary).toBe(true);
    expect(existsSync(join(stateVar, 'log/journal')) || existsSync(join(stateVar, 'lib/systemd')), report.summary).toBe(true);
    expect(disk.deploymentDir()).toMatch(new RegExp(`/deploy/${layered.commit}\\.\\d+$`));
  });

  it('runs the layered openssh-server as its maintainer scripts configured it', () => {
    const active = report.commands.sshActive;
    expect(active.stdout.trim(), `${active.stderr}\n${report.summary}`).toBe('active');
    expect(report.commands.sshdUser.stdout, report.summary).toMatch(/^sshd:x:\d+:\d+:/);
    const config = report.commands.sshdConfig;
    expect(config.exitCode, `${config.stderr}\n${report.summary}`).toBe(0);
  });

  it('lets the unmodified dpkg-query see the layered packages', () => {
    const native = report.commands.nativeDpkg;
    expect(native.exitCode, `${native.stderr}\n${report.summary}`).toBe(0);
    // db:Status-Abbrev is three characters: want, state and error flag (a space when there is none).
    expect(native.stdout.trim().split('\n').map((l) => l.trim()).sort()).toEqual(['htop ii', 'openssh-server ii']);
  });
});
