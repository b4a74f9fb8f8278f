/** The distro maintainers' verbs, judged by the real tools: inspect --json against dpkg-deb and rpm, vercmp against dpkg. */
import { execa } from 'execa';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDeb, buildRpm } from '@ostree-layer/testkit';
import { cli } from '../support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'ostree-layer-cli-'));

describe('inspect --json', () => {
  it('describes a .deb and an .rpm in one array, as dpkg-deb and rpm list them', async () => {
    const deb = await buildDeb(work, {
      name: 'inspected',
      version: '1:2.0-3',
      arch: 'amd64',
      depends: 'libc6 (>= 2.36), foo | bar',
      files: [{ path: '/usr/bin/inspected', content: '#!/bin/sh\n', mode: 0o755 }, { path: '/usr/share/inspected/link', symlink: '../../bin/inspected' }],
    });
    const rpm = await buildRpm(work, { name: 'inspected-rpm', version: '2.0', release: '3', epoch: 1, requires: ['bash >= 5'], files: [{ path: '/usr/bin/inspected-rpm', content: 'x', mode: 0o755 }] });
    const r = await cli(['inspect', '--json', deb, rpm]);
    expect(r.exitCode, r.stderr).toBe(0);
    const [d, p] = JSON.parse(r.stdout);
    expect(d).toMatchObject({ name: 'inspected', version: '1:2.0-3', arch: 'amd64' });
    expect(JSON.stringify(d.relations.Depends)).toContain('"libc6"');
    // dpkg-deb lists the archive root "./" too; a payload has no entry for it.
    const listed = (await execa('dpkg-deb', ['-c', deb])).stdout.split('\n').filter((l) => l && !l.endsWith(' ./'));
    expect(d.files).toHaveLength(listed.length);
    expect(d.files).toContainEqual(expect.objectContaining({ path: '/usr/bin/inspected', type: 'file', mode: 0o755, user: 'root', group: 'root', size: 10 }));
    expect(d.files).toContainEqual(expect.objectContaining({ path: '/usr/share/inspected/link', type: 'symlink', linkTarget: '../../bin/inspected' }));
    const q = (await execa('rpm', ['-qp', '--qf', '%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH}', rpm])).stdout;
    expect(`${p.name} ${p.epoch} ${p.version} ${p.release} ${p.arch}`).toBe(q);
    expect(p.files.map((f: { path: string }) => f.path)).toEqual((await execa('rpm', ['-qpl', rpm])).stdout.split('\n'));
  });

  it('refuses a file no backend knows, naming it', async () => {
    const r = await cli(['inspect', '--json', '/etc/hostname']);
    // Not a package: a bad package file (3), like a truncated one; a missing file would be a usage error (2).
    expect(r.exitCode).toBe(3);
    expect(JSON.parse(r.stdout).error.message).toContain('/etc/hostname');
  });
});

describe('vercmp', () => {
  it.each([
    ['1.0~rc1', 'lt', '1.0'],
    ['1:0.9', 'gt', '2.0'],
    ['1.0-1', 'eq', '1.0-1'],
    ['1.0a', 'lt', '1.0+b1'],
    ['2.0', 'le', '1.9'],
  ])('%s %s %s exits as dpkg --compare-versions does', async (a, op, b) => {
    const ours = await cli(['vercmp', a, op, b]);
    const dpkg = await execa('dpkg', ['--compare-versions', a, op, b], { reject: false });
    expect(ours.exitCode).toBe(dpkg.exitCode);
  });
});

describe('help and version', () => {
  it('`help`, `--help` and `--version` exit 0; no verb at all is a usage error', async () => {
    const help = await cli(['help']);
    expect(help.exitCode).toBe(0);
    for (const verb of ['install', 'uninstall', 'search', 'show', 'status', 'vercmp', 'inspect']) expect(help.stdout).toMatch(new RegExp(`^  ${verb}\\b`, 'm'));
    expect((await cli(['install', '--help'])).stdout).toMatch(/--dry-run/);
    const version = await cli(['--version']);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(import.meta.dirname, '../../packages/cli/package.json'), 'utf8')).version);
    expect((await cli([])).exitCode).toBe(2);
  });

  it('the bin npm links (packages/cli/package.json) is a committed file that runs the built command', async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../packages/cli/package.json'), 'utf8'));
    const bin = join(import.meta.dirname, '../../packages/cli', pkg.bin['ostree-layer']);
    const tracked = await execa('git', ['ls-files', '--error-unmatch', bin], { cwd: join(import.meta.dirname, '../..'), reject: false });
    expect(tracked.exitCode, `${bin} must be committed: npm links no bin missing at npm ci time`).toBe(0);
    const r = await execa(bin, ['vercmp', '1.0~rc1', 'lt', '1.0'], { reject: false });
    expect(r.exitCode).toBe(0);
  });
});
