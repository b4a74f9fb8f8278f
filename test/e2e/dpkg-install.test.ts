/**
 * End to end on a real Debian bookworm minbase deployment (mmdebstrap, needs root and Debian's archive): layer real
 * and hand-built .debs with the `ostree-layer` command and judge the result with dpkg, chroot and ostree fsck.
 */
import { execa } from 'execa';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptDownloadClosure, buildDeb, buildRawDataTarDeb, ensureDebianMinbase, type BaseImage, type Sysroot } from '@ostree-layer/testkit';
import { cli, cliJson, sha256File, systemSnapshot } from '../support/cli.js';
import { sysrootPool } from '../support/sysroots.js';

const DB = 'usr/lib/sysimage/dpkg';
let base: BaseImage;
let work: string;
const newSysroot = sysrootPool();

beforeAll(async () => {
  base = await ensureDebianMinbase();
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-e2e-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function sysroot(): Promise<Sysroot> {
  return newSysroot({ base });
}

function target(s: Sysroot): string[] {
  return ['--sysroot', s.sysroot, '--os', s.osName];
}

async function dpkg(args: string[]) {
  return execa('dpkg', args, { reject: false });
}

describe('layering real Debian packages', () => {
  it('layers htop and its missing dependencies; dpkg, chroot and ostree fsck agree', async () => {
    const s = await sysroot();
    const oldDir = s.deploymentDir();
    const oldStatus = sha256File(join(oldDir, DB, 'status'));
    const baseCount = (await execa('dpkg-query', [`--admindir=${join(oldDir, DB)}`, '-W'])).stdout.split('\n').length;
    const debs = await aptDownloadClosure(['htop'], join(oldDir, DB, 'status'), join(work, 'htop'));

    const result = await cliJson(['install', ...target(s), ...debs]);
    expect(result.deployed).toBe(true);
    expect(result.install.map((p: { name: string }) => p.name).sort()).toContain('htop');

    const newDir = s.deploymentDir();
    expect(newDir).not.toBe(oldDir);
    const admindir = join(newDir, DB);
    const version = await execa('chroot', [newDir, '/usr/bin/htop', '--version']);
    expect(version.stdout).toMatch(/^htop 3\./);

    const listed = (await execa('dpkg-query', [`--admindir=${admindir}`, '-W'])).stdout.split('\n');
    expect(listed.length).toBe(baseCount + debs.length);
    const audit = await dpkg([`--admindir=${admindir}`, '--audit']);
    expect(audit.exitCode).toBe(0);
    expect(audit.stdout).toBe('');
    expect((await dpkg([`--admindir=${admindir}`, '-S', '/usr/bin/htop'])).stdout).toBe('htop: /usr/bin/htop');
    const names = result.install.map((p: { name: string }) => p.name);
    const verify = await dpkg([`--root=${newDir}`, `--admindir=${admindir}`, '--verify', ...names]);
    expect(verify.stdout + verify.stderr).toBe('');
    expect(verify.exitCode).toBe(0);

    // The old deployment is untouched and still deployed as the rollback.
    expect(sha256File(join(oldDir, DB, 'status'))).toBe(oldStatus);
    expect(existsSync(join(oldDir, 'usr/bin/htop'))).toBe(false);
    expect(s.deployments()).toContain(oldDir);
    const fsck = await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false });
    expect(fsck.exitCode).toBe(0);

    const status = await cliJson(['status', ...target(s)]);
    expect(status.deployments[0].layered.map((p: { name: string }) => p.name).sort()).toEqual([...names].sort());
    expect(status.deployments[1].layered).toEqual([]);

    // Same request again: every package is reported as already there; nothing new is deployed.
    const again = await cliJson(['install', ...target(s), ...debs]);
    expect(again.install).toEqual([]);
    expect(again.alreadyInstalled).toHaveLength(debs.length);
  });

  it('resolves usrmerge paths: ./lib and ./bin land under /usr', async () => {
    const s = await sysroot();
    const deb = await buildDeb(work, {
      name: 'usrmerge-probe',
      version: '1.0',
      arch: 'amd64',
      files: [
        { path: '/lib/x86_64-linux-gnu/libprobe.so.1', content: 'not really a library\n' },
        { path: '/bin/probe', content: '#!/bin/sh\necho probe-ok\n', mode: 0o755 },
      ],
    });
    const r = await cli(['install', ...target(s), deb]);
    expect(r.exitCode, r.stderr).toBe(0);
    const dir = s.deploymentDir();
    expect(lstatSync(join(dir, 'lib')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(dir, 'bin')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'usr/lib/x86_64-linux-gnu/libprobe.so.1'), 'utf8')).toBe('not really a library\n');
    expect((await execa('chroot', [dir, '/bin/probe'])).stdout).toBe('probe-ok');
    const owner = await dpkg([`--admindir=${join(dir, DB)}`, '-S', '/bin/probe']);
    expect(owner.stdout).toBe('usrmerge-probe: /bin/probe');
  });

  it("keeps the base's metadata on an existing directory that a package ships as 0700 uid 5", async () => {
    const s = await sysroot();
    const deb = await buildRawDataTarDeb(work, {
      name: 'shady-dirs',
      version: '1.0',
      entries: [
        { name: './', type: 'directory', mode: 0o755 },
        { name: './usr/', type: 'directory', mode: 0o755 },
        { name: './usr/share/', type: 'directory', mode: 0o700, uid: 5, gid: 5, uname: 'games', gname: 'games' },
        { name: './usr/share/shady/', type: 'directory', mode: 0o750 },
        { name: './usr/share/shady/readme', content: 'hi\n' },
      ],
    });
    const r = await cli(['install', ...target(s), deb]);
    expect(r.exitCode, r.stderr).toBe(0);
    const share = statSync(join(s.deploymentDir(), 'usr/share'));
    expect(share.mode & 0o7777).toBe(0o755);
    expect([share.uid, share.gid]).toEqual([0, 0]);
    const root = statSync(s.deploymentDir());
    expect(root.mode & 0o7777).toBe(0o755);
    expect(statSync(join(s.deploymentDir(), 'usr/share/shady')).mode & 0o7777).toBe(0o750);
  });

  it('refuses to overwrite a base-owned file, names both packages, and allows it with Replaces', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const spec = {
      version: '1.0',
      arch: 'amd64',
      files: [{ path: '/usr/bin/savelog', content: '#!/bin/sh\necho impostor\n', mode: 0o755 }],
    };
    const bad = await buildDeb(join(work, 'bad'), { name: 'which-impostor', ...spec });
    const r = await cli(['install', ...target(s), bad]);
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/which-impostor 1\.0.*\/usr\/bin\/savelog.*debianutils/);
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    const good = await buildDeb(join(work, 'good'), { name: 'which-impostor', replaces: 'debianutils', ...spec });
    const ok = await cli(['install', ...target(s), good]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const dir = s.deploymentDir();
    expect(readFileSync(join(dir, 'usr/bin/savelog'), 'utf8')).toContain('impostor');
    const owner = await dpkg([`--admindir=${join(dir, DB)}`, '-S', '/usr/bin/savelog']);
    expect(owner.stdout).toBe('which-impostor: /usr/bin/savelog');
    const audit = await dpkg([`--admindir=${join(dir, DB)}`, '--audit']);
    expect(audit.stdout).toBe('');
  });

  it('puts conffiles in /usr/etc (seen as /etc after deploy) and /var directories in tmpfiles.d', async () => {
    const s = await sysroot();
    const deb = await buildDeb(work, {
      name: 'confy',
      version: '2.0-1',
      arch: 'all',
      files: [
        { path: '/etc/confy.conf', content: 'setting = 1\n', conffile: true },
        { path: '/var/lib/confy', dir: true, mode: 0o750 },
        { path: '/usr/share/confy/data', content: 'x\n' },
      ],
    });
    const r = await cli(['install', ...target(s), deb]);
    expect(r.exitCode, r.stderr).toBe(0);
    const dir = s.deploymentDir();
    expect(readFileSync(join(dir, 'usr/etc/confy.conf'), 'utf8')).toBe('setting = 1\n');
    expect(readFileSync(join(dir, 'etc/confy.conf'), 'utf8')).toBe('setting = 1\n');
    expect(existsSync(join(dir, 'var/lib/confy'))).toBe(false);
    const tmpfiles = readFileSync(join(dir, 'usr/lib/tmpfiles.d/ostree-layer-confy.conf'), 'utf8');
    expect(tmpfiles).toMatch(/^d \/var\/lib\/confy 0750 root root -$/m);
    const conffiles = await execa('dpkg-query', [`--admindir=${join(dir, DB)}`, '-W', '-f=${Conffiles}', 'confy']);
    expect(conffiles.stdout.trim()).toMatch(/^\/etc\/confy\.conf [0-9a-f]{32}$/);
  });
});

