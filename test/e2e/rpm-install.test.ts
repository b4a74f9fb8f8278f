/**
 * Install by name on the testkit's RPM-based OSTree deployment from a createrepo_c repository signed in set-up
 * (rpmsign for the packages, gpg --detach-sign for repomd.xml). The repository comes in as a `.repo` file on the
 * command line (the deployment is never edited). The result is judged by the real rpm 4.18 on the new deployment's
 * database, by running a layered program in a chroot, and spoiled repositories must be refused with nothing changed.
 */
import { execa, execaSync } from 'execa';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRpm, ensureRpmBase, type RpmBase, type RpmSpec, type Sysroot } from '@ostree-layer/testkit';
import { cli, cliJson, systemSnapshot } from '../support/cli.js';
import { sysrootPool } from '../support/sysroots.js';

const DB = '/usr/lib/sysimage/rpm';
const NEW = ['greet', 'greet-data', 'greet-doc', 'greet-helper', 'libgreet'];
let base: RpmBase;
let work: string;
let caches = 0;
const newSysroot = sysrootPool();

const SPECS: RpmSpec[] = [
  { name: 'libgreet', version: '1.0', arch: 'x86_64', provides: ['libgreet.so.1()(64bit)'], files: [{ path: '/usr/lib64/libgreet.so.1', content: 'greeting library\n', mode: 0o755 }] },
  { name: 'greet-helper', version: '1.1', requires: ['/bin/sh'], files: [{ path: '/usr/bin/greet-helper', content: '#!/bin/sh\necho helper-ok\n', mode: 0o755 }] },
  { name: 'greet-data', version: '1', files: [{ path: '/usr/share/greet/words', content: 'hello\n' }] },
  { name: 'greet-doc', version: '1', files: [{ path: '/usr/share/doc/greet/README', content: 'read me\n', doc: true }] },
  {
    name: 'greet', version: '2.0', arch: 'x86_64',
    requires: ['libgreet.so.1()(64bit)', '/usr/bin/greet-helper', '(greet-data or greet-words)', '/bin/sh'],
    recommends: ['greet-doc'],
    files: [{ path: '/usr/bin/greet', content: '#!/bin/sh\n/usr/bin/greet-helper\ncat /usr/share/greet/words\n', mode: 0o755 }],
  },
];

