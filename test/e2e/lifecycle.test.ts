/**
 * The layered system's lifecycle on real sysroots (root; Debian's archive for htop): requests kept apart from what
 * they pulled in, removals that would break a layered package refused, upgrade onto a new base commit of the origin
 * ref with newer packages from a signed repository, rollback, and uninstall on the rolled-back deployment (its base
 * commit survived the deploys). Judged by dpkg-query, dpkg --audit, rpm, chroot, ostree refs and ostree fsck.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, buildRpm, ensureDebianMinbase, ensureRpmBase, resolveCacheDir, type RpmSpec, type Sysroot } from '@ostree-layer/testkit';
import { cli, cliJson, systemSnapshot } from '../support/cli.js';
import { buildMirror, indexMirror, makeKey, type Keys } from './apt-mirror-kit.js';
import { makeRpmKey, publishRpmRepo } from './rpm-repo-kit.js';
import { sysrootPool } from '../support/sysroots.js';

const DB = 'usr/lib/sysimage/dpkg';
let work: string;
let key: Keys;
const newSysroot = sysrootPool();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-lifecycle-'));
  key = await makeKey(work, 'lifecycle');
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const target = (s: Sysroot) => ['--sysroot', s.sysroot, '--os', s.osName];
const names = (ps: Array<{ name: string }>) => ps.map((p) => p.name).sort();

const LIB = { name: 'hello-lib', version: '1.0-1', arch: 'amd64', multiArch: 'same' as const, files: [{ path: '/usr/lib/x86_64-linux-gnu/libhello.so.1', content: 'lib\n' }] };
const app = (version: string) => ({
  name: 'hello-app', version, arch: 'amd64', depends: 'hello-lib (>= 1.0)',
  files: [{ path: '/usr/bin/hello-app', content: `#!/bin/sh\necho hello-app ${version}\n`, mode: 0o755 }],
});
const EXTRA = { name: 'hello-extra', version: '1.0', depends: 'hello-lib', files: [{ path: '/usr/share/hello-extra/x', content: 'x\n' }] };

async function dpkgQuery(dir: string, ...args: string[]) {
  return execa('dpkg-query', [`--admindir=${join(dir, DB)}`, ...args], { reject: false });
}

/** Every package cache ref points at a layer some live deployment was composed from; the repo checks out. */
async function expectNoOrphans(s: Sysroot): Promise<void> {
  const used = new Set<string>();
  for (const dir of s.deployments()) {
    const statePath = join(dir, 'usr/lib/ostree-layer/state.json');
    if (!existsSync(statePath)) continue;
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    for (const p of state.packages) used.add(p.commit);
  }
  const refs = (await execa('ostree', [`--repo=${s.repo}`, 'refs', '--list', 'ostree-layer/pkg'])).stdout.split('\n').filter(Boolean);
  for (const ref of refs) {
    const commit = (await execa('ostree', [`--repo=${s.repo}`, 'rev-parse', ref])).stdout.trim();
    expect(used.has(commit), `${ref} is used by no deployment`).toBe(true);
  }
  expect((await execa('ostree', ['fsck', '--quiet', `--repo=${s.repo}`], { reject: false })).exitCode).toBe(0);
}