describe('what a layered install records and reports', () => {
  it('--dry-run changes nothing; with --no-scripts a postinst that did not run is recorded as unpacked and reported', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const deb = await buildDeb(join(work, 'scripted'), {
      name: 'scripted',
      version: '1.0',
      files: [
        { path: '/usr/share/scripted/data', content: 'd\n' },
        { path: '/boot/scripted.cfg', content: 'boot\n' },
        { path: '/var/lib/scripted/seed', content: 'seed\n' },
      ],
      scripts: { postinst: '#!/bin/sh\nexit 0\n' },
    });
    const plan = await cliJson(['install', '--dry-run', ...target(s), deb]);
    expect(plan.dryRun).toBe(true);
    expect(plan.install.map((p: { name: string; version: string }) => `${p.name}=${p.version}`)).toEqual(['scripted=1.0']);
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    const r = await cli(['install', '--no-scripts', ...target(s), deb]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/scripted 1\.0 \(all\) — .*postinst/);
    const dir = s.deploymentDir();
    const state = await execa('dpkg-query', [`--admindir=${join(dir, DB)}`, '-W', '-f=${Status}', 'scripted']);
    expect(state.stdout).toBe('install ok unpacked');
    expect(existsSync(join(dir, DB, 'info/scripted.postinst'))).toBe(true);
    // /boot is relocated; a regular file under /var ships in /usr/share/factory and is copied in at boot.
    expect(readFileSync(join(dir, 'usr/lib/ostree-boot/scripted.cfg'), 'utf8')).toBe('boot\n');
    expect(readFileSync(join(dir, 'usr/share/factory/var/lib/scripted/seed'), 'utf8')).toBe('seed\n');
    const tmpfiles = readFileSync(join(dir, 'usr/lib/tmpfiles.d/ostree-layer-scripted.conf'), 'utf8');
    expect(tmpfiles).toMatch(/^C \/var\/lib\/scripted\/seed - - - - \/usr\/share\/factory\/var\/lib\/scripted\/seed$/m);
  });

  it('layers onto an already layered deployment: both requests recorded, the base commit kept', async () => {
    const s = await sysroot();
    const first = await buildDeb(join(work, 'first'), { name: 'first-layer', version: '1', files: [{ path: '/usr/share/first/a', content: '1\n' }] });
    const second = await buildDeb(join(work, 'second'), { name: 'second-layer', version: '2', files: [{ path: '/usr/share/second/b', content: '2\n' }] });
    expect((await cli(['install', ...target(s), first])).exitCode).toBe(0);
    const again = await cliJson(['install', ...target(s), second]);
    expect(again.baseCommit).toBe(s.commit);
    const status = await cliJson(['status', ...target(s)]);
    expect(status.deployments[0].baseCommit).toBe(s.commit);
    expect(status.deployments[0].layered.map((p: { name: string }) => p.name)).toEqual(['first-layer', 'second-layer']);
    expect(status.deployments[0].requests).toEqual([['install', 'first-layer'], ['install', 'second-layer']]);
    const admindir = join(s.deploymentDir(), DB);
    const listed = await execa('dpkg-query', [`--admindir=${admindir}`, '-W', 'first-layer', 'second-layer']);
    expect(listed.stdout).toBe('first-layer\t1\nsecond-layer\t2');
    // A new version of a layered package is refused with its own reason, not as a change to the base.
    const newer = await buildDeb(join(work, 'newer'), { name: 'first-layer', version: '2', files: [{ path: '/usr/share/first/a', content: '2\n' }] });
    const refused = await cli(['install', ...target(s), newer]);
    expect(refused.exitCode).toBe(7);
    expect(refused.stderr).toMatch(/first-layer 1, which an earlier ostree-layer install layered/);
    const origin = readFileSync(`${s.deploymentDir()}.origin`, 'utf8');
    expect(origin).toContain(`\nrefspec=${base.ref}\n`);
    expect(origin).toMatch(/^base-commit=[0-9a-f]{64}$/m);
  });

  it('refuses a file owned by a user the base does not know, instead of making it root', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const deb = await buildRawDataTarDeb(join(work, 'stranger'), {
      name: 'stranger',
      version: '1.0',
      entries: [
        { name: './', type: 'directory' },
        { name: './usr/', type: 'directory' },
        { name: './usr/share/', type: 'directory' },
        { name: './usr/share/stranger', content: 'x\n', uid: 4242, gid: 4242, uname: 'nosuchuser', gname: 'nosuchgroup' },
      ],
    });
    const r = await cli(['install', ...target(s), deb]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/user "nosuchuser".*passwd/);
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });
});

