/**
 * rpm-md repositories made by the real createrepo_c from rpmbuild-made packages, signed with a fresh gpg key:
 * loaded, verified, turned into solver specs and solved with the shared solver.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryTree, lineReport, Pool, solve, VerificationError } from '@ostree-layer/core';
import { openRpmDatabase } from '../database.js';
import { buildRpm, type RpmSpec } from '@ostree-layer/testkit';
import { rpmPoolOptions, rpmSolverPolicy, parseRpmRequest } from '../resolve-model.js';
import { openRpmRepositories, verifyRpmDownload } from './index.js';
import { readRepoConfigs, substitute } from './config.js';

let work: string;
let gnupg: string;
let key: string;
const treeDir = () => join(work, 'tree');

const SPECS: RpmSpec[] = [
  { name: 'libfoo', version: '1.0', arch: 'x86_64', provides: ['libfoo.so.1()(64bit)'], files: [{ path: '/usr/lib64/libfoo.so.1', content: 'lib' }] },
  { name: 'libfoo', version: '1.1', arch: 'x86_64', provides: ['libfoo.so.1()(64bit)'], files: [{ path: '/usr/lib64/libfoo.so.1', content: 'lib11' }] },
  { name: 'helper', version: '2', files: [{ path: '/usr/bin/helper', content: '#!/bin/sh\n', mode: 0o755 }] },
  { name: 'data', version: '1', files: [{ path: '/usr/share/data/table.dat', content: 'x' }] },
  {
    name: 'app', version: '3', arch: 'x86_64',
    requires: ['libfoo.so.1()(64bit)', '/usr/bin/helper', '/usr/share/data/table.dat', '(fancy or plain)', 'rpmlib(RichDependencies) <= 4.12.0-1'],
    recommends: ['extras'],
    files: [{ path: '/usr/bin/app', content: 'app', mode: 0o755 }],
  },
  { name: 'plain', version: '1', files: [{ path: '/usr/share/plain', content: 'p' }] },
  { name: 'fancy', version: '1', requires: ['missing-thing'], files: [{ path: '/usr/share/fancy', content: 'f' }] },
  { name: 'extras', version: '1', files: [{ path: '/usr/share/extras', content: 'e' }] },
  { name: 'app-addon', version: '1', supplements: ['app'], files: [{ path: '/usr/share/addon', content: 'a' }] },
];

function gpg(...args: string[]): string {
  return execFileSync('gpg', ['--homedir', gnupg, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

function makeRepo(name: string, compress: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  for (const f of readdirSync(join(work, 'rpms')).filter((n) => n.endsWith('.rpm'))) writeFileSync(join(dir, f), readFileSync(join(work, 'rpms', f)));
  // Debian's createrepo_c 0.17 cannot write zstd: recompress primary by hand and point repomd.xml at it.
  execFileSync('createrepo_c', ['--quiet', `--general-compress-type=${compress === 'zstd' ? 'gz' : compress}`, dir]);
  if (compress === 'zstd') zstdPrimary(dir);
  gpg('--detach-sign', '--armor', '--yes', '--output', join(dir, 'repodata/repomd.xml.asc'), join(dir, 'repodata/repomd.xml'));
  return dir;
}

function zstdPrimary(dir: string): void {
  const repodata = join(dir, 'repodata');
  const gz = readdirSync(repodata).find((n) => n.endsWith('primary.xml.gz'))!;
  const zst = join(repodata, 'primary.xml.zst');
  execFileSync('sh', ['-c', `gzip -dc "${join(repodata, gz)}" | zstd -q -o "${zst}"`]);
  rmSync(join(repodata, gz));
  const sum = createHash('sha256').update(readFileSync(zst)).digest('hex');
  const md = join(repodata, 'repomd.xml');
  const size = readFileSync(zst).length;
  const text = readFileSync(md, 'utf8')
    .replace(/(<data type="primary">\s*<checksum type="sha256">)[0-9a-f]+/, `$1${sum}`)
    .replace(/(<data type="primary">[\s\S]*?<size>)\d+/, `$1${size}`)
    .replace(`repodata/${gz}`, 'repodata/primary.xml.zst');
  writeFileSync(md, text);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rpm-repo-'));
  gnupg = join(work, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  gpg('--quick-gen-key', 'Repo Signer <repo@example.org>', 'rsa2048', 'sign', 'never');
  key = join(work, 'RPM-GPG-KEY-test');
  writeFileSync(key, gpg('--armor', '--export'));
  for (const spec of SPECS) await buildRpm(join(work, 'rpms'), spec);
  const rpms = readdirSync(join(work, 'rpms')).filter((n) => n.endsWith('.rpm')).map((n) => join(work, 'rpms', n));
  execFileSync('rpmsign', ['--define', '_gpg_name repo@example.org', '--define', `_gpg_path ${gnupg}`, '--define', '__gpg /usr/bin/gpg', '--addsign', ...rpms], { stdio: 'ignore' });
  mkdirSync(join(treeDir(), 'usr/lib'), { recursive: true });
  writeFileSync(join(treeDir(), 'usr/lib/os-release'), 'ID=test\nVERSION_ID="40"\n');
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The test tree as a repository target: an empty rpmdb made by the real rpm, x86_64 as the packages here. */
async function target() {
  const dbpath = join(treeDir(), 'usr/lib/sysimage/rpm');
  if (!existsSync(dbpath)) {
    mkdirSync(dbpath, { recursive: true });
    execFileSync('rpm', ['--dbpath', dbpath, '--initdb']);
  }
  const tree = new DirectoryTree(treeDir());
  return { tree, database: await openRpmDatabase(tree, '/usr/lib/sysimage/rpm'), arch: 'x86_64', report: lineReport() };
}

