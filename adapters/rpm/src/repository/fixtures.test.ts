/**
 * Primary metadata written by the real createrepo_c for the shared fixture packages (upstream createrepo_c test
 * data: epochs, every sense flag, non-UTF-8 headers, a source package) reads back as `rpm -qp` reports the packages.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryTree, lineReport } from '@ostree-layer/core';
import { openRpmDatabase } from '../database.js';
import { openRpmRepositories } from './index.js';

const FIXTURES = resolve(import.meta.dirname, '../../../../../shared/fixtures/rpm/createrepo_c');
const have = existsSync(FIXTURES);
if (!have) console.warn(`skipping: ${FIXTURES} is absent (the shared fixtures are not checked out beside the repo)`);

const OPS: Record<string, string> = { '<': '<', '<=': '<=', '=': '=', '>=': '>=', '>': '>' };

function rpmQuery(file: string, kind: 'PROVIDE' | 'REQUIRE' | 'CONFLICT' | 'OBSOLETE'): string[] {
  const raw = execFileSync('rpm', ['-qp', '--qf', `[%{${kind}NAME}\\t%{${kind}FLAGS:depflags}\\t%{${kind}VERSION}\\n]`, file], { stdio: ['ignore', 'pipe', 'ignore'] });
  // rpm prints a legacy header's bytes as they are; createrepo_c turns Latin-1 names into UTF-8, as we read them.
  let out: string;
  try {
    out = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    out = raw.toString('latin1');
  }
  return out.split('\n').filter(Boolean).map((l) => {
    const [name, flags, version] = l.split('\t');
    const op = OPS[flags.trim()];
    return op && version ? `${name} ${op} ${version}` : name;
  });
}

describe.skipIf(!have && !process.env.CI)('primary.xml of the fixture packages', () => {
  const work = mkdtempSync(join(tmpdir(), 'rpm-fixture-repo-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('gives every package with the relationships rpm -qp reports', async () => {
    const repo = join(work, 'repo');
    cpSync(FIXTURES, repo, { recursive: true });
    execFileSync('createrepo_c', ['--quiet', repo]);
    const dbpath = join(work, 'usr/lib/sysimage/rpm');
    mkdirSync(dbpath, { recursive: true });
    execFileSync('rpm', ['--dbpath', dbpath, '--initdb']);
    const tree = new DirectoryTree(work);
    const database = await openRpmDatabase(tree, '/usr/lib/sysimage/rpm');
    // The fixtures are x86_64 and noarch packages.
    const set = await openRpmRepositories({ tree, database, arch: 'x86_64', report: lineReport(), cacheDir: join(work, 'cache'), extraSources: [`file://${repo}`] });
    const binaries = readdirSync(repo).filter((n) => n.endsWith('.rpm') && !n.endsWith('.src.rpm'));
    expect(set.specs().length).toBe(binaries.length);
    let compared = 0;
    for (const file of binaries) {
      const path = join(repo, file);
      const name = execFileSync('rpm', ['-qp', '--qf', '%{NAME}', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const evr = execFileSync('rpm', ['-qp', '--qf', '%{EPOCH}:%{VERSION}-%{RELEASE}', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).replace(/^\(none\):/, '');
      const shown = (set.show(name) as Array<{ dependencies: Record<string, Array<{ name: string; op?: string; version?: string }>> }>)[0];
      const spec = set.specs().find((s) => s.name === name)!;
      expect(spec.version, file).toBe(evr.replace(/^0:/, ''));
      const text = (kind: string) => (shown.dependencies[kind] ?? []).map((d) => (d.op ? `${d.name} ${d.op} ${d.version}` : d.name));
      expect(text('provides').sort(), `${file} provides`).toEqual(rpmQuery(path, 'PROVIDE').sort());
      expect(text('conflicts').sort(), `${file} conflicts`).toEqual(rpmQuery(path, 'CONFLICT').sort());
      expect(text('obsoletes').sort(), `${file} obsoletes`).toEqual(rpmQuery(path, 'OBSOLETE').sort());
      // createrepo_c leaves out rpmlib() requirements (rpm meets them itself) and exact duplicates.
      const requires = [...new Set(rpmQuery(path, 'REQUIRE').filter((r) => !r.startsWith('rpmlib(')))].sort();
      expect([...new Set(text('requires'))].sort(), `${file} requires`).toEqual(requires);
      compared++;
    }
    expect(compared).toBeGreaterThan(8);
  });
});