describe('server-side compose', () => {
  it('--commit-only composes onto a ref in a bare repo and moves only that ref', async () => {
    const repo = join(work, 'fleet-repo');
    await execa('ostree', ['init', `--repo=${repo}`, '--mode=bare-user']);
    await execa('ostree', ['pull-local', `--repo=${repo}`, base.repo, base.ref]);
    await execa('ostree', ['refs', `--repo=${repo}`, '--create=fleet/stable', base.ref]);
    const deb = await buildDeb(join(work, 'fleet'), { name: 'fleet-tool', version: '0.3', arch: 'amd64', files: [{ path: '/usr/bin/fleet-tool', content: '#!/bin/sh\necho fleet\n', mode: 0o755 }] });

    const result = await cliJson(['install', '--commit-only', '--repo', repo, '--ref', 'fleet/stable', deb]);
    expect(result.deployed).toBe(false);
    const head = (await execa('ostree', ['rev-parse', `--repo=${repo}`, 'fleet/stable'])).stdout;
    expect(head).toBe(result.commit);
    expect((await execa('ostree', ['rev-parse', `--repo=${repo}`, base.ref])).stdout).toBe(base.commit);
    const meta = await execa('ostree', ['show', `--repo=${repo}`, '--print-metadata-key=ostree-layer.base-commit', head]);
    expect(meta.stdout).toBe(`'${base.commit}'`);

    // The composed tree, checked out, is judged by dpkg like a deployment.
    const checkout = join(work, 'fleet-checkout');
    await execa('ostree', ['checkout', `--repo=${repo}`, '-U', head, checkout]);
    const admindir = join(checkout, DB);
    expect((await dpkg([`--admindir=${admindir}`, '-S', '/usr/bin/fleet-tool'])).stdout).toBe('fleet-tool: /usr/bin/fleet-tool');
    expect((await dpkg([`--admindir=${admindir}`, '--audit'])).stdout).toBe('');
    const verify = await dpkg([`--root=${checkout}`, `--admindir=${admindir}`, '--verify', 'fleet-tool']);
    expect(verify.stdout).toBe('');
    expect(readdirSync(join(repo, 'tmp')).filter((f) => f.startsWith('ostree-layer-'))).toEqual([]);
  });
});