describe('lifecycle on a Debian deployment', () => {
  it('htop and a package from a signed repository: dependents kept, upgrade onto a new base, rollback, uninstall with autoremove', async () => {
    const s = await newSysroot({ base: await ensureDebianMinbase() });
    const mirror = await buildMirror(join(work, 'mirror'), { debs: [LIB, app('1.0-1'), EXTRA], key });
    const repo = ['--source', `deb [signed-by=${key.gpg}] file://${mirror} stable main`, '--cache-dir', join(resolveCacheDir(), 'ostree-layer')];

    const installed = await cliJson(['install', ...target(s), ...repo, 'htop', 'hello-app', 'hello-extra']);
    expect(installed.deployed).toBe(true);
    const layeredCommit = installed.commit as string;
    let status = await cliJson(['status', ...target(s)]);
    expect(status.deployments[0].requested.sort()).toEqual(['hello-app', 'hello-extra', 'htop']);
    const layered = status.deployments[0].layered.map((p: { name: string }) => p.name);
    expect(layered).toEqual(expect.arrayContaining(['htop', 'hello-lib', 'libnl-3-200']));

    // A library htop needs cannot go alone; nothing changes.
    const before = await systemSnapshot(s.sysroot);
    const refused = await cli(['uninstall', ...target(s), 'libnl-3-200']);
    expect(refused.exitCode).toBe(7);
    expect(refused.stderr).toMatch(/htop \S+ depends on libnl-3-200/);
    expect(await systemSnapshot(s.sysroot)).toBe(before);
    const cascade = await cliJson(['uninstall', '--dry-run', '--with-dependents', ...target(s), 'libnl-3-200']);
    expect(names(cascade.dependents.map((d: { package: { name: string } }) => d.package))).toContain('htop');
    expect(names(cascade.remove)).toEqual(expect.arrayContaining(['htop', 'libnl-3-200']));
    expect(names(cascade.keep)).toEqual(['hello-app', 'hello-extra', 'hello-lib']);
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    // The vendor publishes a new base on the origin ref (hello-lib and hello-extra are now part of it), and the
    // repository a newer hello-app.
    await buildDeb(join(mirror, 'pool/main'), app('1.1-1'));
    await indexMirror(mirror, { key });
    const vendor = ['--commit-only', '--repo', s.repo, '--ref', s.ref];
    const [libDeb, extraDeb] = [join(work, 'vendor-lib'), join(work, 'vendor-extra')];
    await cliJson(['install', ...vendor, await buildDeb(libDeb, LIB), await buildDeb(extraDeb, EXTRA)]);
    const newBase = (await execa('ostree', [`--repo=${s.repo}`, 'rev-parse', s.ref])).stdout.trim();

    const check = await cliJson(['upgrade', '--check', ...target(s), ...repo]);
    expect(check.newBase).toBe(newBase);
    expect(check.oldBase).toBe(s.commit);
    expect(check.layered.upgraded).toEqual([{ name: 'hello-app', arch: 'amd64', from: '1.0-1', to: '1.1-1' }]);
    expect(names(check.base.added)).toEqual(['hello-extra', 'hello-lib']);
    expect(check.droppedRequests.map((d: { request: { name: string } }) => d.request.name)).toEqual(['hello-extra']);
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    const upgraded = await cliJson(['upgrade', ...target(s), ...repo]);
    expect(upgraded.deployed).toBe(true);
    expect(upgraded.notes.join('\n')).toMatch(/hello-extra is part of the new base/);
    const newDir = s.deploymentDir();
    expect((await dpkgQuery(newDir, '-W', 'hello-app')).stdout).toBe('hello-app\t1.1-1');
    expect((await execa('chroot', [newDir, '/usr/bin/hello-app'])).stdout).toBe('hello-app 1.1-1');
    expect((await execa('chroot', [newDir, '/usr/bin/htop', '--version'])).stdout).toMatch(/^htop 3\./);
    expect((await execa('dpkg', [`--admindir=${join(newDir, DB)}`, '--audit'])).stdout).toBe('');
    status = await cliJson(['status', ...target(s)]);
    expect(status.deployments[0].baseCommit).toBe(newBase);
    expect(status.deployments[0].requested.sort()).toEqual(['hello-app', 'htop']);
    expect(names(status.deployments[0].layered)).not.toContain('hello-lib');

    // Rollback: the layered deployment on the old base boots next.
    const rolled = await cliJson(['rollback', ...target(s)]);
    expect(rolled.bootsNext.commit).toBe(layeredCommit);
    expect(s.deploymentDir()).toContain(`/${layeredCommit}.`);
    status = await cliJson(['status', ...target(s)]);
    expect(status.deployments[0]).toMatchObject({ commit: layeredCommit, bootsNext: true });
    expect(status.deployments[1]).toMatchObject({ commit: upgraded.commit, bootsNext: false });

    // Removing htop there works (its base commit is still in the repo) and takes the libraries only htop needed.
    const removed = await cliJson(['uninstall', ...target(s), 'htop']);
    expect(removed.deployed).toBe(true);
    expect(names(removed.autoremoved)).toEqual(expect.arrayContaining(['libnl-3-200', 'libnl-genl-3-200']));
    expect(names(removed.keep)).toEqual(['hello-app', 'hello-extra', 'hello-lib']);
    const after = s.deploymentDir();
    expect((await dpkgQuery(after, '-W', 'htop')).exitCode).not.toBe(0);
    expect((await dpkgQuery(after, '-W', 'libnl-3-200')).exitCode).not.toBe(0);
    expect((await dpkgQuery(after, '-W', 'hello-app')).stdout).toBe('hello-app\t1.0-1');
    expect(existsSync(join(after, 'usr/bin/htop'))).toBe(false);
    expect((await execa('dpkg', [`--admindir=${join(after, DB)}`, '--audit'])).stdout).toBe('');
    await expectNoOrphans(s);
  }, 600_000);

  it('a deployment made by a plain ostree admin upgrade gets its requests back; upgrade on the same base takes newer versions', async () => {
    const s = await newSysroot({ base: await ensureDebianMinbase() });
    const mirror = await buildMirror(join(work, 'mirror-plain'), { debs: [LIB, app('1.0-1')], key });
    const repo = ['--source', `deb [signed-by=${key.gpg}] file://${mirror} stable main`, '--cache-dir', join(work, 'cache-plain')];
    expect((await cli(['install', ...target(s), ...repo, 'hello-app'])).exitCode).toBe(0);
    expect((await cliJson(['upgrade', '--check', ...target(s), ...repo])).upToDate).toBe(true);

    const extra = join(work, 'marker');
    await mkdir(join(extra, 'usr/share'), { recursive: true });
    await writeFile(join(extra, 'usr/share/vendor-marker'), 'new base\n');
    await execa('ostree', [`--repo=${s.repo}`, 'commit', `--branch=${s.ref}`, `--tree=ref=${s.commit}`, `--tree=dir=${extra}`, '--subject=vendor update']);
    await execa('ostree', ['admin', 'upgrade', `--sysroot=${s.sysroot}`, `--os=${s.osName}`]);
    expect(existsSync(join(s.deploymentDir(), 'usr/bin/hello-app'))).toBe(false);
    const status = await cliJson(['status', ...target(s)]);
    expect(status.deployments[0].layered).toEqual([]);
    expect(status.deployments[0].layersDropped).toEqual(['hello-app']);
    expect((await cli(['status', ...target(s)])).stdout).toMatch(/layers dropped: deployed without hello-app/);

    const r = await cliJson(['upgrade', ...target(s), ...repo]);
    expect(r.layersRestored).toBe(true);
    const dir = s.deploymentDir();
    expect(readFileSync(join(dir, 'usr/share/vendor-marker'), 'utf8')).toBe('new base\n');
    expect((await execa('chroot', [dir, '/usr/bin/hello-app'])).stdout).toBe('hello-app 1.0-1');
    expect((await dpkgQuery(dir, '-W', 'hello-lib')).stdout).toBe('hello-lib:amd64\t1.0-1');

    // No new base, a newer version in the repository: upgrade still brings it in.
    await buildDeb(join(mirror, 'pool/main'), app('1.1-1'));
    await indexMirror(mirror, { key });
    const same = await cliJson(['upgrade', ...target(s), ...repo]);
    expect(same.newBase).toBe(same.oldBase);
    expect(same.layered.upgraded).toEqual([{ name: 'hello-app', arch: 'amd64', from: '1.0-1', to: '1.1-1' }]);
    expect((await execa('chroot', [s.deploymentDir(), '/usr/bin/hello-app'])).stdout).toBe('hello-app 1.1-1');
    await expectNoOrphans(s);
  }, 300_000);
});

