/**
 * `upgrade` and `rollback` proven by booting. On a boot disk with the bootable Debian base, the real CLI layers htop by
 * name; then the vendor publishes a new base on the deployment's origin ref (the old tree plus a marker file), and
 * `ostree-layer upgrade` composes htop onto it and deploys. qemu boots that deployment; then `ostree-layer rollback`
 * puts the htop-on-old-base deployment first and qemu boots again. Two boots in all: each costs 30–60 s on a quiet
 * machine and minutes on a loaded one.
 */
import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentOrigin, ensureBootableDebian, makeBootDisk, resolveCacheDir, type BootDisk, type BootReport } from '@ostree-layer/testkit';
import { cliJson } from '../support/cli.js';

const MARKER = 'usr/share/ostree-layer-test/base-v2';
const MARKER_TEXT = 'second base published on the origin ref\n';

const BOOT_COMMANDS = {
  marker: `cat /${MARKER}`,
  htopVersion: 'htop --version',
  dpkgHtop: "dpkg-query --admindir=/usr/lib/sysimage/dpkg -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' htop",
  // The deployment the kernel was pointed at (ostree= on the command line), resolved as ostree-prepare-root did.
  bootedCheckout: 'realpath "/sysroot$(sed -n "s/.*ostree=\\([^ ]*\\).*/\\1/p" /proc/cmdline)"',
} as const;
type BootCommand = keyof typeof BOOT_COMMANDS;

interface InstallJson {
  commit: string;
  deployed: boolean;
  install: Array<{ name: string; version: string }>;
}
interface UpgradeJson {
  oldBase: string;
  newBase: string;
  refspec?: string;
  commit?: string;
  deployed: boolean;
  upToDate: boolean;
}
interface DeploymentRef {
  osName: string;
  commit: string;
  serial: number;
}
interface RollbackJson {
  bootsNext: DeploymentRef;
  previousDefault: DeploymentRef;
}

let disk: BootDisk;
let work: string;
let layered: InstallJson;
let htopVersion: string;
let newBase: string;
let upgraded: UpgradeJson;
let upgradedBoot: BootReport<BootCommand>;

const target = () => ['--sysroot', disk.sysroot, '--os', disk.osName];
const cacheDir = () => ['--cache-dir', join(resolveCacheDir(), 'ostree-layer')];
const ostree = async (args: string[]) => (await execa('ostree', args)).stdout.trim();

/** The vendor's next base: the old tree plus the marker, committed on the origin ref in the disk's own repo. */
async function publishNewBase(ref: string, oldBase: string): Promise<string> {
  const overlay = join(work, 'base-v2');
  const markerPath = join(overlay, MARKER);
  await mkdir(join(markerPath, '..'), { recursive: true });
  await writeFile(markerPath, MARKER_TEXT, { mode: 0o644 });
  // Every directory of the overlay replaces the base's metadata for that directory (the root one included): give them
  // the base's 0755 whatever the umask, and check below that /, /usr and /usr/share came out unchanged.
  for (const dir of [overlay, join(overlay, 'usr'), join(overlay, 'usr/share'), join(overlay, 'usr/share/ostree-layer-test')]) {
    await chmod(dir, 0o755);
  }
  const repo = `--repo=${disk.repo}`;
  await ostree(['commit', repo, `--branch=${ref}`, `--tree=ref=${oldBase}`, `--tree=dir=${overlay}`,
    '--subject=Debian bookworm, bootable, second base (ostree-layer boot test)', '--add-metadata-string=version=bookworm-bootable-v2']);
  const commit = await ostree(['rev-parse', repo, ref]);
  for (const dir of ['/', '/usr', '/usr/share']) {
    const listing = async (rev: string) => ostree(['ls', repo, '-d', '-X', rev, dir]);
    const [before, after] = [await listing(oldBase), await listing(commit)];
    if (before !== after) throw new Error(`the new base changed ${dir}: ${before} became ${after}`);
  }
  return commit;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ostree-layer-upgrade-boot-'));
  disk = await makeBootDisk({ base: await ensureBootableDebian() });
}, 40 * 60_000);

