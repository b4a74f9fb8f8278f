/**
 * Progress as a user sees it: on a pseudo-terminal (`script`), a redrawn download line with totals, speed and ETA and
 * a line per phase with its time; piped, the same lines without terminal control codes; with --json, nothing on
 * stderr and one JSON document on stdout. Real sysroot, packages served over HTTP from a signed local mirror.
 */
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDebianMinbase, makeSysroot, type Sysroot } from '@ostree-layer/testkit';
import { CLI } from '../support/cli.js';
import { buildMirror, makeKey, serve } from './apt-mirror-kit.js';

let work: string;
let s: Sysroot;
let source: string;
let server: Awaited<ReturnType<typeof serve>>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-progress-'));
  const key = await makeKey(work, 'progress');
  const big = (name: string) => ({ name, version: '1.0', files: [{ path: `/usr/share/${name}/blob`, content: `${name}\n`.repeat(200_000) }] });
  const mirror = await buildMirror(join(work, 'mirror'), { key, debs: [big('tty-pkg'), big('pipe-pkg'), big('json-pkg')] });
  server = await serve(mirror);
  source = `deb [signed-by=${key.gpg}] ${server.url} stable main`;
  s = await makeSysroot({ base: await ensureDebianMinbase() });
});
afterAll(async () => {
  server?.server.close();
  await s?.dispose();
  if (work) await rm(work, { recursive: true, force: true });
});

function installArgs(name: string): string[] {
  return ['install', '--sysroot', s.sysroot, '--os', s.osName, '--cache-dir', join(work, 'cache'), '--source', source, name];
}

const PHASE_LINE = (phase: string) => new RegExp(`(^|\\x1b\\[K)${phase} +\\d+(\\.\\d)? (ms|s)\\r?$`, 'm');

describe('progress', () => {
  it('on a terminal: one download line with total, speed and ETA, then a line per phase with its time', async () => {
    const command = ['node', CLI, ...installArgs('tty-pkg')].map((a) => `'${a}'`).join(' ');
    const r = await execa('script', ['-q', '-e', '-c', command, '/dev/null'], { reject: false });
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\r\x1b\[KDownloading [\d.]+ k?B of [\d.]+ [kM]B \(\d+%\), [\d.]+ k?M?B\/s, ETA (\d+:\d\d|--:--)/);
    expect(r.stdout).toMatch(/(^|\x1b\[K)Fetched [\d.]+ [kM]B in \d+(\.\d)? m?s \([\d.]+ [kMG]?B\/s\)/m);
    for (const phase of ['Resolve', 'Download', 'Import', 'Database', 'Compose', 'Deploy']) expect(r.stdout).toMatch(PHASE_LINE(phase));
  }, 300_000);

  it('piped: the same lines without terminal control codes', async () => {
    const r = await execa('node', [CLI, ...installArgs('pipe-pkg')], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/\r|\x1b/);
    expect(r.stderr).toMatch(/^Downloading [\d.]+ [kM]B \(1 files, 0 B already in the cache\)$/m);
    for (const phase of ['Import', 'Database', 'Compose', 'Deploy']) expect(r.stderr).toMatch(PHASE_LINE(phase));
  }, 300_000);

  it('with --json: nothing on stderr, one JSON document on stdout', async () => {
    const r = await execa('node', [CLI, ...installArgs('json-pkg'), '--json'], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ deployed: true, install: [expect.objectContaining({ name: 'json-pkg' })] });
  }, 300_000);
});
