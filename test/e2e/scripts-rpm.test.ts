/**
 * rpm maintainer scripts on a layered install, with the real CLI on the testkit's RPM deployment whose /etc/passwd
 * was modified locally: a package whose %pre adds a system user, whose %post makes a /var directory owned by it and
 * writes a config file, and whose %posttrans generates a cache. Judged by rpm (-qa, -V) on a copy of the new
 * deployment, by a simulated first boot (systemd-sysusers --root, systemd-tmpfiles --root --create) on that copy,
 * and by ostree fsck; a failing script and a Lua scriptlet without rpmlua are refused with nothing deployed.
 */
import { execa } from 'execa';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRpm, ensureRpmBase, type RpmBase, type Sysroot } from '@ostree-layer/testkit';
import { cli, cliJson, systemSnapshot } from '../support/cli.js';
import { sysrootPool } from '../support/sysroots.js';

const DB = '/usr/lib/sysimage/rpm';
const LOCAL_ADMIN = 'admin:x:1000:1000:local admin:/var/home/admin:/bin/sh';

/** %pre as a busybox base can run it (no useradd): the first free system id from 999 down, for user and group. */
const PRE = `uid=999
while grep -q "^[^:]*:[^:]*:$uid:" /etc/passwd || grep -q "^[^:]*:[^:]*:$uid:" /etc/group; do uid=$((uid - 1)); done
grep -q '^svcd:' /etc/group || echo "svcd:x:$uid:" >> /etc/group
grep -q '^svcd:' /etc/passwd || echo "svcd:x:$uid:$uid:svcd daemon:/var/lib/svcd:/sbin/nologin" >> /etc/passwd`;

let base: RpmBase;
let work: string;
const newSysroot = sysrootPool();