afterAll(async () => {
  await disk?.dispose();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('after upgrade onto a new base, booted in qemu', () => {
  beforeAll(async () => {
    layered = await cliJson<InstallJson>(['install', ...target(), ...cacheDir(), 'htop']);
    if (!layered.deployed) throw new Error(`ostree-layer install htop did not deploy: ${JSON.stringify(layered)}`);
    htopVersion = layered.install.find((p) => p.name === 'htop')?.version ?? '';
    // The layered deployment keeps following the base's ref: that is what upgrade looks at.
    const originRef = deploymentOrigin(disk.deploymentDir());
    newBase = await publishNewBase(originRef, disk.commit);
    upgraded = await cliJson<UpgradeJson>(['upgrade', ...target(), ...cacheDir()]);
    if (!upgraded.deployed) throw new Error(`ostree-layer upgrade did not deploy: ${JSON.stringify(upgraded)}`);
    upgradedBoot = await disk.boot({ label: 'upgrade', commands: BOOT_COMMANDS });
  }, 60 * 60_000);

  it('upgrade took the new commit of the origin ref as its base', () => {
    expect(upgraded.oldBase).toBe(disk.commit);
    expect(upgraded.newBase).toBe(newBase);
    expect(upgraded.refspec).toBe(disk.ref);
    expect(upgraded.commit).not.toBe(layered.commit);
    expect(upgraded.commit).not.toBe(newBase);
  });

  it('boots the commit upgrade deployed', () => {
    const report = upgradedBoot;
    expect(report.booted?.commit, report.summary).toBe(upgraded.commit);
    expect(report.commands.bootedCheckout.stdout.trim(), report.summary).toMatch(
      new RegExp(`^/sysroot/ostree/deploy/${disk.osName}/deploy/${upgraded.commit}\\.\\d+$`),
    );
  });

  it('reaches systemd state "running" with no failed unit', () => {
    expect(upgradedBoot.failedUnits, upgradedBoot.summary).toEqual([]);
    expect(upgradedBoot.systemState, upgradedBoot.summary).toBe('running');
  });

  it('has the new base: its marker file is there', () => {
    const marker = upgradedBoot.commands.marker;
    expect(marker.exitCode, `${marker.stderr}\n${upgradedBoot.summary}`).toBe(0);
    expect(marker.stdout).toBe(MARKER_TEXT);
  });

  it('still runs the layered htop, installed in dpkg', () => {
    const htop = upgradedBoot.commands.htopVersion;
    expect(htop.exitCode, `${htop.stderr}\n${upgradedBoot.summary}`).toBe(0);
    expect(htop.stdout).toMatch(/^htop 3\./);
    const query = upgradedBoot.commands.dpkgHtop;
    expect(query.exitCode, `${query.stderr}\n${upgradedBoot.summary}`).toBe(0);
    expect(htopVersion).not.toBe('');
    expect(query.stdout.trim()).toBe(`htop ${htopVersion} ii`);
  });

  it('keeps htop on the old base as the rollback', () => {
    const status = upgradedBoot.ostreeAdminStatus;
    const rollbackLine = status.split('\n').find((l) => l.includes(`${disk.osName} ${layered.commit}.`));
    expect(rollbackLine, status).toMatch(/\(rollback\)/);
  });
});

describe('after rollback, booted in qemu again', () => {
  let rolled: RollbackJson;
  let report: BootReport<BootCommand>;

  beforeAll(async () => {
    if (!upgradedBoot) throw new Error('the upgrade boot did not happen: nothing to roll back from');
    rolled = await cliJson<RollbackJson>(['rollback', ...target()]);
    report = await disk.boot({ label: 'rollback', commands: BOOT_COMMANDS });
  }, 40 * 60_000);

  it('rollback named the htop-on-old-base deployment as the next boot', () => {
    expect(rolled.bootsNext.commit).toBe(layered.commit);
    expect(rolled.previousDefault.commit).toBe(upgraded.commit);
  });

  it('boots the previous deployment', () => {
    expect(report.booted, report.summary).toEqual(rolled.bootsNext);
    expect(report.commands.bootedCheckout.stdout.trim(), report.summary).toBe(
      `/sysroot/ostree/deploy/${disk.osName}/deploy/${layered.commit}.${rolled.bootsNext.serial}`,
    );
    const upgradedLine = report.ostreeAdminStatus.split('\n').find((l) => l.includes(`${disk.osName} ${upgraded.commit}.`));
    expect(upgradedLine, report.ostreeAdminStatus).toMatch(/\(rollback\)/);
  });

  it('reaches systemd state "running" with no failed unit', () => {
    expect(report.failedUnits, report.summary).toEqual([]);
    expect(report.systemState, report.summary).toBe('running');
  });

  it('is on the old base: the marker file is absent', () => {
    const marker = report.commands.marker;
    expect(marker.exitCode, report.summary).not.toBe(0);
    expect(marker.stderr).toMatch(/No such file or directory/);
  });

  it('runs htop, installed in dpkg', () => {
    const htop = report.commands.htopVersion;
    expect(htop.exitCode, `${htop.stderr}\n${report.summary}`).toBe(0);
    expect(htop.stdout).toMatch(/^htop 3\./);
    const query = report.commands.dpkgHtop;
    expect(query.exitCode, `${query.stderr}\n${report.summary}`).toBe(0);
    expect(query.stdout.trim()).toBe(`htop ${htopVersion} ii`);
  });
});