describe('failures leave the system as it was', () => {
  const hostile: Array<[string, Parameters<typeof buildRawDataTarDeb>[1]['entries'], RegExp]> = [
    ['a ../ member', [{ name: './', type: 'directory' }, { name: '../escape', content: 'x' }], /\.\./],
    ['an absolute member', [{ name: './', type: 'directory' }, { name: '/etc/evil', content: 'x' }], /absolute/],
    ['a hardlink outside the package', [{ name: './', type: 'directory' }, { name: './usr/', type: 'directory' }, { name: './usr/shadow', type: 'link', linkname: '../../etc/shadow' }], /\.\.|hardlink/],
    [
      'a file through a symlink of its own',
      [
        { name: './', type: 'directory' },
        { name: './usr/', type: 'directory' },
        { name: './usr/share/', type: 'directory' },
        { name: './usr/share/sneaky', type: 'symlink', linkname: '/etc' },
        { name: './usr/share/sneaky/passwd', content: 'root::0:0::/:/bin/sh\n' },
      ],
      /symlink/,
    ],
  ];

  it.each(hostile)('refuses %s with a clear error and changes nothing', async (what, entries, message) => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const deb = await buildRawDataTarDeb(join(work, what.replace(/\W+/g, '-')), { name: 'hostile', version: '1.0', entries });
    const r = await cli(['install', ...target(s), deb]);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(deb);
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });

  it('refuses a truncated .deb and one with a bad ar magic', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const good = await buildDeb(join(work, 'trunc'), { name: 'soon-truncated', version: '1.0', files: [{ path: '/usr/share/t/big', content: 'y'.repeat(200_000) }], compression: 'none' });
    const truncated = join(work, 'truncated.deb');
    await execa('head', ['-c', String(Math.floor(statSync(good).size / 2)), good], { stdout: { file: truncated } });
    const badMagic = join(work, 'bad-magic.deb');
    await execa('sh', ['-c', `printf '!<arcX>\\n' > ${badMagic}; tail -c +9 ${good} >> ${badMagic}`]);
    for (const file of [truncated, badMagic]) {
      const r = await cli(['install', ...target(s), file]);
      expect(r.exitCode, r.stderr).toBe(3);
      expect(r.stderr).toContain(file);
    }
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });

  it.each(['import', 'compose', 'deploy'])('survives SIGKILL during %s: refs, deployments and fsck clean, rerun succeeds', async (phase) => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const deb = await buildDeb(join(work, `kill-${phase}`), {
      name: 'killme',
      version: '1.0',
      files: [
        { path: '/usr/share/killme/a', content: 'a'.repeat(100_000) },
        { path: '/usr/share/killme/b', content: 'b\n' },
      ],
    });
    const child = execa('node', [join(import.meta.dirname, '../../packages/cli/dist/main.js'), 'install', ...target(s), deb], {
      env: { OSTREE_LAYER_FAULT_PAUSE: phase },
      reject: false,
    });
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes(`paused at ${phase}`)) resolve();
      });
      child.on('exit', () => reject(new Error(`exited before pausing at ${phase}`)));
    });
    child.kill('SIGKILL');
    await child;
    expect(await systemSnapshot(s.sysroot)).toBe(before);
    expect((await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false })).exitCode).toBe(0);
    // No scratch directory of ours is left in the sysroot. The lock file stays, like OSTree's own ostree/lock: only
    // a lock held on it means anything, and the kernel dropped that with the process.
    expect(readdirSync(join(s.sysroot, 'ostree')).filter((f) => f.includes('ostree-layer') && f !== 'ostree-layer.lock')).toEqual([]);
    expect(readdirSync(join(s.repo, 'tmp')).filter((f) => f.startsWith('ostree-layer-'))).toEqual([]);

    const rerun = await cli(['install', ...target(s), deb]);
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    expect(readFileSync(join(s.deploymentDir(), 'usr/share/killme/b'), 'utf8')).toBe('b\n');
  });

  it('refuses a second transaction on the same sysroot while one runs', async () => {
    const s = await sysroot();
    const deb = await buildDeb(join(work, 'lock'), { name: 'locky', version: '1.0', files: [{ path: '/usr/share/locky/a', content: 'a' }] });
    const first = execa('node', [join(import.meta.dirname, '../../packages/cli/dist/main.js'), 'install', ...target(s), deb], {
      env: { OSTREE_LAYER_FAULT_PAUSE: 'compose' },
      reject: false,
    });
    await new Promise<void>((resolve) => first.stderr!.on('data', (c: Buffer) => c.toString().includes('paused') && resolve()));
    const second = await cli(['install', ...target(s), deb]);
    expect(second.exitCode).toBe(6);
    expect(second.stderr).toMatch(new RegExp(`another ostree-layer transaction \\(pid ${first.pid}\\)`));
    first.kill('SIGKILL');
    await first;
  });

  it('works from the deployment a transaction made just before it took the lock, not from what it read first', async () => {
    // The lock helper starts while the target is read. A `perl` first in PATH deploys another commit at that very
    // moment (as a transaction ending then would), then runs the real helper: the install must compose onto it.
    const s = await sysroot();
    const marker = join(work, 'raced-tree');
    mkdirSync(join(marker, 'usr/share/raced'), { recursive: true });
    writeFileSync(join(marker, 'usr/share/raced/marker'), 'deployed meanwhile\n');
    const raced = (await execa('ostree', [`--repo=${s.repo}`, 'commit', '--orphan', `--tree=ref=${base.commit}`, `--tree=dir=${marker}`, '--owner-uid=0', '--owner-gid=0', '--no-xattrs'])).stdout.trim();
    const bin = join(work, 'raced-bin');
    mkdirSync(bin);
    const once = join(work, 'raced-done');
    writeFileSync(join(bin, 'perl'), `#!/bin/sh\nif [ ! -e ${once} ]; then touch ${once}; ostree admin deploy --sysroot=${s.sysroot} --os=${s.osName} ${raced} >/dev/null 2>&1 || exit 99; fi\nexec /usr/bin/perl "$@"\n`, { mode: 0o755 });
    const deb = await buildDeb(join(work, 'raced'), { name: 'racy', version: '1.0', files: [{ path: '/usr/share/racy/a', content: 'a' }] });

    const r = await cli(['install', ...target(s), deb], { PATH: `${bin}:${process.env.PATH}` });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(once), 'the racing deploy ran').toBe(true);
    const dir = s.deploymentDir();
    expect(readFileSync(join(dir, 'usr/share/racy/a'), 'utf8')).toBe('a');
    expect(readFileSync(join(dir, 'usr/share/raced/marker'), 'utf8')).toBe('deployed meanwhile\n');
  });
});
