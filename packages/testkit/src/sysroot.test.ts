import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEBIAN_MINBASE_REF,
  debianSourcesLine,
  deploymentOrigin,
  ensureDebianMinbase,
  makeOstreeReady,
  makeSysroot,
  mountsUnder,
  type BaseImage,
  type Sysroot,
} from './index.js';
import { isRoot } from './run.js';

const root = isRoot();
if (!root) console.warn('testkit sysroot tests skipped: they need root (ostree admin deploy, mmdebstrap)');

describe.skipIf(!root && !process.env.CI)('Debian minbase deployed into a throwaway sysroot', () => {
  let base: BaseImage;
  let sysroot: Sysroot;
  let deployment: string;

  beforeAll(async () => {
    const started = performance.now();
    base = await ensureDebianMinbase();
    console.log(`ensureDebianMinbase: ${Math.round(performance.now() - started)} ms`);
    sysroot = await makeSysroot({ base });
    console.log(`makeSysroot (minbase): ${Math.round(sysroot.setupMs)} ms`);
    deployment = sysroot.deploymentDir();
  });
  afterAll(() => sysroot?.dispose());

  it('records the recipe in the cached commit so a changed recipe rebuilds', async () => {
    const { stdout } = await execa('ostree', ['show', `--repo=${base.repo}`, '--print-metadata-key=testkit.recipe', base.ref]);
    expect(stdout.trim()).toMatch(/^'debian-minbase-\d+'$/);
    expect(base.ref).toBe(DEBIAN_MINBASE_REF);
  });

  it('returns the same commit from a second call without rebuilding', async () => {
    const again = await ensureDebianMinbase();
    expect(again.commit).toBe(base.commit);
  });

  it('has the commit with /etc moved to /usr/etc and the dpkg database under /usr', async () => {
    const ls = async (path: string) =>
      (await execa('ostree', ['ls', `--repo=${base.repo}`, base.ref, path], { reject: false })).exitCode === 0;
    expect(await ls('/usr/etc/passwd')).toBe(true);
    expect(await ls('/etc')).toBe(false);
    expect(await ls('/usr/lib/sysimage/dpkg/status')).toBe(true);
    expect(await ls('/var/lib/dpkg')).toBe(false);
    expect(await ls('/usr/lib/modules/6.1.0-stand-in/vmlinuz')).toBe(true);
  });

  it('deploys a tree whose dpkg database the real dpkg-query reads', async () => {
    expect(existsSync(join(deployment, 'usr/lib/sysimage/dpkg/status'))).toBe(true);
    const { stdout } = await execa('dpkg-query', [`--admindir=${join(deployment, 'usr/lib/sysimage/dpkg')}`, '-W', '-f', '${Package} ${db:Status-Abbrev}\\n']);
    const packages = stdout.trim().split('\n');
    expect(packages.length).toBeGreaterThan(50);
    expect(packages).toContain('dpkg ii ');
    expect(packages).toContain('apt ii ');
  });

  it('runs the deployment\'s own binaries in a chroot', async () => {
    const { stdout } = await execa('chroot', [deployment, '/usr/bin/dpkg', '--version']);
    expect(stdout).toMatch(/Debian 'dpkg' package management program version 1\.21\./);
  });

  it('gets /etc back on deploy, with the APT source of the base and os-release', () => {
    expect(readFileSync(join(deployment, 'etc/apt/sources.list'), 'utf8')).toBe(debianSourcesLine() + '\n');
    expect(readFileSync(join(deployment, 'etc/os-release'), 'utf8')).toMatch(/VERSION_CODENAME=bookworm/);
    expect(deploymentOrigin(deployment)).toBe(DEBIAN_MINBASE_REF);
  });

  it('keeps ownership and special modes through the cache and the deploy', async () => {
    const { stdout } = await execa('stat', ['-c', '%a %U:%G', join(deployment, 'usr/bin/passwd'), join(deployment, 'etc/shadow'), join(deployment, 'tmp')]);
    expect(stdout.split('\n')).toEqual(['4755 root:root', '640 root:shadow', '1777 root:root']);
  });

  it('follows a later deploy in deploymentDir()', async () => {
    await execa('ostree', ['admin', 'deploy', `--sysroot=${sysroot.sysroot}`, `--os=${sysroot.osName}`, sysroot.ref]);
    const all = sysroot.deployments();
    expect(all).toHaveLength(2);
    expect(sysroot.deploymentDir()).toBe(all[0]);
    expect(all[0]).toMatch(/\.1$/);
    expect(all[1]).toBe(deployment);
  });
});

describe.skipIf(!root && !process.env.CI)('makeSysroot from a tree on disk', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'testkit-tree-'));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('deploys an OSTree-ready tree and dispose() leaves nothing behind', async () => {
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'usr/lib'), { recursive: true });
    await mkdir(join(tree, 'etc'));
    await writeFile(join(tree, 'usr/lib/os-release'), 'ID=tiny\nNAME=tiny\n');
    await writeFile(join(tree, 'etc/marker.conf'), 'from etc\n');
    await makeOstreeReady(tree);
    expect(existsSync(join(tree, 'usr/etc/marker.conf'))).toBe(true);

    const dir = join(work, 'sysroot');
    const sysroot = await makeSysroot({ treeDir: tree, osName: 'tiny', dir });
    const deployment = sysroot.deploymentDir();
    expect(readFileSync(join(deployment, 'etc/marker.conf'), 'utf8')).toBe('from etc\n');
    expect((await execa('lsattr', ['-d', deployment])).stdout).toMatch(/^\S*i/);
    // A mount below the sysroot (as a test running a chroot might leave) must not stop dispose().
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', join(deployment, 'run')]);
    expect(await mountsUnder(dir)).toHaveLength(1);

    await sysroot.dispose();
    expect(existsSync(dir)).toBe(false);
    expect(await mountsUnder(dir)).toEqual([]);
  });

  it('refuses a directory that is not empty', async () => {
    const dir = join(work, 'busy');
    await mkdir(dir);
    await writeFile(join(dir, 'keep'), '');
    await expect(makeSysroot({ treeDir: join(work, 'tree'), dir })).rejects.toThrow(/is not empty/);
    expect(existsSync(join(dir, 'keep'))).toBe(true);
  });
});
