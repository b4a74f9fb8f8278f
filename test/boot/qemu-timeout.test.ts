/**
 * A guest that never reports must fail the test and leave nothing running. The guest is the bootable base's real
 * kernel with an empty disk and no initramfs: it panics (no root file system) and, with panic=0, sits there forever.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureBootableDebian, runQemu } from '@ostree-layer/testkit';

let work: string;
let kernel: string;

beforeAll(async () => {
  const base = await ensureBootableDebian();
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-qemu-timeout-'));
  const modules = await execa('ostree', ['ls', `--repo=${base.repo}`, '--nul-filenames-only', base.commit, '/usr/lib/modules']);
  const version = modules.stdout.split('\0').filter(Boolean).map((p) => p.split('/').pop()!).find((v) => v !== 'modules');
  if (!version) throw new Error(`no kernel under /usr/lib/modules in ${base.ref}`);
  kernel = join(work, 'vmlinuz');
  await execa('ostree', ['cat', `--repo=${base.repo}`, base.commit, `/usr/lib/modules/${version}/vmlinuz`], { stdout: { file: kernel } });
}, 40 * 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Processes whose command line names `path`. */
function processesUsing(path: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(path)) pids.push(Number(pid));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

it('kills a guest that never reports once the timeout passes, and keeps its serial log', async () => {
  const disk = join(work, 'empty.img');
  await writeFile(disk, '');
  await truncate(disk, 64 * 1024 * 1024);
  const serialLog = join(work, 'serial.log');
  const outcome = await runQemu({
    disk,
    kernel,
    append: 'root=/dev/vda console=ttyS0 panic=0',
    serialLog,
    timeoutMs: 30_000,
    doneMarker: 'a marker this guest never prints',
  });
  expect(outcome.timedOut).toBe(true);
  expect(outcome.done).toBe(false);
  expect(outcome.exitCode).toBeNull();
  expect(outcome.elapsedMs).toBeLessThan(60_000);
  expect(readFileSync(serialLog, 'utf8')).toContain('Linux version');
  expect(processesUsing(disk)).toEqual([]);
}, 120_000);
