/**
 * An upgrade that fails or is stopped puts the repo's refs back as they were, as install does: the package cache refs
 * it created or moved and the script-layer ref it made are taken back, the deployments stay, `ostree fsck` is clean,
 * and the same upgrade run again succeeds. Real Debian minbase sysroot, packages built with dpkg-deb, judged by
 * `ostree refs`/`rev-parse`, `ostree admin status` and dpkg-query.
 */
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, ensureDebianMinbase, type DebSpec, type Sysroot } from '@ostree-layer/testkit';
import { cli, cliProcess } from '../support/cli.js';
import { sysrootPool } from '../support/sysroots.js';

let work: string;
const newSysroot = sysrootPool();

beforeAll(async () => {
  await ensureDebianMinbase();
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-upgrade-faults-'));
}, 600_000);
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const target = (s: Sysroot) => ['--sysroot', s.sysroot, '--os', s.osName];

/** Every ref with the commit it points at: "exactly as before" means both. */
async function refsWithTargets(s: Sysroot): Promise<string> {
  const names = (await execa('ostree', [`--repo=${s.repo}`, 'refs'])).stdout.split('\n').filter(Boolean).sort();
  const lines = [];
  for (const ref of names) lines.push(`${ref} ${(await execa('ostree', [`--repo=${s.repo}`, 'rev-parse', ref])).stdout.trim()}`);
  return lines.join('\n');
}

const deployments = async (s: Sysroot) => (await execa('ostree', ['admin', 'status', `--sysroot=${s.sysroot}`])).stdout;
const fsckClean = async (s: Sysroot) => (await execa('ostree', ['fsck', '--quiet', `--repo=${s.repo}`], { reject: false })).exitCode === 0;

const steady = (version: string): DebSpec => ({
  name: 'steady',
  version,
  scripts: { postinst: `echo ${version} > /usr/share/steady-configured` },
  files: [{ path: '/usr/share/steady/data', content: `steady ${version}\n` }],
});
/** Its postinst refuses the new base (the vendor marker) until the package is fixed. */
const picky = (fixed: boolean): DebSpec => ({
  name: 'picky',
  version: '1.0',
  scripts: { postinst: fixed ? 'exit 0' : 'if [ -e /usr/share/vendor-marker ]; then echo "picky: refusing the new base" >&2; exit 1; fi' },
  files: [{ path: '/usr/share/picky/data', content: fixed ? 'fixed\n' : 'first\n' }],
});

describe('an upgrade that does not finish', () => {
  it('fails in a postinst on the new base, then is stopped by SIGTERM: refs exactly as before each time, fsck clean; the rerun succeeds', async () => {
    const s = await newSysroot({ base: await ensureDebianMinbase() });
    // The requests name these paths; the files there change between the runs, as a user rebuilding them would.
    const steadyDeb = join(work, 'steady.deb');
    const pickyDeb = join(work, 'picky.deb');
    const replace = async (path: string, spec: DebSpec) => copyFile(await buildDeb(join(work, `${spec.name}-${Date.now()}`), spec), path);
    await replace(steadyDeb, steady('1.0'));
    await replace(pickyDeb, picky(false));
    const installed = await cli(['install', ...target(s), steadyDeb, pickyDeb]);
    expect(installed.exitCode, installed.stderr).toBe(0);

    // The vendor publishes a new base; the package file the request names is now a newer version.
    const extra = join(work, 'vendor');
    await mkdir(join(extra, 'usr/share'), { recursive: true });
    await writeFile(join(extra, 'usr/share/vendor-marker'), 'new base\n');
    await execa('ostree', [`--repo=${s.repo}`, 'commit', `--branch=${s.ref}`, `--tree=ref=${s.commit}`, `--tree=dir=${extra}`, '--subject=vendor update']);
    await replace(steadyDeb, steady('1.1'));
    const refsBefore = await refsWithTargets(s);
    const deploymentsBefore = await deployments(s);

    const failed = await cli(['upgrade', ...target(s)]);
    expect(failed.exitCode, failed.stderr).toBe(10);
    expect(failed.stderr).toMatch(/picky: refusing the new base/);
    expect(await refsWithTargets(s)).toBe(refsBefore);
    expect(await deployments(s)).toBe(deploymentsBefore);
    expect(await fsckClean(s)).toBe(true);

    // Fixed: the postinsts pass; stopped once the script layer and the new cache refs exist, before the deploy.
    await replace(pickyDeb, picky(true));
    const child = cliProcess(['upgrade', ...target(s)], { OSTREE_LAYER_FAULT_PAUSE: 'compose' });
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => d.toString().includes('paused at compose') && resolve());
      child.on('exit', (code) => reject(new Error(`exited with ${code} before pausing at compose`)));
    });
    child.kill('SIGTERM');
    const stopped = await child;
    expect(stopped.exitCode, String(stopped.stderr)).toBe(143);
    expect(String(stopped.stderr)).toContain('interrupted by SIGTERM before the deploy: nothing changed');
    expect(await refsWithTargets(s)).toBe(refsBefore);
    expect(await deployments(s)).toBe(deploymentsBefore);
    expect(await fsckClean(s)).toBe(true);

    const again = await cli(['upgrade', ...target(s)]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(await deployments(s)).not.toBe(deploymentsBefore);
    const db = `--admindir=${join(s.deploymentDir(), 'usr/lib/sysimage/dpkg')}`;
    const status = await execa('dpkg-query', [db, '-W', '-f', '${Package} ${Version} ${db:Status-Abbrev}\\n', 'steady', 'picky']);
    expect(status.stdout.split('\n').map((l) => l.trim()).sort()).toEqual(['picky 1.0 ii', 'steady 1.1 ii']);
    expect(await fsckClean(s)).toBe(true);
  }, 600_000);
});