function gpg(home: string, ...args: string[]): string {
  return String(execaSync('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { stdin: 'ignore' }).stdout);
}

function makeKey(name: string): { home: string; file: string; email: string } {
  const home = join(work, `gnupg-${name}`);
  mkdirSync(home, { mode: 0o700 });
  const email = `${name}@example.org`;
  gpg(home, '--quick-gen-key', `${name} <${email}>`, 'rsa2048', 'sign', 'never');
  const file = join(work, `RPM-GPG-KEY-${name}`);
  writeFileSync(file, gpg(home, '--armor', '--export'));
  return { home, file, email };
}

function rpmsign(key: { home: string; email: string }, files: string[]): void {
  // Debian's rpm macros name /usr/bin/gpg2, which Debian 12 does not ship.
  execaSync('rpmsign', ['--define', `_gpg_name ${key.email}`, '--define', `_gpg_path ${key.home}`, '--define', '__gpg /usr/bin/gpg', '--addsign', ...files]);
}

/** A createrepo_c repository of `rpms` with repomd.xml signed by `key`, and the .repo file naming it. */
function makeRepo(name: string, rpms: string[], key: { home: string; file: string }): { dir: string; repoFile: string } {
  const dir = join(work, name);
  mkdirSync(dir);
  for (const rpm of rpms) cpSync(rpm, join(dir, rpm.slice(rpm.lastIndexOf('/') + 1)));
  execaSync('createrepo_c', ['--quiet', dir]);
  gpg(key.home, '--detach-sign', '--armor', '--output', join(dir, 'repodata/repomd.xml.asc'), join(dir, 'repodata/repomd.xml'));
  const repoFile = join(work, `${name}.repo`);
  writeFileSync(repoFile, `[${name}]\nname=Greet test repository\nbaseurl=file://${dir}\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=file://${key.file}\n`);
  return { dir, repoFile };
}

let good: { dir: string; repoFile: string };
let trusted: { home: string; file: string; email: string };
let rpms: string[];

beforeAll(async () => {
  base = await ensureRpmBase();
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-rpm-e2e-'));
  trusted = makeKey('trusted');
  rpms = [];
  for (const spec of SPECS) rpms.push(await buildRpm(join(work, 'rpms'), spec));
  rpmsign(trusted, rpms);
  good = makeRepo('greet', rpms, trusted);
}, 300_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function sysroot(): Promise<Sysroot> {
  return newSysroot({ base });
}

function installArgs(s: Sysroot, repoFile: string, ...names: string[]): string[] {
  return ['install', '--sysroot', s.sysroot, '--os', s.osName, '--source', repoFile, '--cache-dir', join(work, `cache-${++caches}`), ...names];
}

async function rpm(root: string, ...args: string[]) {
  return execa('rpm', ['--root', root, '--dbpath', DB, ...args], { reject: false });
}

describe('rpm: install by name from a signed createrepo_c repository', () => {
  it('resolves, downloads, verifies, layers and deploys; the real rpm and a chroot agree', async () => {
    const s = await sysroot();
    const oldDir = s.deploymentDir();
    const baseNames = (await rpm(oldDir, '-qa', '--qf', '%{NAME}\\n')).stdout.split('\n').sort();

    const args = installArgs(s, good.repoFile, 'greet');
    const result = await cliJson(args);
    expect(result.deployed).toBe(true);
    expect(result.install.map((p: { name: string }) => p.name).sort()).toEqual(NEW);
    const newDir = s.deploymentDir();
    expect(newDir).not.toBe(oldDir);
    // Every file dependency was answered by primary's file list or the deployment: filelists.xml was never fetched.
    const fetched = readdirSync(join(args[args.indexOf('--cache-dir') + 1], 'rpm/repodata'));
    expect(fetched.some((n) => n.includes('primary.xml'))).toBe(true);
    expect(fetched.some((n) => n.includes('filelists'))).toBe(false);

    const qa = await rpm(newDir, '-qa', '--qf', '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n');
    expect(qa.exitCode).toBe(0);
    expect(qa.stdout.split('\n').map((l) => l.replace(/-[^-]+-[^-]+$/, '')).sort()).toEqual([...baseNames, ...NEW].sort());
    expect((await rpm(newDir, '-qf', '/usr/bin/greet')).stdout).toBe('greet-2.0-1.x86_64');
    expect((await rpm(newDir, '-qf', '/usr/lib64/libgreet.so.1')).stdout).toBe('libgreet-1.0-1.x86_64');
    expect((await rpm(newDir, '-q', '--whatprovides', 'libgreet.so.1()(64bit)')).stdout).toBe('libgreet-1.0-1.x86_64');
    expect((await rpm(newDir, '-q', '--whatprovides', '/usr/bin/greet-helper')).stdout).toBe('greet-helper-1.1-1.noarch');
    expect((await rpm(newDir, '-q', '--whatrequires', 'libgreet.so.1()(64bit)')).stdout).toBe('greet-2.0-1.x86_64');
    expect((await rpm(newDir, '-q', '--whatrequires', '/bin/sh')).stdout.split('\n').sort()).toEqual(['greet-2.0-1.x86_64', 'greet-helper-1.1-1.noarch']);
    const info = await rpm(newDir, '-qi', 'greet');
    expect(info.stdout).toMatch(/^Name\s+: greet$/m);
    const fingerprint = /^fpr:+([0-9A-F]+):/m.exec(gpg(trusted.home, '--list-keys', '--with-colons'))![1];
    expect(info.stdout).toMatch(new RegExp(`^Signature\\s+: RSA/SHA\\d+, .*Key ID ${fingerprint.slice(-16).toLowerCase()}$`, 'm'));
    // Every dependency of the new packages is met inside the new database.
    const deps = await rpm(newDir, '-V', '--nofiles', ...NEW);
    expect(deps.stdout + deps.stderr).toBe('');
    // OSTree checkouts carry mtime 0 for every file (libostree normalises it), so -V compares everything else.
    const verify = await rpm(newDir, '-V', '--nomtime', ...NEW);
    expect(verify.stdout + verify.stderr).toBe('');
    expect(verify.exitCode).toBe(0);

    const run = await execa('chroot', [newDir, '/usr/bin/greet']);
    expect(run.stdout).toBe('helper-ok\nhello');
    // The old deployment is untouched: no greet, the old database.
    expect((await rpm(oldDir, '-q', 'greet')).exitCode).not.toBe(0);
    expect((await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false })).exitCode).toBe(0);
  });

  it('leaves Recommends out when asked, as dnf --setopt=install_weak_deps=False does', async () => {
    const s = await sysroot();
    const plan = await cliJson([...installArgs(s, good.repoFile, 'greet'), '--dry-run', '--no-install-recommends']);
    expect(plan.install.map((p: { name: string }) => p.name).sort()).toEqual(NEW.filter((n) => n !== 'greet-doc'));
  });

  it('refuses a package signed by a key the repository does not trust (gpgcheck=1); nothing changes', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const stranger = makeKey('stranger');
    const dir = join(work, 'badsig-rpms');
    mkdirSync(dir);
    const copies = rpms.map((r) => {
      const c = join(dir, r.slice(r.lastIndexOf('/') + 1));
      cpSync(r, c);
      return c;
    });
    rpmsign(stranger, copies.filter((c) => c.includes('/libgreet-')));
    const repo = makeRepo('badsig', copies, trusted);
    const r = await cli(installArgs(s, repo.repoFile, 'greet'));
    expect(r.exitCode).toBe(8);
    expect(r.stderr).toMatch(/libgreet.*does not verify against the trusted keys/);
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });

  it('refuses a tampered primary.xml and a repomd.xml whose signature does not verify; nothing changes', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);

    const tampered = makeRepo('tampered', rpms, trusted);
    const primary = readdirSync(join(tampered.dir, 'repodata')).find((n) => n.includes('primary.xml'))!;
    const bytes = readFileSync(join(tampered.dir, 'repodata', primary));
    bytes[bytes.length - 10] ^= 0x55;
    writeFileSync(join(tampered.dir, 'repodata', primary), bytes);
    const r1 = await cli(installArgs(s, tampered.repoFile, 'greet'));
    expect(r1.exitCode).toBe(8);
    expect(r1.stderr).toMatch(/primary\.xml.*repomd\.xml says/);

    const resigned = makeRepo('resigned', rpms, trusted);
    const md = join(resigned.dir, 'repodata/repomd.xml');
    writeFileSync(md, readFileSync(md, 'utf8').replace(/<revision>(\d+)/, '<revision>9$1'));
    const r2 = await cli(installArgs(s, resigned.repoFile, 'greet'));
    expect(r2.exitCode).toBe(8);
    expect(r2.stderr).toMatch(/repomd\.xml: signature by key [0-9a-f]+ does not verify/);

    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });
});

