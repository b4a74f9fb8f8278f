/** The distro maintainers' verbs on pacman packages, judged by pacman itself: inspect --json against `pacman -Qip` and `-Qlp`, vercmp against `vercmp`. */
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPacmanPackage } from '@ostree-layer/testkit';
import { cli } from '../support/cli.js';

const work = mkdtempSync(join(tmpdir(), 'ostree-layer-pacman-tools-'));

/** `pacman -Qip` as key → value, continuation lines (Optional Deps) joined to their key with a newline. */
async function pacmanInfo(file: string): Promise<Map<string, string>> {
  const out = (await execa('pacman', ['-Qip', file], { env: { TZ: 'UTC', LC_ALL: 'C' } })).stdout;
  const info = new Map<string, string>();
  let last = '';
  for (const line of out.split('\n')) {
    const m = /^([A-Z][A-Za-z ]*?)\s*: (.*)$/.exec(line);
    if (m) info.set((last = m[1]!), m[2]!);
    else if (line.trim() && last) info.set(last, `${info.get(last)}\n${line.trim()}`);
  }
  return info;
}

/** A pacman list field: "None" is empty, elements are separated by two spaces (optdepends: one per line). */
const list = (value: string | undefined) => (value === undefined || value === 'None' ? [] : value.split(/ {2}|\n/).filter(Boolean));

/** pacman's humanize_size for "Installed Size": 2 decimals, the largest unit that keeps the number at or above 1 (up to 2048). */
function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (unit < units.length - 1 && (value >= 2048 || value <= -2048)) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(2)} ${units[unit]}`;
}

describe('inspect --json on pacman packages', () => {
  it('prints what pacman -Qip and -Qlp say of the same file', async () => {
    const file = await buildPacmanPackage(work, {
      name: 'inspected',
      version: '2.0',
      release: '3',
      epoch: 1,
      arch: 'x86_64',
      description: 'A package to inspect',
      depends: ['sh', 'libgreet>=1:2.0', 'greet-data=2.1'],
      optdepends: ['busybox: for the applets', 'libgreet'],
      provides: ['inspection=2.0', 'looker'],
      conflicts: ['old-inspected<1.0'],
      replaces: ['inspector'],
      groups: ['testkit-tools'],
      backup: ['/etc/inspected.conf'],
      install: 'post_install() {\n  :\n}\n',
      files: [
        { path: '/usr/bin/inspected', content: '#!/bin/sh\necho inspected\n', mode: 0o755 },
        { path: '/etc/inspected.conf', content: 'key=value\n' },
        { path: '/usr/share/inspected/link', symlink: '../../bin/inspected' },
      ],
    });
    const r = await cli(['inspect', '--json', file]);
    expect(r.exitCode, r.stderr).toBe(0);
    const [ours] = JSON.parse(r.stdout);
    const q = await pacmanInfo(file);
    expect({
      name: ours.name, version: ours.version, description: ours.description, arch: ours.arch, url: ours.url,
      licenses: ours.licenses, groups: ours.groups, provides: ours.provides, depends: ours.depends, optdepends: ours.optdepends,
      conflicts: ours.conflicts, replaces: ours.replaces, packager: ours.packager, installScript: ours.installScript ? 'Yes' : 'No',
      installedSize: humanSize(ours.installedSize), buildDate: ours.buildDate,
    }).toEqual({
      name: q.get('Name'), version: q.get('Version'), description: q.get('Description'), arch: q.get('Architecture'), url: q.get('URL'),
      licenses: list(q.get('Licenses')), groups: list(q.get('Groups')), provides: list(q.get('Provides')), depends: list(q.get('Depends On')),
      optdepends: list(q.get('Optional Deps')), conflicts: list(q.get('Conflicts With')), replaces: list(q.get('Replaces')),
      packager: q.get('Packager'), installScript: q.get('Install Script'), installedSize: q.get('Installed Size'),
      buildDate: Date.parse(`${q.get('Build Date')} GMT`) / 1000,
    });
    // -Qlp lists every payload path, directories with a trailing slash.
    const listed = (await execa('pacman', ['-Qlp', file])).stdout.split('\n').map((l) => l.replace(/^inspected /, '').replace(/(.)\/$/, '$1'));
    expect(ours.files.map((f: { path: string }) => f.path).sort()).toEqual(listed.sort());
    expect(ours.files).toContainEqual(expect.objectContaining({ path: '/etc/inspected.conf', type: 'file', config: true, size: 10 }));
    expect(ours.files).toContainEqual(expect.objectContaining({ path: '/usr/share/inspected/link', type: 'symlink', linkTarget: '../../bin/inspected' }));
  });
});

describe('vercmp --backend pacman', () => {
  it('answers as pacman\'s vercmp does, through the command', async () => {
    const pairs: Array<[string, string]> = [['1.0a', '1.0'], ['1.0', '1.0-5'], ['1:0.1', '2.0'], ['1.0..0', '1.0.0'], ['1.0rc1', '1.0'], ['', '1'], ['1.0-2', '1.0-10'], ['007', '7']];
    for (const [a, b] of pairs) {
      const expected = Number((await execa('vercmp', [a, b])).stdout);
      const ops: Array<[string, boolean]> = [['<', expected < 0], ['=', expected === 0], ['>', expected > 0]];
      for (const [op, holds] of ops) {
        const ours = await cli(['vercmp', '--backend', 'pacman', a, op, b]);
        expect(ours.exitCode, `${a} ${op} ${b}: ${ours.stderr}`).toBe(holds ? 0 : 1);
      }
    }
  });

  it('refuses an operator pacman does not have, as a usage error', async () => {
    const r = await cli(['vercmp', '--backend', 'pacman', '1', 'lt-nl', '2']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('unknown relation');
  });
});
