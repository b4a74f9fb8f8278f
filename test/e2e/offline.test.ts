/**
 * Offline and partial failure, as apt behaves: with a warm cache, `search` works in a network namespace with no
 * network at all (`unshare -n`), from the Release / repomd.xml verified earlier, saying how old it is; a source that
 * cannot be reached and was never fetched is a warning, and only a request that needs it fails.
 */
import { execa } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRpm, ensureDebianMinbase, ensureRpmBase } from '@ostree-layer/testkit';
import { CLI, cli } from '../support/cli.js';
import { serve } from './apt-mirror-kit.js';
import { sysrootPool } from '../support/sysroots.js';

let work: string;
const newSysroot = sysrootPool('all');

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-offline-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** The command in a new network namespace: not even loopback is up. */
function offline(args: string[]) {
  return execa('unshare', ['-n', 'node', CLI, ...args], { reject: false });
}

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const { server } = await serve(work);
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('offline with a warm cache', () => {
  it('dpkg: search answers from the Release verified before, saying how old it is', async () => {
    const s = await newSysroot({ base: await ensureDebianMinbase() });
    const args = ['search', '--sysroot', s.sysroot, '--os', s.osName, '--cache-dir', join(work, 'deb-cache'), 'bash*'];
    const warm = await cli(args);
    expect(warm.exitCode, warm.stderr).toBe(0);
    expect(warm.stderr).not.toMatch(/unreachable/);

    const r = await offline(args);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^bash\/5\.2\.\S+ amd64$/m);
    expect(r.stderr).toMatch(/warning: http\S+ bookworm: unreachable \(.*\); using the Release verified \d+ (seconds|minutes) ago/);
  }, 300_000);

  it('rpm: search answers from the repomd.xml verified before', async () => {
    const s = await newSysroot({ base: await ensureRpmBase() });
    const repoDir = join(work, 'rpmrepo');
    await buildRpm(repoDir, { name: 'offline-rpm', version: '1.0', summary: 'Found without a network', files: [{ path: '/usr/share/offline-rpm/x', content: 'x\n' }] });
    await execa('createrepo_c', ['--quiet', repoDir]);
    const { url, server } = await serve(repoDir);
    try {
      const repoFile = join(work, 'offline.repo');
      writeFileSync(repoFile, `[offline]\nname=Offline test\nbaseurl=${url}\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=0\n`);
      const args = ['search', '--sysroot', s.sysroot, '--os', s.osName, '--cache-dir', join(work, 'rpm-cache'), '--source', repoFile, 'offline'];
      const warm = await cli(args);
      expect(warm.exitCode, warm.stderr).toBe(0);
      const r = await offline(args);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^offline-rpm\/1\.0-1 noarch$/m);
      expect(r.stderr).toMatch(/warning: repository offline: unreachable .*; using the repomd\.xml verified \d+ seconds ago/);
    } finally {
      server.close();
    }
  }, 300_000);
});

describe('an unreachable source', () => {
  it('is a warning unless the request needs it', async () => {
    const s = await newSysroot({ base: await ensureDebianMinbase() });
    const dead = `deb [trusted=yes] http://127.0.0.1:${await closedPort()}/debian stable main`;
    const target = ['--sysroot', s.sysroot, '--os', s.osName, '--cache-dir', join(work, 'deb-cache-2'), '--source', dead];
    const search = await cli(['search', ...target, 'bash*']);
    expect(search.exitCode, search.stderr).toBe(0);
    expect(search.stdout).toMatch(/^bash\//m);
    expect(search.stderr).toMatch(/warning: http:\/\/127\.0\.0\.1:\d+\/debian stable \(--source\) is unreachable and has no cached index .*; its packages are left out/);
    const needed = await cli(['install', '--dry-run', ...target, 'only-on-the-dead-mirror']);
    expect(needed.exitCode).toBe(7);
    expect(needed.stderr).toMatch(/unable to locate package only-on-the-dead-mirror/);
    expect(needed.stderr).toMatch(/is unreachable/);
  }, 300_000);
});