async function open(repo: string, options: string, cache = join(work, `cache-${Math.random()}`)) {
  return openRpmRepositories({ ...(await target()), cacheDir: cache, extraSources: [`file://${repo} ${options}`] });
}

describe('rpm-md repositories', () => {
  it.each(['gz', 'xz', 'zstd'])('reads a %s-compressed primary with every package and its dependencies', async (compress) => {
    const set = await open(makeRepo(`repo-${compress}`, compress), `repo_gpgcheck=1 gpgcheck=1 gpgkey=file://${key}`);
    const specs = set.specs();
    expect(specs.map((s) => `${s.name}-${s.version}.${s.arch}`).sort()).toEqual(
      ['app-3-1.x86_64', 'app-addon-1-1.noarch', 'data-1-1.noarch', 'extras-1-1.noarch', 'fancy-1-1.noarch', 'helper-2-1.noarch',
        'libfoo-1.0-1.x86_64', 'libfoo-1.1-1.x86_64', 'plain-1-1.noarch'],
    );
    const app = specs.find((s) => s.name === 'app')!;
    // rpmlib() is met internally; the rich dependency is a tree; Supplements became a Recommends on app.
    expect(JSON.stringify(app.requires)).not.toContain('rpmlib');
    expect(app.requires).toContainEqual({ op: 'or', args: [{ op: 'atom', alt: { name: 'fancy' } }, { op: 'atom', alt: { name: 'plain' } }] });
    expect(app.recommends).toContainEqual([{ name: 'app-addon', op: '=', version: '1-1' }]);
    const download = app.download;
    expect(download.url).toMatch(/^file:\/\/.*\/app-3-1\.x86_64\.rpm$/);
    expect(download.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(download.verify?.keys[0]).toContain('BEGIN PGP PUBLIC KEY');
    // /usr/share/data/table.dat is not in primary's file subset: it came from filelists.
    expect(specs.find((s) => s.name === 'data')!.provides).toContainEqual({ name: '/usr/share/data/table.dat' });
  });

  it('solves app the way dnf would: newest libfoo, plain over the broken fancy, recommends and supplements', async () => {
    const set = await open(makeRepo('repo-solve', 'gz'), '');
    const pool = new Pool(rpmPoolOptions('x86_64'));
    for (const s of set.specs()) pool.add(s);
    const tx = solve(pool, [parseRpmRequest('app')], { policy: rpmSolverPolicy('x86_64') });
    expect(tx.install.map((s) => `${s.package.name}-${s.package.version}`).sort()).toEqual(
      ['app-3-1', 'app-addon-1-1', 'data-1-1', 'extras-1-1', 'helper-2-1', 'libfoo-1.1-1', 'plain-1-1'],
    );
    const noWeak = solve(pool, [parseRpmRequest('app')], { policy: rpmSolverPolicy('x86_64'), recommends: false });
    expect(noWeak.install.map((s) => s.package.name)).not.toContain('extras');
  });

  it('refuses a repomd.xml whose signature does not verify', async () => {
    const repo = makeRepo('repo-badsig', 'gz');
    const md = join(repo, 'repodata/repomd.xml');
    writeFileSync(md, readFileSync(md, 'utf8').replace('<revision>', '<revision>1'));
    await expect(open(repo, `repo_gpgcheck=1 gpgkey=file://${key}`)).rejects.toThrow(/does not verify/);
    await expect(open(repo, `repo_gpgcheck=1 gpgkey=file://${key}`)).rejects.toBeInstanceOf(VerificationError);
  });

  it('refuses a primary.xml that does not match repomd.xml', async () => {
    const repo = makeRepo('repo-tampered', 'gz');
    const primary = readdirSync(join(repo, 'repodata')).find((n) => n.includes('primary.xml'))!;
    const bytes = readFileSync(join(repo, 'repodata', primary));
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(join(repo, 'repodata', primary), bytes);
    await expect(open(repo, '')).rejects.toThrow(/repomd\.xml says/);
  });

  it('refuses a primary.xml longer than repomd.xml says, before reading it to the end', async () => {
    const repo = makeRepo('repo-padded', 'gz');
    const primary = readdirSync(join(repo, 'repodata')).find((n) => n.includes('primary.xml'))!;
    const size = readFileSync(join(repo, 'repodata', primary)).length;
    const md = join(repo, 'repodata/repomd.xml');
    // The same file, but the metadata says it is shorter: a mirror sending more than promised is cut off.
    writeFileSync(md, readFileSync(md, 'utf8').replace(new RegExp(`(<location href="repodata/${primary}"/>\\s*(?:<timestamp>\\d+</timestamp>\\s*)?<size>)${size}<`), `$1${size - 100}<`));
    expect(readFileSync(md, 'utf8')).toContain(`<size>${size - 100}</size>`);
    await expect(open(repo, '')).rejects.toThrow(`the server sends more than ${size - 100} bytes`);
  });

  it('checks package signatures against the repository key when gpgcheck=1', async () => {
    const set = await open(makeRepo('repo-pkgsig', 'gz'), `gpgcheck=1 gpgkey=file://${key}`);
    const helper = set.specs().find((s) => s.name === 'helper')!.download;
    const file = new URL(helper.url).pathname;
    await expect(verifyRpmDownload(file, helper)).resolves.toBeUndefined();
    const otherHome = join(work, 'other-gnupg');
    mkdirSync(otherHome, { mode: 0o700 });
    execFileSync('gpg', ['--homedir', otherHome, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--quick-gen-key', 'Other <o@example.org>', 'rsa2048', 'sign', 'never'], { stdio: 'ignore' });
    const other = execFileSync('gpg', ['--homedir', otherHome, '--armor', '--export'], { encoding: 'utf8' });
    await expect(verifyRpmDownload(file, { ...helper, verify: { keys: [other] } })).rejects.toBeInstanceOf(VerificationError);
  });

  it('loads over http://, then answers from the parsed cache keyed by the primary checksum', async () => {
    const repo = makeRepo('repo-http', 'xz');
    const server = createServer((req, res) => {
      const path = join(repo, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      if (!existsSync(path)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200);
      createReadStream(path).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const cache = join(work, 'cache-http');
      const opened = await target();
      const source = [`http://127.0.0.1:${port} repo_gpgcheck=1 gpgkey=file://${key}`];
      const first = await openRpmRepositories({ ...opened, cacheDir: cache, extraSources: source });
      const app = first.specs().find((s) => s.name === 'app')!.download;
      expect(app.url).toBe(`http://127.0.0.1:${port}/app-3-1.x86_64.rpm`);
      expect(readdirSync(join(cache, 'rpm')).some((n) => /^primary-[0-9a-f]{64}\.json$/.test(n))).toBe(true);
      // With the metadata files gone from the server, only repomd.xml (and its signature) is fetched again.
      for (const n of readdirSync(join(repo, 'repodata'))) if (!n.startsWith('repomd')) rmSync(join(repo, 'repodata', n));
      const again = await openRpmRepositories({ ...opened, cacheDir: cache, extraSources: source });
      expect(again.specs().length).toBe(first.specs().length);
      expect(again.search('lib*').map((p) => `${p.name}-${p.version}`).sort()).toEqual(['libfoo-1.0-1', 'libfoo-1.1-1']);
      expect(again.show('helper')[0]).toMatchObject({ name: 'helper', version: '2', release: '1', arch: 'noarch' });
    } finally {
      server.close();
    }
  });

  it('reads .repo files from /usr/etc and /etc with $releasever and $basearch', async () => {
    const dir = join(work, 'conf-tree');
    mkdirSync(join(dir, 'usr/etc/yum.repos.d'), { recursive: true });
    mkdirSync(join(dir, 'etc/yum.repos.d'), { recursive: true });
    writeFileSync(join(dir, 'usr/etc/yum.repos.d/a.repo'), '[fedora]\nname=Fedora $releasever\nbaseurl=http://m/$releasever/$basearch/\n  http://n/$releasever/\ngpgcheck=1\n\n[off]\nbaseurl=file:///x\nenabled=0\n');
    writeFileSync(join(dir, 'etc/yum.repos.d/b.repo'), '[fedora]\nbaseurl=http://local/\ngpgcheck=no\n');
    const configs = await readRepoConfigs(new DirectoryTree(dir), { releasever: '40', basearch: 'x86_64', arch: 'x86_64' });
    expect(configs.find((c) => c.id === 'fedora')).toMatchObject({ baseurls: ['http://local'], gpgcheck: false });
    expect(configs.find((c) => c.id === 'off')?.enabled).toBe(false);
    const usrOnly = await readRepoConfigs(new DirectoryTree(dir), { releasever: '40', basearch: 'x86_64', arch: 'x86_64' }, []);
    expect(usrOnly.length).toBe(2);
    expect(substitute('http://m/$releasever/${basearch}/', { releasever: '40', basearch: 'i386', arch: 'i686' })).toBe('http://m/40/i386/');
    rmSync(join(dir, 'etc'), { recursive: true });
    const fromUsr = await readRepoConfigs(new DirectoryTree(dir), { releasever: '40', basearch: 'x86_64', arch: 'x86_64' });
    expect(fromUsr.find((c) => c.id === 'fedora')).toMatchObject({ baseurls: ['http://m/40/x86_64', 'http://n/40'], name: 'Fedora 40', gpgcheck: true });
  });
});