beforeAll(async () => {
  base = await ensureRpmBase();
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-rpm-scripts-'));
}, 300_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function sysroot(): Promise<Sysroot> {
  return newSysroot({ base });
}

/** A copy of a deployment to query and "boot": rpm and systemd tools then never open the repo's hardlinked files. */
async function copyOf(dir: string, name: string): Promise<string> {
  const copy = join(work, name);
  await execa('cp', ['-a', dir, copy]);
  return copy;
}

const rpm = (root: string, ...args: string[]) => execa('rpm', ['--root', root, '--dbpath', DB, ...args], { reject: false });

describe('rpm: %pre, %post and %posttrans run in the sandbox on a layered install', () => {
  it('leaves the user, its /var directory and the scripts\' files in place after a simulated first boot', async () => {
    const s = await sysroot();
    const oldDir = s.deploymentDir();
    // The admin changed /etc/passwd and /etc/group: OSTree's /etc merge will keep these files whole.
    appendFileSync(join(oldDir, 'etc/passwd'), `${LOCAL_ADMIN}\n`);
    appendFileSync(join(oldDir, 'etc/group'), 'admin:x:1000:\n');
    const svcd = await buildRpm(join(work, 'rpms'), {
      name: 'svcd', version: '1.0', requires: ['/bin/sh'],
      files: [
        { path: '/usr/bin/svcd', content: '#!/bin/sh\necho svcd\n', mode: 0o755 },
        { path: '/usr/lib/svcd', dir: true },
        // As Fedora packages ship their state directories: owned by the user their %pre adds.
        { path: '/var/lib/svcd-state', dir: true, user: 'svcd', group: 'svcd', mode: 0o700 },
      ],
      scripts: {
        pre: `${PRE}\ntest -e /run/ostree-booted && echo "from-pre" > /var/lib/rpm-state/svcd`,
        post: 'mkdir -p /var/lib/svcd && chown svcd:svcd /var/lib/svcd && chmod 0750 /var/lib/svcd\necho "listen=127.0.0.1 configured-by=post-$1" > /etc/svcd.conf',
        posttrans: 'echo "generated-by=posttrans-$1 $(cat /var/lib/rpm-state/svcd)" > /usr/lib/svcd/generated.cache\nrm /var/lib/rpm-state/svcd',
      },
      fileTriggers: [{ kind: 'transfiletriggerin', prefixes: ['/usr/bin'], body: 'grep -c . > /usr/lib/svcd/commands.count' }],
    });

    const result = await cliJson(['install', '--sysroot', s.sysroot, '--os', s.osName, svcd]);
    expect(result.deployed).toBe(true);
    expect(result.scripts).toEqual([
      { package: 'svcd', label: '%pre', exitCode: 0 },
      { package: 'svcd', label: '%post', exitCode: 0 },
      { package: 'svcd', label: '%posttrans', exitCode: 0 },
      { package: 'svcd', label: '%transfiletriggerin -- /usr/bin', exitCode: 0 },
    ]);
    expect(result.install[0].note).toBeUndefined();
    const newDir = s.deploymentDir();
    expect(newDir).not.toBe(oldDir);

    // The user the script chose is carried as sysusers.d, with its id.
    const sysusersDir = join(newDir, 'usr/lib/sysusers.d');
    const sysusers = readdirSync(sysusersDir).filter((n) => n.includes('ostree-layer-')).map((n) => readFileSync(join(sysusersDir, n), 'utf8')).join('');
    const uid = Number(/^u svcd (\d+):svcd /m.exec(sysusers)?.[1]);
    expect(uid).toBe(999);
    expect(sysusers).toMatch(/^g svcd 999$/m);
    // What the scripts wrote under /etc and /usr is in the tree; /etc through the 3-way merge.
    expect(readFileSync(join(newDir, 'etc/svcd.conf'), 'utf8')).toBe('listen=127.0.0.1 configured-by=post-1\n');
    // State left by %pre in /var/lib/rpm-state reached %posttrans, and the directory itself stays out of the tree.
    expect(readFileSync(join(newDir, 'usr/lib/svcd/generated.cache'), 'utf8')).toBe('generated-by=posttrans-1 from-pre\n');
    const tmpfilesDir = join(newDir, 'usr/lib/tmpfiles.d');
    for (const conf of readdirSync(tmpfilesDir)) expect(readFileSync(join(tmpfilesDir, conf), 'utf8')).not.toContain('rpm-state');
    // The trigger read every /usr/bin path of the database on stdin: busybox's and svcd's.
    const commands = (await rpm(await copyOf(newDir, 'counted'), '-qal')).stdout.split('\n').filter((p) => p.startsWith('/usr/bin/'));
    expect(commands).toContain('/usr/bin/svcd');
    expect(readFileSync(join(newDir, 'usr/lib/svcd/commands.count'), 'utf8')).toBe(`${commands.length}\n`);
    // The local passwd change won the merge, so the new user is not there yet: sysusers adds it at boot.
    const mergedPasswd = readFileSync(join(newDir, 'etc/passwd'), 'utf8');
    expect(mergedPasswd).toContain(LOCAL_ADMIN);
    expect(mergedPasswd).not.toMatch(/^svcd:/m);

    const booted = await copyOf(newDir, 'booted');
    expect((await execa('systemd-sysusers', ['--root', booted], { reject: false })).exitCode).toBe(0);
    expect((await execa('systemd-tmpfiles', ['--root', booted, '--create'], { reject: false })).exitCode).toBe(0);
    const passwd = readFileSync(join(booted, 'etc/passwd'), 'utf8');
    expect(passwd).toContain(LOCAL_ADMIN);
    expect(passwd).toMatch(/^svcd:x:999:999:/m);
    expect(readFileSync(join(booted, 'etc/group'), 'utf8')).toMatch(/^svcd:x:999:/m);
    const varDir = statSync(join(booted, 'var/lib/svcd'));
    expect({ dir: varDir.isDirectory(), uid: varDir.uid, gid: varDir.gid, mode: varDir.mode & 0o7777 }).toEqual({ dir: true, uid: 999, gid: 999, mode: 0o750 });
    const shipped = statSync(join(booted, 'var/lib/svcd-state'));
    expect({ uid: shipped.uid, gid: shipped.gid, mode: shipped.mode & 0o7777 }).toEqual({ uid: 999, gid: 999, mode: 0o700 });

    // rpm: the package is installed, its files verify, its dependencies are met.
    const qa = await rpm(booted, '-qa', '--qf', '%{NAME}\\n');
    expect(qa.stdout.split('\n')).toContain('svcd');
    const verify = await rpm(booted, '-V', '--nomtime', 'svcd');
    expect(verify.stdout + verify.stderr).toBe('');
    expect(verify.exitCode).toBe(0);

    // The old deployment is as it was; the repo is sound.
    expect(readFileSync(join(oldDir, 'etc/passwd'), 'utf8')).not.toContain('svcd');
    expect((await rpm(await copyOf(oldDir, 'old'), '-q', 'svcd')).exitCode).not.toBe(0);
    expect((await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false })).exitCode).toBe(0);
  });

  it('stops at a failing %post with exit 10, naming the package and showing its output; nothing is deployed', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const broken = await buildRpm(join(work, 'rpms'), {
      name: 'broken-post', version: '1', files: [{ path: '/usr/share/broken-post/x', content: 'x\n' }],
      scripts: { post: 'echo "cannot configure: missing thing" >&2\nexit 3' },
    });
    const r = await cli(['install', '--sysroot', s.sysroot, '--os', s.osName, broken]);
    expect(r.exitCode).toBe(10);
    expect(r.stderr).toMatch(/broken-post.*%post exited with status 3/);
    expect(r.stderr).toContain('cannot configure: missing thing');
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });

  it('refuses a Lua scriptlet on a tree without rpmlua before running anything; --no-scripts layers it unconfigured', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const lua = await buildRpm(join(work, 'rpms'), {
      name: 'luapost', version: '1', files: [{ path: '/usr/share/luapost/x', content: 'x\n' }],
      scripts: { pre: 'echo pre > /usr/share/pre-ran', post: { interpreter: '<lua>', body: 'print("hi")' } },
    });
    const r = await cli(['install', '--sysroot', s.sysroot, '--os', s.osName, lua]);
    expect(r.exitCode).toBe(10);
    expect(r.stderr).toContain('luapost-1-1.noarch %post is a Lua scriptlet and the tree has no /usr/bin/rpmlua');
    expect(r.stderr).toContain('--no-scripts');
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    const unconfigured = await cliJson(['install', '--sysroot', s.sysroot, '--os', s.osName, '--no-scripts', lua]);
    expect(unconfigured.deployed).toBe(true);
    expect(unconfigured.scripts).toEqual([]);
    expect(unconfigured.install[0].note).toMatch(/scriptlets were not run/);
  });
});
