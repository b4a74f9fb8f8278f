/**
 * The repository side works for the target, not for the host: an RPM base whose database says aarch64, composed
 * server-side on this x86_64 machine, gets aarch64 candidates from a repository whose baseurl names `$basearch`
 * (as Fedora's .repo files do). Reading the host's arch here would look in the x86_64 directory and offer packages
 * the target cannot run.
 */
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRpm, commitTree, makeOstreeReady, removeTree, RPM_DB_PATH } from '@ostree-layer/testkit';
import { cli, cliJson } from '../support/cli.js';

const TARGET_ARCH = 'aarch64';
const REF = 'fleet/arm64';
let work: string;
let repo: string;
let repoFile: string;

/** An OSTree commit of a tiny root whose rpmdb holds aarch64 packages only (installed with the real rpm). */
async function armBase(): Promise<void> {
  const rpms = join(work, 'base-rpms');
  const packages = [
    await buildRpm(rpms, { name: 'filesystem', version: '3.18', arch: TARGET_ARCH, files: ['/usr', '/usr/bin', '/usr/lib', '/etc'].map((path) => ({ path, dir: true })) }),
    await buildRpm(rpms, { name: 'arm-release', version: '1', arch: TARGET_ARCH, files: [{ path: '/usr/lib/os-release', content: 'ID=armtest\nVERSION_ID=1\n' }] }),
  ];
  const root = join(work, 'root');
  mkdirSync(root);
  // --ignorearch: this host's rpm would otherwise refuse packages "intended for a different architecture".
  await execa('rpm', ['--root', root, '--dbpath', `/${RPM_DB_PATH}`, '-i', '--ignorearch', '--noscripts', ...packages]);
  for (const transient of ['rpmdb.sqlite-wal', 'rpmdb.sqlite-shm', '.rpm.lock']) await rm(join(root, RPM_DB_PATH, transient), { force: true });
  await makeOstreeReady(root);
  repo = join(work, 'repo');
  await execa('ostree', ['init', `--repo=${repo}`, '--mode=bare-user']);
  await commitTree({ repo, ref: REF, root, subject: 'aarch64 RPM base' });
}

/** One createrepo_c repository per arch under `<dir>/<arch>`, and a .repo file whose baseurl ends in $basearch. */
async function perArchRepositories(): Promise<void> {
  const dir = join(work, 'mirror');
  for (const arch of ['x86_64', TARGET_ARCH]) {
    const at = join(dir, arch);
    await buildRpm(at, { name: 'tool', version: '2.0', arch, requires: ['tool-data'], files: [{ path: '/usr/bin/tool', content: `#!/bin/sh\necho ${arch}\n`, mode: 0o755 }] });
    await buildRpm(at, { name: 'tool-data', version: '1', files: [{ path: '/usr/share/tool/data', content: 'data\n' }] });
    await execa('createrepo_c', ['--quiet', at]);
  }
  repoFile = join(work, 'mirror.repo');
  writeFileSync(repoFile, `[mirror]\nname=Per-arch mirror\nbaseurl=file://${dir}/$basearch\nenabled=1\ngpgcheck=0\n`);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-target-arch-'));
  await armBase();
  await perArchRepositories();
}, 300_000);

afterAll(async () => {
  if (work) await removeTree(work);
});

describe('the target architecture comes from the target database', () => {
  it('install --dry-run --commit-only onto an aarch64 base picks the aarch64 candidates', async () => {
    const plan = await cliJson<{ install: Array<{ name: string; arch: string; file: string }> }>([
      'install', '--dry-run', '--commit-only', '--repo', repo, '--ref', REF, '--source', repoFile, '--cache-dir', join(work, 'cache'), 'tool',
    ]);
    const byName = Object.fromEntries(plan.install.map((p) => [p.name, p]));
    expect(Object.keys(byName).sort()).toEqual(['tool', 'tool-data']);
    expect(byName.tool!.arch).toBe(TARGET_ARCH);
    expect(byName.tool!.file).toContain(`/mirror/${TARGET_ARCH}/`);
    expect(byName['tool-data']!.arch).toBe('noarch');
  });

  it('asking for the host arch by name is refused: the target cannot run it', async () => {
    const r = await cli(['install', '--dry-run', '--commit-only', '--repo', repo, '--ref', REF, '--source', repoFile, '--cache-dir', join(work, 'cache'), 'tool.x86_64']);
    expect(r.exitCode, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/x86_64/);
  });
});