describe('package files with --key', () => {
  it('layers a file signed by the given key; refuses an unsigned one and one signed by another key, changing nothing', async () => {
    const s = await newSysroot({ base });
    const target = ['--sysroot', s.sysroot, '--os', s.osName];
    const signed = await buildRpm(join(work, 'keyed'), { name: 'keyed', version: '1.0', files: [{ path: '/usr/share/keyed/x', content: 'signed\n' }] });
    const unsigned = await buildRpm(join(work, 'keyed-unsigned'), { name: 'keyed-unsigned', version: '1.0', files: [{ path: '/usr/share/keyed-unsigned/x', content: 'x\n' }] });
    const stranger = makeKey('keyed-stranger');
    const foreign = await buildRpm(join(work, 'keyed-foreign'), { name: 'keyed-foreign', version: '1.0', files: [{ path: '/usr/share/keyed-foreign/x', content: 'x\n' }] });
    rpmsign(trusted, [signed]);
    rpmsign(stranger, [foreign]);

    const before = await systemSnapshot(s.sysroot);
    const noSig = await cli(['install', ...target, '--key', trusted.file, unsigned]);
    expect(noSig.exitCode).toBe(8);
    expect(noSig.stderr).toMatch(/no header signature/);
    const wrong = await cli(['install', ...target, '--key', trusted.file, foreign]);
    expect(wrong.exitCode).toBe(8);
    expect(wrong.stderr).toContain(foreign);
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    const ok = await cli(['install', ...target, '--key', trusted.file, signed]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const q = await execa('rpm', ['--dbpath', join(s.deploymentDir(), DB), '-q', 'keyed']);
    expect(q.stdout).toBe('keyed-1.0-1.noarch');
  });
});

describe('hostile .rpm files', () => {
  it('refuses a truncated package and a corrupted payload, changing nothing', async () => {
    const s = await newSysroot({ base });
    const target = ['--sysroot', s.sysroot, '--os', s.osName];
    const before = await systemSnapshot(s.sysroot);
    const whole = await buildRpm(join(work, 'hostile'), { name: 'soon-cut', version: '1', files: [{ path: '/usr/share/soon-cut/big', content: 'z'.repeat(300_000) }], compression: 'none' });
    const cut = join(work, 'hostile', 'cut.rpm');
    writeFileSync(cut, readFileSync(whole).subarray(0, Math.floor(readFileSync(whole).length * 0.6)));
    const files = [cut];
    // rpm's own corrupted-payload test package, when the shared fixtures are present.
    const corrupted = join(import.meta.dirname, '../../../shared/fixtures/rpm/rpm-upstream/RPMS/hello-2.0-1.x86_64-corrupted.rpm');
    if (existsSync(corrupted)) files.push(corrupted);
    else console.warn('skipped the corrupted fixture: ../shared/fixtures is absent');
    for (const file of files) {
      const r = await cli(['install', ...target, file]);
      expect(r.exitCode, r.stderr).toBe(3);
      expect(r.stderr).toContain(file);
    }
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });
});