const RPM_DB = '/usr/lib/sysimage/rpm';
const GREET_LIB: RpmSpec = { name: 'greetlib', version: '1.0', arch: 'x86_64', provides: ['libgreet.so.1()(64bit)'], files: [{ path: '/usr/lib64/libgreet.so.1', content: 'lib\n' }] };
const greet = (version: string): RpmSpec => ({
  name: 'greet', version, requires: ['libgreet.so.1()(64bit)', '/bin/sh'],
  files: [{ path: '/usr/bin/greet', content: `#!/bin/sh\necho greet ${version}\n`, mode: 0o755 }],
});

describe('lifecycle on an rpm deployment', () => {
  it('dependents kept, upgrade onto a new base with a newer package, rollback, uninstall with autoremove', async () => {
    const s = await newSysroot({ base: await ensureRpmBase() });
    const rpmKey = makeRpmKey(work, 'rpm-lifecycle');
    const built = join(work, 'rpms');
    const lib = await buildRpm(built, GREET_LIB);
    const repoDir = join(work, 'greet-repo');
    let repoFile = publishRpmRepo(repoDir, 'greet', [lib, await buildRpm(built, greet('1.0'))], rpmKey);
    const repo = () => ['--source', repoFile, '--cache-dir', join(work, 'rpm-cache')];
    const rpmQ = async (dir: string, ...args: string[]) => execa('rpm', ['--root', dir, '--dbpath', RPM_DB, ...args], { reject: false });

    const installed = await cliJson(['install', ...target(s), ...repo(), 'greet']);
    expect(names(installed.install)).toEqual(['greet', 'greetlib']);
    const before = await systemSnapshot(s.sysroot);
    const refused = await cli(['uninstall', ...target(s), 'greetlib']);
    expect(refused.exitCode).toBe(7);
    expect(refused.stderr).toMatch(/greet 1\.0-1 depends on libgreet\.so\.1\(\)\(64bit\)/);
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    repoFile = publishRpmRepo(repoDir, 'greet', [lib, await buildRpm(built, greet('2.0'))], rpmKey);
    const extra = join(work, 'rpm-marker');
    await mkdir(join(extra, 'usr/share'), { recursive: true });
    await writeFile(join(extra, 'usr/share/vendor-marker'), 'new rpm base\n');
    await execa('ostree', [`--repo=${s.repo}`, 'commit', `--branch=${s.ref}`, `--tree=ref=${s.commit}`, `--tree=dir=${extra}`, '--subject=vendor update']);

    const check = await cliJson(['upgrade', '--check', ...target(s), ...repo()]);
    expect(check.layered.upgraded).toEqual([{ name: 'greet', arch: 'noarch', from: '1.0-1', to: '2.0-1' }]);
    const upgraded = await cliJson(['upgrade', ...target(s), ...repo()]);
    const newDir = s.deploymentDir();
    expect(readFileSync(join(newDir, 'usr/share/vendor-marker'), 'utf8')).toBe('new rpm base\n');
    expect((await rpmQ(newDir, '-q', 'greet')).stdout).toBe('greet-2.0-1.noarch');
    expect((await rpmQ(newDir, '-q', 'greetlib')).stdout).toBe('greetlib-1.0-1.x86_64');
    expect((await execa('chroot', [newDir, '/usr/bin/greet'])).stdout).toBe('greet 2.0');

    // A request the repositories can no longer satisfy stops the upgrade with the reason; nothing changes.
    repoFile = publishRpmRepo(repoDir, 'greet', [lib], rpmKey);
    const unchanged = await systemSnapshot(s.sysroot);
    const stuck = await cli(['upgrade', ...target(s), ...repo()]);
    expect(stuck.exitCode).toBe(7);
    expect(stuck.stderr).toMatch(/greet/);
    expect(await systemSnapshot(s.sysroot)).toBe(unchanged);

    const rolled = await cliJson(['rollback', ...target(s)]);
    expect(rolled.bootsNext.commit).toBe(installed.commit);
    const status = await cliJson(['status', ...target(s)]);
    expect(status.deployments.map((d: { commit: string }) => d.commit)).toEqual([installed.commit, upgraded.commit]);

    const removed = await cliJson(['uninstall', ...target(s), 'greet']);
    expect(names(removed.remove)).toEqual(['greet', 'greetlib']);
    expect(names(removed.autoremoved)).toEqual(['greetlib']);
    const after = s.deploymentDir();
    expect(after).toContain(`/${s.commit}.`);
    expect((await rpmQ(after, '-q', 'greet')).exitCode).not.toBe(0);
    expect((await rpmQ(after, '-qa')).stdout).not.toMatch(/greetlib/);
    await expectNoOrphans(s);

    // cleanup: the upgraded deployment is gone, so are its base ref and the download only it was made from.
    const cleaned = await cliJson(['cleanup', '--sysroot', s.sysroot, '--cache-dir', join(work, 'rpm-cache')]);
    expect(cleaned.archivesRemoved.map((f: string) => f.split('/').pop())).toEqual(['greet-2.0-1.noarch.rpm']);
    const archives = readdirSync(join(work, 'rpm-cache/archives')).filter((f) => f.endsWith('.rpm')).sort();
    expect(archives).toEqual(['greet-1.0-1.noarch.rpm', 'greetlib-1.0-1.x86_64.rpm']);
    const baseRefs = (await execa('ostree', [`--repo=${s.repo}`, 'refs', '--list', 'ostree-layer/base'])).stdout.split('\n');
    expect(baseRefs).toEqual([`ostree-layer/base/${s.commit}`]);
    await expectNoOrphans(s);
  }, 300_000);

  it('upgrade pulls the new base from the origin remote', async () => {
    const s = await newSysroot({ base: await ensureRpmBase() });
    // The vendor's repository, served as a file:// remote of the sysroot's repo; the deployment follows vendor:REF.
    const vendor = join(work, 'vendor-repo');
    await execa('ostree', ['init', `--repo=${vendor}`, '--mode=archive']);
    await execa('ostree', ['pull-local', `--repo=${vendor}`, s.repo, s.ref]);
    await execa('ostree', ['remote', 'add', `--repo=${s.repo}`, '--no-gpg-verify', 'vendor', `file://${vendor}`]);
    await execa('ostree', ['pull', `--repo=${s.repo}`, 'vendor', s.ref]);
    await execa('ostree', ['admin', 'deploy', `--sysroot=${s.sysroot}`, `--os=${s.osName}`, `vendor:${s.ref}`]);
    const pkg = await buildRpm(join(work, 'remote-rpms'), { name: 'remote-tool', version: '1', files: [{ path: '/usr/share/remote-tool', content: 'r\n' }] });
    expect((await cli(['install', ...target(s), pkg])).exitCode).toBe(0);

    const extra = join(work, 'remote-marker');
    await mkdir(join(extra, 'usr/share'), { recursive: true });
    await writeFile(join(extra, 'usr/share/vendor-marker'), 'pulled\n');
    await execa('ostree', [`--repo=${vendor}`, 'commit', `--branch=${s.ref}`, `--tree=ref=${s.ref}`, `--tree=dir=${extra}`, '--subject=vendor update']);
    const published = (await execa('ostree', [`--repo=${vendor}`, 'rev-parse', s.ref])).stdout.trim();

    const r = await cliJson(['upgrade', ...target(s)]);
    expect(r.refspec).toBe(`vendor:${s.ref}`);
    expect(r.newBase).toBe(published);
    const dir = s.deploymentDir();
    expect(readFileSync(join(dir, 'usr/share/vendor-marker'), 'utf8')).toBe('pulled\n');
    expect(readFileSync(join(dir, 'usr/share/remote-tool'), 'utf8')).toBe('r\n');
    expect((await execa('rpm', ['--root', dir, '--dbpath', RPM_DB, '-q', 'remote-tool'])).stdout).toBe('remote-tool-1-1.noarch');
    await expectNoOrphans(s);
  }, 300_000);

  it('install of a package a request pulled in makes it a request of its own, so it outlives what pulled it in', async () => {
    const s = await newSysroot({ base: await ensureRpmBase() });
    const rpmKey = makeRpmKey(work, 'rpm-mark');
    const built = join(work, 'rpms-mark');
    const repoFile = publishRpmRepo(join(work, 'mark-repo'), 'mark', [await buildRpm(built, GREET_LIB), await buildRpm(built, greet('1.0'))], rpmKey);
    const repo = ['--source', repoFile, '--cache-dir', join(work, 'mark-cache')];
    expect((await cli(['install', ...target(s), ...repo, 'greet'])).exitCode).toBe(0);
    const marked = await cliJson(['install', ...target(s), ...repo, 'greetlib']);
    expect(marked.notes).toContain('greetlib set to manually installed');
    expect(marked.deployed).toBe(true);
    expect((await cliJson(['status', ...target(s)])).deployments[0].requested).toEqual(['greet', 'greetlib']);
    const removed = await cliJson(['uninstall', ...target(s), 'greet']);
    expect(names(removed.remove)).toEqual(['greet']);
    expect((await execa('rpm', ['--root', s.deploymentDir(), '--dbpath', RPM_DB, '-q', 'greetlib'])).stdout).toBe('greetlib-1.0-1.x86_64');
  }, 300_000);
});
