/**
 * Faults against real Debian minbase sysroots: a disk that fills up, concurrent transactions reaching one sysroot
 * different ways, and SIGINT/SIGTERM at the phase boundaries. Each leaves the system either unchanged (and says so)
 * or with the complete new deployment (and says that), ostree fsck clean, and a rerun that succeeds.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, ensureDebianMinbase, makeSysroot, type Sysroot } from '@ostree-layer/testkit';
import { CLI, cli, cliProcess, systemSnapshot } from '../support/cli.js';

let work: string;

beforeAll(async () => {
  await ensureDebianMinbase();
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-faults-'));
}, 600_000);
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a disk that fills up', () => {
  it('exits 11 naming the repo whose disk is full, changes nothing, and a rerun with space succeeds', async () => {
    const mountPoint = mkdtempSync(join(tmpdir(), 'ostree-layer-full-'));
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1g', 'tmpfs', mountPoint]);
    let s: Sysroot | undefined;
    try {
      s = await makeSysroot({ base: await ensureDebianMinbase(), dir: join(mountPoint, 'sysroot') });
      const deb = await buildDeb(join(work, 'fill'), {
        name: 'fills-the-disk',
        version: '1.0',
        compression: 'gzip',
        files: [{ path: '/usr/share/fill/blob', content: randomBytes(24 << 20) }],
      });
      const usedKiB = Number((await execa('df', ['--output=used', '-k', mountPoint])).stdout.split('\n')[1]!.trim());
      await execa('mount', ['-o', `remount,size=${usedKiB + 4096}k`, mountPoint]);
      const before = await systemSnapshot(s.sysroot);
      const args = ['install', '--sysroot', s.sysroot, '--os', s.osName, deb];
      // First ostree's own reserve (min-free-space-percent) refuses the write, then, with the reserve off, the kernel.
      for (const reserve of ['3', '0']) {
        await execa('ostree', ['config', `--repo=${s.repo}`, 'set', 'core.min-free-space-percent', reserve]);
        const r = await cli(args);
        expect(r.exitCode, `reserve ${reserve}%: ${r.stderr}`).toBe(11);
        expect(r.stderr).toMatch(/no space left on the disk holding/);
        expect(r.stderr).toContain(s.sysroot);
        expect(r.stderr).not.toMatch(/internal error|Premature close/);
        expect(await systemSnapshot(s.sysroot)).toBe(before);
      }

      await execa('mount', ['-o', 'remount,size=1g', mountPoint]);
      const again = await cli(args);
      expect(again.exitCode, again.stderr).toBe(0);
      expect((await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false })).exitCode).toBe(0);
    } finally {
      await s?.dispose();
      await execa('umount', ['-l', mountPoint], { reject: false });
      await rm(mountPoint, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('concurrent transactions', () => {
  it('5 install pairs at once, half through a bind mount or another network namespace: one waits its turn (exit 6), none is lost, nothing crashes', async () => {
    const s = await makeSysroot({ base: await ensureDebianMinbase() });
    const alias = mkdtempSync(join(tmpdir(), 'ostree-layer-alias-'));
    await execa('mount', ['--bind', s.sysroot, alias]);
    try {
      const succeeded: string[] = [];
      for (let round = 0; round < 5; round++) {
        const debs = await Promise.all(['a', 'b'].map((side) =>
          buildDeb(join(work, `pair-${round}-${side}`), { name: `pair${round}${side}`, version: '1.0', files: [{ path: `/usr/share/pair/${round}${side}`, content: `${round}${side}\n` }] })));
        const first = cliProcess(['install', '--sysroot', s.sysroot, '--os', s.osName, debs[0]!]);
        // The second reaches the same sysroot another way: a bind mount, or from another network namespace.
        const second = round % 2 === 0
          ? cliProcess(['install', '--sysroot', alias, '--os', s.osName, debs[1]!])
          : execa('unshare', ['-n', 'node', CLI, 'install', '--sysroot', s.sysroot, '--os', s.osName, debs[1]!], { reject: false });
        const results = await Promise.all([first, second]);
        results.forEach((r, i) => {
          const stderr = String(r.stderr);
          expect(stderr).not.toMatch(/EPIPE|internal error|Unhandled/);
          expect([0, 6], stderr).toContain(r.exitCode);
          if (r.exitCode === 0) succeeded.push(`pair${round}${i === 0 ? 'a' : 'b'}`);
        });
        expect(results.some((r) => r.exitCode === 0)).toBe(true);
      }
      // Every install that said it deployed is in the deployment that boots next.
      const status = (await execa('dpkg-query', [`--admindir=${join(s.deploymentDir(), 'usr/lib/sysimage/dpkg')}`, '-W', '-f', '${Package}\\n'])).stdout.split('\n');
      for (const name of succeeded) expect(status).toContain(name);
      expect((await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false })).exitCode).toBe(0);
    } finally {
      await execa('umount', [alias], { reject: false });
      await s.dispose();
    }
  }, 600_000);
});

describe('SIGINT and SIGTERM', () => {
  async function pausedInstall(s: Sysroot, point: string, name: string) {
    const deb = await buildDeb(join(work, `signal-${name}`), { name, version: '1.0', files: [{ path: `/usr/share/${name}/data`, content: randomBytes(200_000) }] });
    const child = cliProcess(['install', '--sysroot', s.sysroot, '--os', s.osName, deb], { OSTREE_LAYER_FAULT_PAUSE: point });
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => d.toString().includes(`paused at ${point}`) && resolve());
      child.on('exit', (code) => reject(new Error(`exited with ${code} before pausing at ${point}`)));
    });
    // Wrapped: the subprocess is a thenable, and returning it bare would wait for its exit.
    return { child };
  }

  it.each([
    ['import', 'SIGINT', 130], ['compose', 'SIGTERM', 143], ['deploy', 'SIGINT', 130], ['deploy', 'SIGTERM', 143],
  ] as const)('before the deploy (%s), %s stops cleanly: exit %i, nothing changed, no scratch left, a rerun succeeds', async (point, signal, status) => {
    const s = await makeSysroot({ base: await ensureDebianMinbase() });
    try {
      const before = await systemSnapshot(s.sysroot);
      const name = `sig-${point}-${signal.toLowerCase()}`;
      const { child } = await pausedInstall(s, point, name);
      child.kill(signal);
      const r = await child;
      expect(r.exitCode, String(r.stderr)).toBe(status);
      expect(String(r.stderr)).toMatch(new RegExp(`interrupted by ${signal} before the deploy: nothing changed`));
      expect(await systemSnapshot(s.sysroot)).toBe(before);
      const scratch = (await execa('ls', [join(s.repo, 'tmp')])).stdout.split('\n').filter((n) => n.includes(`-${child.pid}-`));
      expect(scratch).toEqual([]);
      const deb = join(work, `signal-${name}`, `${name}_1.0_all.deb`);
      const again = await cli(['install', '--sysroot', s.sysroot, '--os', s.osName, deb]);
      expect(again.exitCode, again.stderr).toBe(0);
      expect((await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false })).exitCode).toBe(0);
    } finally {
      await s.dispose();
    }
  }, 300_000);

  it('at the start of the script phase, SIGTERM stops cleanly: exit 143, nothing changed, no mount left behind', async () => {
    const s = await makeSysroot({ base: await ensureDebianMinbase() });
    try {
      const before = await systemSnapshot(s.sysroot);
      const deb = await buildDeb(join(work, 'signal-scripts'), { name: 'sig-scripts', version: '1.0', scripts: { postinst: 'echo configured > /usr/share/sig-scripts-ran' }, files: [{ path: '/usr/share/sig-scripts/x', content: 'x\n' }] });
      const child = cliProcess(['install', '--sysroot', s.sysroot, '--os', s.osName, deb], { OSTREE_LAYER_FAULT_PAUSE: 'scripts' });
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (d: Buffer) => d.toString().includes('paused at scripts') && resolve());
        child.on('exit', (code) => reject(new Error(`exited with ${code} before pausing at scripts`)));
      });
      child.kill('SIGTERM');
      const r = await child;
      expect(r.exitCode, String(r.stderr)).toBe(143);
      expect(String(r.stderr)).toMatch(/nothing changed/);
      expect(await systemSnapshot(s.sysroot)).toBe(before);
      expect((await execa('findmnt', ['-rn', '-o', 'TARGET'])).stdout).not.toContain(s.sysroot);
    } finally {
      await s.dispose();
    }
  }, 300_000);

  it('during ostree admin deploy, SIGTERM lets the deploy finish and the result says deployed (exit 0)', async () => {
    const s = await makeSysroot({ base: await ensureDebianMinbase() });
    try {
      const oldDir = s.deploymentDir();
      const { child } = await pausedInstall(s, 'deploying', 'sig-deploying');
      child.kill('SIGTERM');
      const r = await child;
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(String(r.stderr)).toMatch(/SIGTERM received while ostree admin deploy runs; letting it finish/);
      expect(String(r.stdout)).toMatch(/Deployed; reboot to use it/);
      expect(s.deploymentDir()).not.toBe(oldDir);
      const status = (await execa('dpkg-query', [`--admindir=${join(s.deploymentDir(), 'usr/lib/sysimage/dpkg')}`, '-W', 'sig-deploying'], { reject: false }));
      expect(status.exitCode).toBe(0);
    } finally {
      await s.dispose();
    }
  }, 300_000);
});
