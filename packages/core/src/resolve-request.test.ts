/**
 * Install by name through the plugin contract alone, with the testkit's fake format: the target's arch read from the
 * base's database, candidates from a repository over http with typed downloads, the solver with the plugin's pool
 * rules, the downloader, and a commit-only compose on a real ostree repo. No apt, dnf or root.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeBackend, fakePlugin, makeFakeTree, writeFakePackage, writeFakeRepository } from '@ostree-layer/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepoTree } from './discover/repo-tree.js';
import { ResolutionError } from './errors.js';
import { OstreeRepo } from './ostree.js';
import type { ReportEvent } from './report.js';
import { install } from './transaction.js';

let dir: string;
let repoPath: string;
let server: Server;
let source: string;
const REF = 'fake/arm';

const ostree = (...args: string[]) => execFileSync('ostree', [...args, `--repo=${repoPath}`], { encoding: 'utf8' });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'by-name-fake-'));
  repoPath = join(dir, 'repo');
  ostree('init', '--mode=bare-user-only');
  // The base runs "fake-arm": its one arch-specific package says so, whatever this host is.
  const base = await makeFakeTree(join(dir, 'base'), [
    { name: 'fake-libc', version: '2', arch: 'fake-arm', entries: [{ path: '/usr/lib', type: 'directory' }, { path: '/usr/lib/libc.so', content: 'arm\n' }] },
  ]);
  ostree('commit', `--branch=${REF}`, `--tree=dir=${base}`, '--owner-uid=0', '--owner-gid=0');
  const mirror = join(dir, 'mirror');
  const tool = (arch: string) => writeFakePackage(mirror, { name: 'tool', version: '3', arch, requires: ['tool-data'], entries: [{ path: '/usr/bin/tool', content: `${arch}\n`, mode: 0o755 }] });
  const packages = [await tool('fake-x86'), await tool('fake-arm'), await writeFakePackage(mirror, { name: 'tool-data', version: '1', entries: [{ path: '/usr/share/tool/data', content: 'data\n' }] })];
  await writeFakeRepository(mirror, packages);
  server = createServer((req, res) => {
    const path = join(mirror, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    if (!existsSync(path)) return void res.writeHead(404).end();
    res.writeHead(200);
    createReadStream(path).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  source = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('install by name through a format plugin', () => {
  it('takes the candidate of the target arch and what it requires, downloads and composes them', async () => {
    const events: ReportEvent[] = [];
    const result = await install({
      plugins: [fakePlugin], files: [], names: ['tool'], extraSources: [source], commitOnly: { repo: repoPath, ref: REF }, cacheDir: join(dir, 'cache'),
      report: { emit: (e) => events.push(e) },
    });
    expect(result.install.map((p) => `${p.name} ${p.arch}`).sort()).toEqual(['tool fake-arm', 'tool-data any']);
    expect(ostree('cat', result.commit!, '/usr/bin/tool')).toBe('fake-arm\n');
    const tree = new RepoTree(new OstreeRepo(repoPath), result.commit!);
    const database = await fakeBackend.openDatabase(tree, (await fakeBackend.detect(tree))!);
    expect((await database.packages()).map((p) => `${p.name} ${p.arch}`).sort()).toEqual(['fake-libc fake-arm', 'tool fake-arm', 'tool-data any']);
    // The repository's own message came through the report, and the download was reported as events.
    expect(events).toContainEqual({ type: 'message', text: `${source}: 3 packages` });
    expect(events.some((e) => e.type === 'download-end' && e.files === 2)).toBe(true);
  });

  it('refuses a request for an arch the target cannot run, naming it', async () => {
    const before = ostree('rev-parse', REF).trim();
    const attempt = install({ plugins: [fakePlugin], files: [], names: ['tool:fake-x86'], extraSources: [source], commitOnly: { repo: repoPath, ref: REF }, cacheDir: join(dir, 'cache'), dryRun: true });
    await expect(attempt).rejects.toThrow(ResolutionError);
    await expect(attempt).rejects.toThrow(/fake-x86/);
    expect(ostree('rev-parse', REF).trim()).toBe(before);
  });
});
