#!/usr/bin/env node
// Benchmark (not a test): load the bookworm main index the minbase deployment is configured for and resolve
// `gnome-core` on top of it through the real install-by-name path (planByName), cold (index text decompressed and
// scanned) and warm (compact cache), against `apt-get -s install gnome-core` with the minbase status and a private
// apt state in the same run. Prints wall time and peak RSS of each and the ratios (goal: at most 0.2x apt's time).
//
//   node test/bench/apt-resolve.mjs [--request NAME]
//
// Needs root, `npx tsc -b`, and the archive reachable the first time (the index is then kept in the test cache).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const request = opt('--request', 'gnome-core');

if (args.includes('--child')) {
  // One measured run in its own process, so that its peak RSS is its own.
  const { DirectoryTree, planByName } = await import('../../packages/core/dist/index.js');
  const { dpkgBackend, dpkgRepositories } = await import('../../adapters/dpkg/dist/index.js');
  const dir = opt('--deployment');
  const started = performance.now();
  const tree = new DirectoryTree(dir);
  const location = await dpkgBackend.detect(tree);
  const database = await dpkgBackend.openDatabase(tree, location);
  const plan = await planByName({ repositories: dpkgRepositories, tree, database, names: [request], cacheDir: opt('--cache') });
  const ms = performance.now() - started;
  process.stdout.write(JSON.stringify({ ms, rssKiB: process.resourceUsage().maxRSS, install: plan.install.length, stats: plan.stats }) + '\n');
  process.exit(0);
}

const { ensureDebianMinbase, makeSysroot, resolveCacheDir } = await import('../../packages/testkit/dist/index.js');
const sysroot = await makeSysroot({ base: await ensureDebianMinbase() });
const work = mkdtempSync(join(tmpdir(), 'ostree-layer-bench-apt-'));
try {
  const deployment = sysroot.deploymentDir();
  const shared = join(resolveCacheDir(), 'ostree-layer');
  const child = (cache) => {
    const r = spawnSync(process.execPath, [import.meta.filename, '--child', '--deployment', deployment, '--cache', cache, '--request', request], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
  };
  // Make sure the compressed index is downloaded once (network time is not what this measures).
  child(shared);
  const cold = () => {
    const cache = join(work, `cold-${Math.random().toString(36).slice(2)}`);
    mkdirSync(join(cache, 'dpkg'), { recursive: true });
    cpSync(join(shared, 'dpkg/indexes'), join(cache, 'dpkg/indexes'), { recursive: true });
    return child(cache);
  };
  const best = (fn, n) => Array.from({ length: n }, fn).sort((a, b) => a.ms - b.ms)[0];
  const coldRun = best(cold, 2);
  const warmRun = best(() => child(shared), 3);

  const aptDir = join(resolveCacheDir(), 'apt');
  const status = join(deployment, 'usr/lib/sysimage/dpkg/status');
  const aptArgs = [
    '-o', `Dir::State::Lists=${aptDir}/lists`, '-o', `Dir::Cache=${join(work, 'aptcache')}`, '-o', `Dir::State::status=${status}`,
    '-o', `Dir::Etc::SourceList=${join(deployment, 'usr/etc/apt/sources.list')}`, '-o', 'Dir::Etc::SourceParts=/nonexistent',
    '-o', 'Debug::NoLocking=1', '-o', 'APT::Sandbox::User=root',
  ];
  mkdirSync(join(work, 'aptcache/archives/partial'), { recursive: true });
  // A fresh clone has no apt state in the test cache yet: apt-get update below fills it.
  mkdirSync(join(aptDir, 'lists/partial'), { recursive: true });
  if (!readdirSync(join(aptDir, 'lists')).some((f) => f.includes('_bookworm_main_binary-amd64_Packages'))) {
    spawnSync('apt-get', [...aptArgs, '-q', 'update'], { stdio: 'inherit' });
  }
  // The whole command as a user runs it (the bin through its shebang, with its node flags): CLI start-up, discover, index loading, solving, printing the plan.
  const cliRun = () => {
    const bin = join(import.meta.dirname, '../../packages/cli/bin/ostree-layer.js');
    const r = spawnSync('/usr/bin/time', ['-f', '%e %M', bin, 'install', '--dry-run', '--json', '--sysroot', sysroot.sysroot, '--os', sysroot.osName, '--cache-dir', shared, request], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`ostree-layer install --dry-run failed: ${r.stderr}`);
    const [secs, kib] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
    return { ms: secs * 1000, rssKiB: kib, install: JSON.parse(r.stdout).install.length };
  };
  cliRun();
  const cliWarm = best(cliRun, 3);
  const aptRun = () => {
    const r = spawnSync('/usr/bin/time', ['-f', '%e %M', 'apt-get', ...aptArgs, '-s', 'install', request], { encoding: 'utf8' });
    const [secs, kib] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
    return { ms: secs * 1000, rssKiB: kib, install: (r.stdout.match(/^Inst /gm) ?? []).length };
  };
  const aptCold = aptRun(); // builds its pkgcache.bin in the fresh Dir::Cache
  const aptWarm = best(aptRun, 2);

  const row = (name, r) => `${name.padEnd(26)} ${(r.ms / 1000).toFixed(2).padStart(7)} s ${String(Math.round(r.rssKiB / 1024)).padStart(6)} MiB  ${r.install} packages`;
  console.log(`resolve ${request} from the bookworm minbase (bookworm main index)`);
  console.log(row('ostree-layer cold cache', coldRun));
  console.log(row('ostree-layer warm cache', warmRun));
  console.log(row('ostree-layer CLI warm', cliWarm));
  console.log(row('apt-get -s (new pkgcache)', aptCold));
  console.log(row('apt-get -s (warm pkgcache)', aptWarm));
  console.log(`solver: ${warmRun.stats.poolSize} packages in the pool, load ${warmRun.stats.loadMs.toFixed(0)} ms, solve ${warmRun.stats.solveMs.toFixed(0)} ms, ${warmRun.stats.decisions} decisions, ${warmRun.stats.conflicts} conflicts`);
  console.log(`time ratio warm/apt-warm: ${(warmRun.ms / aptWarm.ms).toFixed(2)}x (goal <= 0.2x); cold/apt-cold: ${(coldRun.ms / aptCold.ms).toFixed(2)}x`);
  console.log(`whole CLI (install --dry-run, warm cache)/apt-warm: ${(cliWarm.ms / aptWarm.ms).toFixed(2)}x (goal <= 0.2x)`);
  console.log(`peak RSS ratio warm/apt: ${(warmRun.rssKiB / aptWarm.rssKiB).toFixed(2)}x; whole CLI/apt: ${(cliWarm.rssKiB / aptWarm.rssKiB).toFixed(2)}x (goal <= 1)`);
} finally {
  await sysroot.dispose();
  rmSync(work, { recursive: true, force: true });
}
