/**
 * Maintainer scripts on a real Debian bookworm minbase deployment (needs root and Debian's archive): packages end
 * configured as `apt-get install` leaves them, judged by dpkg, a simulated first boot (systemd-sysusers and
 * systemd-tmpfiles with --root on a copy of the new deployment) and chroots; the sandbox keeps scripts away from the
 * host and the network; a failing script deploys nothing.
 */
import { execa } from 'execa';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, ensureDebianMinbase, resolveCacheDir, type BaseImage, type Sysroot } from '@ostree-layer/testkit';
import { CLI, cli, sha256File, systemSnapshot } from '../support/cli.js';
import { sysrootPool } from '../support/sysroots.js';

const DB = 'usr/lib/sysimage/dpkg';
let base: BaseImage;
let work: string;
const newSysroot = sysrootPool();

beforeAll(async () => {
  base = await ensureDebianMinbase();
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-scripts-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function sysroot(): Promise<Sysroot> {
  return newSysroot({ base });
}

const target = (s: Sysroot) => ['--sysroot', s.sysroot, '--os', s.osName];

/** What the host's own accounts and root's home look like: a sandboxed script must change none of it. */
function hostFingerprint(): string {
  const files = ['/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow'].map((f) => `${f} ${existsSync(f) ? sha256File(f) : '-'}`);
  return [...files, `root: ${readdirSync('/root').sort().join(' ')}`].join('\n');
}

/** A copy of a deployment that systemd's own tools bring to the state its first boot would (users, then /var). */
async function firstBootCopy(deployment: string): Promise<string> {
  const copy = join(work, `boot-${Date.now()}`);
  await execa('cp', ['-a', deployment, copy]);
  await execa('systemd-sysusers', [`--root=${copy}`]);
  // tmpfiles reports lines it cannot apply in a chroot-less copy (e.g. /proc bits) with a non-zero status; what
  // matters is what it created, which the assertions check.
  await execa('systemd-tmpfiles', [`--root=${copy}`, '--create'], { reject: false });
  return copy;
}

describe('maintainer scripts run in the sandbox', () => {
  it('openssh-server, ca-certificates and vim end configured; users survive a locally modified /etc/passwd', async () => {
    const s = await sysroot();
    const oldDir = s.deploymentDir();
    // The admin added a user locally: OSTree's /etc merge now keeps this passwd whole in every new deployment.
    appendFileSync(join(oldDir, 'etc/passwd'), 'localadmin:x:1000:1000:Local Admin:/var/home/localadmin:/bin/sh\n');
    const oldStatus = sha256File(join(oldDir, DB, 'status'));
    const oldPasswd = sha256File(join(oldDir, 'usr/etc/passwd'));
    const host = hostFingerprint();

    const cacheDir = join(resolveCacheDir(), 'ostree-layer');
    const r = await cli(['install', '--json', ...target(s), '--cache-dir', cacheDir, 'openssh-server', 'ca-certificates', 'vim']);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.deployed).toBe(true);
    expect(result.scripts.length).toBeGreaterThan(0);
    expect(result.install.filter((p: { note?: string }) => p.note)).toEqual([]);

    const dir = s.deploymentDir();
    const admindir = join(dir, DB);
    const states = (await execa('dpkg-query', [`--admindir=${admindir}`, '-W', '-f=${db:Status-Abbrev} ${Package}\n'])).stdout.split('\n');
    expect(states.filter((l) => !l.startsWith('ii '))).toEqual([]);
    expect(states.length).toBeGreaterThan(result.install.length);
    const audit = await execa('dpkg', [`--admindir=${admindir}`, '--audit'], { reject: false });
    expect(audit.stdout + audit.stderr).toBe('');
    expect(audit.exitCode).toBe(0);

    const booted = await firstBootCopy(dir);
    const sshd = await execa('chroot', [booted, 'getent', 'passwd', 'sshd'], { reject: false });
    expect(sshd.stdout).toMatch(/^sshd:x:\d+:\d+:/);
    expect(readFileSync(join(booted, 'etc/passwd'), 'utf8')).toMatch(/^localadmin:x:1000:/m);
    // The merge kept the local passwd, so sshd is there because sysusers recreated it from the layer, with its id.
    expect(readFileSync(join(dir, 'etc/passwd'), 'utf8')).not.toMatch(/^sshd:/m);
    const layeredId = /^sshd:x:(\d+):/m.exec(readFileSync(join(dir, 'usr/etc/passwd'), 'utf8'))?.[1];
    expect(sshd.stdout.split(':')[2]).toBe(layeredId);

    expect(readFileSync(join(booted, 'etc/ssh/sshd_config'), 'utf8')).toMatch(/^Include \/etc\/ssh\/sshd_config\.d\/\*\.conf$/m);
    expect(readlinkSync(join(booted, 'etc/systemd/system/multi-user.target.wants/ssh.service'))).toMatch(/ssh\.service$/);
    const bundle = readFileSync(join(booted, 'etc/ssl/certs/ca-certificates.crt'), 'utf8');
    expect(bundle.match(/BEGIN CERTIFICATE/g)!.length).toBeGreaterThan(100);
    expect((await execa('chroot', [booted, 'readlink', '-f', '/usr/bin/vim'])).stdout).toBe('/usr/bin/vim.basic');
    expect((await execa('chroot', [booted, 'vim', '--version'])).stdout).toMatch(/^VIM - Vi IMproved 9\./);
    // What scripts left under /var (ucf's registry) is back after the simulated boot.
    expect(readFileSync(join(booted, 'var/lib/ucf/registry'), 'utf8')).toMatch(/\/etc\/ssh\/sshd_config/);
    // Machine identity is made per machine at boot, never baked into the tree.
    expect(existsSync(join(dir, 'usr/etc/machine-id'))).toBe(false);
    expect(existsSync(join(dir, 'usr/sbin/policy-rc.d'))).toBe(false);

    expect(hostFingerprint()).toBe(host);
    expect(sha256File(join(oldDir, DB, 'status'))).toBe(oldStatus);
    expect(sha256File(join(oldDir, 'usr/etc/passwd'))).toBe(oldPasswd);
    const fsck = await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false });
    expect(fsck.exitCode, fsck.stderr).toBe(0);
  }, 600_000);

  it('a script sees neither the host nor the network, and what it writes stays in the tree', async () => {
    const s = await sysroot();
    const hostDir = mkdtempSync(join(tmpdir(), 'ostree-layer-host-'));
    const secret = join(hostDir, 'secret');
    appendFileSync(secret, 'host only\n');
    let connections = 0;
    const server = createServer((sock) => {
      connections++;
      sock.destroy();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as { port: number }).port;
    try {
      const probe = `#!/bin/sh
out=/usr/share/probe/result
mkdir -p /usr/share/probe
if [ -e ${secret} ]; then echo "host file: visible" >>$out; else echo "host file: hidden" >>$out; fi
mkdir -p ${hostDir} && echo pwned >${hostDir}/pwned || true
if perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1:${port}", Timeout => 3) ? 0 : 1)'; then
  echo "network: reached" >>$out
else
  echo "network: unreachable" >>$out
fi
echo probe >>/etc/probe.conf
exit 0
`;
      const deb = await buildDeb(join(work, 'probe'), { name: 'probe', version: '1.0', files: [{ path: '/usr/share/doc/probe/README', content: 'probe\n' }], scripts: { postinst: probe } });
      const host = hostFingerprint();
      const r = await cli(['install', ...target(s), deb]);
      expect(r.exitCode, r.stderr).toBe(0);
      const dir = s.deploymentDir();
      expect(readFileSync(join(dir, 'usr/share/probe/result'), 'utf8')).toBe('host file: hidden\nnetwork: unreachable\n');
      expect(existsSync(join(hostDir, 'pwned'))).toBe(false);
      expect(connections).toBe(0);
      // The script's own write to /etc landed in the new tree's /usr/etc, and the host's /etc is as it was.
      expect(readFileSync(join(dir, 'usr/etc/probe.conf'), 'utf8')).toBe('probe\n');
      expect(existsSync('/etc/probe.conf')).toBe(false);
      expect(hostFingerprint()).toBe(host);
      const state = await execa('dpkg-query', [`--admindir=${join(dir, DB)}`, '-W', '-f=${Status}', 'probe']);
      expect(state.stdout).toBe('install ok installed');
    } finally {
      server.close();
      await rm(hostDir, { recursive: true, force: true });
    }
  });

  it('the layer of what scripts wrote is on disk before a ref names it', async () => {
    // A `sync` first in PATH writes down, each time the repo is flushed, which commit objects and script-layer refs
    // exist: one flush must come after the script layer was written and before its ref.
    const s = await sysroot();
    const bin = mkdtempSync(join(work, 'sync-bin-'));
    const log = join(bin, 'log');
    writeFileSync(join(bin, 'sync'), `#!/bin/sh
repo=$(dirname "$2")
{ echo flush; ls "$repo"/objects/*/*.commit 2>/dev/null | sed 's|.*/objects/\\(..\\)/\\(.*\\)\\.commit$|commit \\1\\2|'; ls "$repo/refs/heads/ostree-layer/scripts" 2>/dev/null | sed 's/^/ref /'; } >> ${log}
exec /bin/sync "$@"
`, { mode: 0o755 });
    const deb = await buildDeb(join(work, 'flushed'), { name: 'flushed', version: '1.0', files: [{ path: '/usr/share/doc/flushed/README', content: 'f\n' }], scripts: { postinst: '#!/bin/sh\nset -e\necho made > /usr/share/doc/flushed/by-postinst\n' } });
    const r = await cli(['install', ...target(s), deb], { PATH: `${bin}:${process.env.PATH}` });
    expect(r.exitCode, r.stderr).toBe(0);
    const layers = readdirSync(join(s.repo, 'refs/heads/ostree-layer/scripts'));
    expect(layers).toHaveLength(1);
    const layer = layers[0]!;
    const flushes = readFileSync(log, 'utf8').split('flush\n').slice(1).map((f) => f.split('\n'));
    expect(flushes.length, 'the repo was flushed at all').toBeGreaterThan(0);
    expect(flushes.some((lines) => lines.includes(`commit ${layer}`) && !lines.includes(`ref ${layer}`))).toBe(true);
    expect(readFileSync(join(s.deploymentDir(), 'usr/share/doc/flushed/by-postinst'), 'utf8')).toBe('made\n');
  });

  it('a failing postinst stops the transaction: exit 10, the package and its output named, nothing deployed', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const deb = await buildDeb(join(work, 'failing'), {
      name: 'failing',
      version: '2.0',
      files: [{ path: '/usr/share/failing/data', content: 'x\n' }],
      scripts: { postinst: '#!/bin/sh\necho "cannot set up the frobnicator" >&2\nexit 3\n' },
    });
    const r = await cli(['install', ...target(s), deb]);
    expect(r.exitCode).toBe(10);
    expect(r.stderr).toMatch(/failing/);
    expect(r.stderr).toMatch(/cannot set up the frobnicator/);
    expect(r.stderr).toMatch(/--no-scripts/);
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    const json = await cli(['install', '--json', ...target(s), deb]);
    expect(json.exitCode).toBe(10);
    expect(JSON.parse(json.stdout).error.kind).toBe('script');
  });

  it('a package with many bytes after another: its postinst sees its files, the tree holds them unchanged, also after uninstalling the other', async () => {
    // Layers this big are checked out for the sandbox one by one and composed from a hardlinked checkout
    // (compose/layer-routes.ts) instead of through --tree=ref: the result must be the same.
    const s = await sysroot();
    const big = randomBytes(24 << 20);
    const small = await buildDeb(join(work, 'routes'), { name: 'aaa-small', version: '1', files: [{ path: '/usr/share/aaa-small/x', content: 'x\n' }] });
    const large = await buildDeb(join(work, 'routes'), {
      name: 'zzz-large',
      version: '1',
      files: [{ path: '/usr/lib/zzz-large/blob', content: big }],
      scripts: { postinst: '#!/bin/sh\nset -e\nmkdir -p /usr/share/zzz-large\nsha256sum /usr/lib/zzz-large/blob > /usr/share/zzz-large/seen\n' },
      compression: 'gzip',
    });
    const r = await cli(['install', '--json', ...target(s), small, large]);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const dir = s.deploymentDir();
    expect(dir).toContain(JSON.parse(r.stdout).commit);
    const digest = createHash('sha256').update(big).digest('hex');
    expect(readFileSync(join(dir, 'usr/share/zzz-large/seen'), 'utf8')).toBe(`${digest}  /usr/lib/zzz-large/blob\n`);
    expect(sha256File(join(dir, 'usr/lib/zzz-large/blob'))).toBe(digest);
    const status = await execa('dpkg-query', [`--admindir=${join(dir, DB)}`, '-W', '-f=${db:Status-Abbrev}${Package}\n', 'aaa-small', 'zzz-large']);
    expect(status.stdout).toBe('ii aaa-small\nii zzz-large');
    // Removing the small one recomposes from the base with the large layer and the scripts' layer that stay.
    const removed = await cli(['uninstall', '--json', ...target(s), 'aaa-small']);
    expect(removed.exitCode, removed.stdout + removed.stderr).toBe(0);
    const after = s.deploymentDir();
    expect(after).toContain(JSON.parse(removed.stdout).commit);
    expect(sha256File(join(after, 'usr/lib/zzz-large/blob'))).toBe(digest);
    expect(existsSync(join(after, 'usr/share/aaa-small/x'))).toBe(false);
    const left = await execa('dpkg-query', [`--admindir=${join(after, DB)}`, '-W', '-f=${db:Status-Abbrev}${Package}\n', 'zzz-large']);
    expect(left.stdout).toBe('ii zzz-large');
    await execa('ostree', ['fsck', '--quiet', `--repo=${s.sysroot}/ostree/repo`]);
  });

  it('a failing preinst is named with its package; nothing deployed', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const deb = await buildDeb(join(work, 'badpre'), {
      name: 'badpre',
      version: '1',
      files: [{ path: '/usr/share/badpre/data', content: 'x\n' }],
      scripts: { preinst: '#!/bin/sh\necho "refusing: $1" >&2\nexit 1\n' },
    });
    const r = await cli(['install', ...target(s), deb]);
    expect(r.exitCode).toBe(10);
    expect(r.stderr).toMatch(/badpre 1 \(all\): preinst install exited with status 1/);
    expect(r.stderr).toMatch(/refusing: install/);
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });

  it('uninstall keeps what the scripts of the packages that stay made', async () => {
    const s = await sysroot();
    const keeper = await buildDeb(join(work, 'keeper'), {
      name: 'keeper',
      version: '1',
      files: [{ path: '/usr/share/keeper/data', content: 'k\n' }],
      scripts: { postinst: '#!/bin/sh\necho kept >/etc/keeper.conf\n' },
    });
    const leaver = await buildDeb(join(work, 'leaver'), { name: 'leaver', version: '1', files: [{ path: '/usr/share/leaver/data', content: 'l\n' }] });
    expect((await cli(['install', ...target(s), keeper])).exitCode).toBe(0);
    expect((await cli(['install', ...target(s), leaver])).exitCode).toBe(0);
    const r = await cli(['uninstall', ...target(s), 'leaver']);
    expect(r.exitCode, r.stderr).toBe(0);
    const dir = s.deploymentDir();
    expect(readFileSync(join(dir, 'usr/etc/keeper.conf'), 'utf8')).toBe('kept\n');
    expect(existsSync(join(dir, 'usr/share/leaver/data'))).toBe(false);
    const states = await execa('dpkg-query', [`--admindir=${join(dir, DB)}`, '-W', '-f=${db:Status-Abbrev}${Package}\n', 'keeper', 'leaver'], { reject: false });
    expect(states.stdout).toBe('ii keeper');
    const fsck = await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false });
    expect(fsck.exitCode, fsck.stderr).toBe(0);
  });

  it('SIGKILL while a script runs leaves no process, mount or scratch behind, and the rerun succeeds', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    // A duration no other process on a shared machine is sleeping, so `ps` finds only this script's sleep.
    const nap = `300.${process.pid}${Date.now() % 100000}`;
    const deb = await buildDeb(join(work, 'sleepy'), {
      name: 'sleepy',
      version: '1',
      files: [{ path: '/usr/share/sleepy/data', content: 's\n' }],
      scripts: { postinst: `#!/bin/sh\n[ -e /usr/share/sleepy/fast ] || sleep ${nap}\n` },
    });
    const child = execa('node', [CLI, 'install', ...target(s), deb], { reject: false });
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('configure step')) resolve();
      });
      child.on('exit', () => reject(new Error('exited before the scripts ran')));
    });
    // Give the sandbox time to reach the sleeping postinst.
    await new Promise((r) => setTimeout(r, 2000));
    child.kill('SIGKILL');
    await child;
    await new Promise((r) => setTimeout(r, 1000));
    const ps = await execa('ps', ['-eo', 'args'], { reject: false });
    expect(ps.stdout).not.toContain(`sleep ${nap}`);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(s.sysroot);
    expect(await systemSnapshot(s.sysroot)).toBe(before);
    expect((await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false })).exitCode).toBe(0);

    const rerun = await cli(['install', '--no-scripts', ...target(s), deb]);
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    expect(readdirSync(join(s.repo, 'tmp')).filter((f) => f.startsWith('ostree-layer-'))).toEqual([]);
  });

  it('file triggers: a new interest is registered, and new files under it run the interested postinst as dpkg would', async () => {
    const s = await sysroot();
    const watcher = await buildDeb(join(work, 'watcher'), {
      name: 'watcher',
      version: '1',
      files: [{ path: '/usr/share/doc/watcher/README', content: 'w\n' }],
      triggers: 'interest /usr/share/watched\n',
      scripts: { postinst: '#!/bin/sh\nif [ "$1" = triggered ]; then mkdir -p /usr/share/watcher; echo "$2" >>/usr/share/watcher/seen; fi\n' },
    });
    const feeder = await buildDeb(join(work, 'feeder'), { name: 'feeder', version: '1', files: [{ path: '/usr/share/watched/one', content: '1\n' }] });
    const later = await buildDeb(join(work, 'later'), { name: 'later', version: '1', files: [{ path: '/usr/share/watched/two', content: '2\n' }] });
    expect((await cli(['install', ...target(s), watcher, feeder])).exitCode).toBe(0);
    let dir = s.deploymentDir();
    expect(readFileSync(join(dir, DB, 'triggers/File'), 'utf8')).toMatch(/^\/usr\/share\/watched watcher$/m);
    // As with `dpkg -i watcher.deb feeder.deb` (checked in a chroot): watcher is not configured yet when feeder's
    // file activates its interest, so its configure covers it and no "triggered" call happens.
    expect(existsSync(join(dir, 'usr/share/watcher/seen'))).toBe(false);

    const r = await cli(['install', ...target(s), later]);
    expect(r.exitCode, r.stderr).toBe(0);
    dir = s.deploymentDir();
    expect(readFileSync(join(dir, 'usr/share/watcher/seen'), 'utf8')).toBe('/usr/share/watched\n');
    const states = await execa('dpkg-query', [`--admindir=${join(dir, DB)}`, '-W', '-f=${db:Status-Abbrev}${Package}\n', 'watcher', 'feeder', 'later']);
    expect(states.stdout.split('\n').sort()).toEqual(['ii feeder', 'ii later', 'ii watcher']);
  });

  it('--commit-only runs the scripts too, but leaves out the host keys a fleet must not share', async () => {
    const repo = join(work, 'fleet-ssh');
    await execa('ostree', ['init', `--repo=${repo}`, '--mode=bare-user']);
    // A throwaway repo needs no durability; with fsync every object of ~40 packages waits on the disk.
    await execa('ostree', ['config', `--repo=${repo}`, 'set', 'core.fsync', 'false']);
    await execa('ostree', ['pull-local', `--repo=${repo}`, base.repo, base.ref]);
    await execa('ostree', ['refs', `--repo=${repo}`, '--create=fleet/ssh', base.ref]);
    const r = await cli(['install', '--json', '--commit-only', '--repo', repo, '--ref', 'fleet/ssh', '--cache-dir', join(resolveCacheDir(), 'ostree-layer'), 'openssh-server']);
    expect(r.exitCode, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.notes.join('\n')).toMatch(/left out \/usr\/etc\/ssh\/ssh_host_/);

    const tree = join(work, 'fleet-ssh-checkout');
    await execa('ostree', ['checkout', `--repo=${repo}`, 'fleet/ssh', tree]);
    expect(readdirSync(join(tree, 'usr/etc/ssh')).filter((f) => f.startsWith('ssh_host_'))).toEqual([]);
    expect(existsSync(join(tree, 'usr/etc/ssh/sshd_config'))).toBe(true);
    expect(readlinkSync(join(tree, 'usr/lib/systemd/system/ssh.service.wants/ostree-layer-ssh-keygen.service'))).toBe('../ostree-layer-ssh-keygen.service');
    const state = await execa('dpkg-query', [`--admindir=${join(tree, DB)}`, '-W', '-f=${db:Status-Abbrev}', 'openssh-server']);
    expect(state.stdout.trim()).toBe('ii');
    // What the unit runs at boot makes the keys, after which sshd accepts its configuration.
    await execa('cp', ['-a', join(tree, 'usr/etc'), join(tree, 'etc')]);
    await execa('mkdir', ['-p', join(tree, 'run/sshd')]);
    const unit = readFileSync(join(tree, 'usr/lib/systemd/system/ostree-layer-ssh-keygen.service'), 'utf8');
    const execStart = /^ExecStart=(.*)$/m.exec(unit)![1]!;
    // ssh-keygen and sshd need /dev/null: the host's /dev, bound in a private mount namespace for these two commands.
    const check = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount --rbind /dev "$1/dev" && chroot "$1" ${execStart} && chroot "$1" /usr/sbin/sshd -t`, 'sh', tree], { reject: false });
    expect(check.exitCode, check.stderr).toBe(0);
    expect(readdirSync(join(tree, 'etc/ssh')).filter((f) => f.startsWith('ssh_host_')).length).toBeGreaterThan(0);
  }, 600_000);
});
