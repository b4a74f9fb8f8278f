/**
 * Faults against real Debian minbase sysroots: a disk that fills up, concurrent transactions reaching one sysroot
 * different ways, and SIGKILL/SIGTERM/SIGINT at every phase boundary. Each leaves the system either unchanged (and says so)
 * or with the complete new deployment (and says that), ostree fsck clean, and a rerun that succeeds.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, ensureDebianMinbase, makeSysroot, type Sysroot } from '@ostree-layer/testkit';
import { CLI, cli, cliProcess, systemSnapshot } from '../support/cli.js';
import { buildMirror } from './apt-mirror-kit.js';

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

/**
 * The fault campaign: an install by name (a local mirror, so resolve and download happen) paused at each phase
 * boundary, then killed. Before `ostree admin deploy` runs, SIGTERM/SIGINT stop cleanly (143/130, "nothing changed",
 * refs and deployments as they were, no scratch of the process left) and SIGKILL leaves the deployments as they were;
 * inside the deploy and after it, SIGTERM waits and the result says deployed (exit 0), and SIGKILL after it leaves the
 * complete new deployment. Every time: no mount left, ostree fsck clean, and the same command run again succeeds.
 */
describe('SIGKILL, SIGTERM and SIGINT at every phase boundary', () => {
  const POINTS = ['resolve', 'fetch', 'import', 'database', 'scripts', 'compose', 'deploy', 'deploying', 'deployed'] as const;
  type Point = (typeof POINTS)[number];
  let source: string;

  beforeAll(async () => {
    // Each package runs a postinst, so that the script phase (and its boundary) happens.
    const debs = ['fault-term', 'fault-kill', 'fault-int'].map((name) => ({
      name,
      version: '1.0',
      scripts: { postinst: `echo configured > /usr/share/${name}-configured` },
      files: [{ path: `/usr/share/${name}/data`, content: randomBytes(200_000) }],
    }));
    source = `deb [trusted=yes] file://${await buildMirror(join(work, 'mirror'), { debs })} stable main`;
  }, 300_000);

  /** `install NAME` from the mirror only: the base's own sources are unreachable in a network namespace of its own. */
  function installByName(s: Sysroot, name: string, env: Record<string, string> = {}) {
    const args = ['install', '--sysroot', s.sysroot, '--os', s.osName, '--cache-dir', join(work, `cache-${basename(s.sysroot)}`), '--source', source, name];
    return execa('unshare', ['-n', 'node', CLI, ...args], { reject: false, env, buffer: true });
  }

  async function paused(s: Sysroot, point: Point, name: string) {
    const child = installByName(s, name, { OSTREE_LAYER_FAULT_PAUSE: point });
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => d.toString().includes(`paused at ${point}`) && resolve());
      child.on('exit', (code) => reject(new Error(`exited with ${code} before pausing at ${point}`)));
    });
    // Wrapped: the subprocess is a thenable, and returning it bare would wait for its exit.
    return { child };
  }

  const deployments = async (s: Sysroot) => (await execa('ostree', ['admin', 'status', `--sysroot=${s.sysroot}`])).stdout;
  const layered = async (s: Sysroot, name: string) =>
    (await execa('dpkg-query', [`--admindir=${join(s.deploymentDir(), 'usr/lib/sysimage/dpkg')}`, '-W', '-f', '${db:Status-Abbrev}', name], { reject: false })).stdout.trim();

  it.each(POINTS)('at %s', async (point) => {
    const s = await makeSysroot({ base: await ensureDebianMinbase() });
    try {
      // SIGINT only where it stops a transaction the way SIGTERM does; the campaign proper is SIGTERM and SIGKILL.
      const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGKILL', ...(point === 'import' || point === 'deploy' ? ['SIGINT' as const] : [])];
      for (const signal of signals) {
        const name = `fault-${signal.slice(3).toLowerCase()}`;
        const what = `${signal} at ${point}`;
        const before = await systemSnapshot(s.sysroot);
        const deploymentsBefore = await deployments(s);
        const { child } = await paused(s, point, name);
        child.kill(signal);
        const r = await child;
        const stderr = String(r.stderr);
        expect(stderr, what).not.toMatch(/internal error|Unhandled|EPIPE/);
        // The deploy has begun (deploying) or is done (deployed): the new deployment is complete whatever the signal.
        const deployed = point === 'deployed' || (point === 'deploying' && signal !== 'SIGKILL');
        if (signal === 'SIGKILL') {
          expect(r.signal, what).toBe('SIGKILL');
        } else if (deployed) {
          expect(r.exitCode, `${what}: ${stderr}`).toBe(0);
          expect(stderr, what).toMatch(new RegExp(`${signal} received (while|after) ostree admin deploy`));
          expect(String(r.stdout), what).toMatch(/Deployed; reboot to use it/);
        } else {
          expect(r.exitCode, `${what}: ${stderr}`).toBe(signal === 'SIGINT' ? 130 : 143);
          expect(stderr, what).toContain(`interrupted by ${signal} before the deploy: nothing changed`);
          expect(await systemSnapshot(s.sysroot), what).toBe(before);
          const scratch = (await execa('ls', [join(s.repo, 'tmp')])).stdout.split('\n').filter((n) => n.includes(`-${child.pid}-`));
          expect(scratch, what).toEqual([]);
        }
        if (deployed) {
          expect(await deployments(s), what).not.toBe(deploymentsBefore);
          expect(await layered(s, name), what).toBe('ii');
        } else {
          expect(await deployments(s), what).toBe(deploymentsBefore);
          expect(await layered(s, name), what).toBe('');
        }
        expect((await execa('findmnt', ['-rn', '-o', 'TARGET'])).stdout, what).not.toContain(s.sysroot);
        expect((await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false })).exitCode, what).toBe(0);

        const again = await installByName(s, name);
        expect(again.exitCode, `rerun after ${what}: ${String(again.stderr)}`).toBe(0);
        expect(await layered(s, name), `rerun after ${what}`).toBe('ii');
      }
    } finally {
      await s.dispose();
    }
  }, 600_000);

  it('SIGTERM while a postinst runs stops cleanly: exit 143, nothing changed, no process, mount or scratch left; the same command then succeeds', async () => {
    const s = await makeSysroot({ base: await ensureDebianMinbase() });
    try {
      const before = await systemSnapshot(s.sysroot);
      // A duration no other process on a shared machine is sleeping, so `ps` finds only this script's sleep; short
      // enough that the rerun, which sleeps it through, stays quick.
      const nap = `15.${process.pid}`;
      const deb = await buildDeb(join(work, 'mid-script'), {
        name: 'mid-script',
        version: '1.0',
        files: [{ path: '/usr/share/mid-script/data', content: 'm\n' }],
        scripts: { postinst: `#!/bin/sh\nsleep ${nap}\n` },
      });
      const args = ['install', '--sysroot', s.sysroot, '--os', s.osName, deb];
      const child = cliProcess(args);
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (d: Buffer) => d.toString().includes('configure step') && resolve());
        child.on('exit', (code) => reject(new Error(`exited with ${code} before the scripts ran`)));
      });
      // Until the sandbox reaches the sleeping postinst.
      for (let i = 0; i < 100 && !(await execa('ps', ['-eo', 'args'])).stdout.includes(`sleep ${nap}`); i++) await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGTERM');
      const r = await child;
      expect(r.exitCode, String(r.stderr)).toBe(143);
      expect(String(r.stderr)).toContain('interrupted by SIGTERM before the deploy: nothing changed');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect((await execa('ps', ['-eo', 'args'])).stdout).not.toContain(`sleep ${nap}`);
      expect((await execa('findmnt', ['-rn', '-o', 'TARGET'])).stdout).not.toContain(s.sysroot);
      expect(await systemSnapshot(s.sysroot)).toBe(before);
      expect((await execa('ls', [join(s.repo, 'tmp')])).stdout.split('\n').filter((n) => n.includes(`-${child.pid}-`))).toEqual([]);
      expect((await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false })).exitCode).toBe(0);

      const again = await cli(args);
      expect(again.exitCode, again.stderr).toBe(0);
    } finally {
      await s.dispose();
    }
  }, 300_000);
});
