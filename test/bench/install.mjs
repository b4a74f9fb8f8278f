// Benchmark (not a test): compose cost against base size, and a whole install (the library call, and the command as a
// process) against the naive recipe and dpkg.
// Run with scripts/bench (root, Debian's archive reachable). Prints medians of a few runs and the ratios.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { install } from '@ostree-layer/core';
import { dpkgPlugin } from '@ostree-layer/dpkg';
import { aptDownloadClosure, ensureDebianMinbase, makeSysroot, removeTree, resolveCacheDir, withFileLock } from '@ostree-layer/testkit';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', ...opts }).trim();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = (fn) => async () => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};
const fmt = (ms) => `${ms.toFixed(1)} ms`;

const base = await ensureDebianMinbase();
const work = mkdtempSync(join(tmpdir(), 'ostree-layer-bench-'));

/** The minbase plus ~80k small files: a base ten times larger, cached in the testkit repo. */
async function largeBase() {
  const ref = 'bench/minbase-x10';
  const cacheDir = resolveCacheDir();
  return withFileLock(join(cacheDir, 'bench-x10.lock'), async () => {
    try {
      return { ...base, ref, commit: sh('ostree', [`--repo=${base.repo}`, 'rev-parse', ref]) };
    } catch {
      const dir = join(work, 'filler');
      for (let d = 0; d < 400; d++) {
        const sub = join(dir, 'usr/share/bench-filler', String(d));
        mkdirSync(sub, { recursive: true });
        for (let f = 0; f < 200; f++) writeFileSync(join(sub, `f${f}`), `${d}/${f}\n`);
      }
      sh('ostree', [`--repo=${base.repo}`, 'commit', `--branch=${ref}`, `--tree=ref=${base.ref}`, `--tree=dir=${dir}`, '--subject=bench x10']);
      rmSync(dir, { recursive: true, force: true });
      return { ...base, ref, commit: sh('ostree', [`--repo=${base.repo}`, 'rev-parse', ref]) };
    }
  });
}

const probe = await makeSysroot({ base });
const debs = await aptDownloadClosure(['htop'], join(probe.deploymentDir(), 'usr/lib/sysimage/dpkg/status'), join(resolveCacheDir(), 'bench-debs'));
await probe.dispose();
const big = await largeBase();
const files = (ref) => Number(sh('sh', ['-c', `ostree --repo=${base.repo} ls -R ${ref} | wc -l`]));
console.log(`packages: ${debs.map((d) => d.split('/').pop()).join(' ')}`);
console.log(`bases: ${base.ref} (${files(base.ref)} entries), ${big.ref} (${files(big.ref)} entries)`);

/**
 * Setting up a sysroot writes the whole base (pull-local, deploy); `ostree admin deploy` and dpkg sync the file
 * system, so without a sync before the clock starts each side would be timed flushing its set-up.
 */
const settle = () => execFileSync('sync');

async function ours(image) {
  const s = await makeSysroot({ base: image });
  settle();
  try {
    const t = performance.now();
    const r = await install({ plugins: [dpkgPlugin], files: debs, sysroot: s.sysroot, osName: s.osName });
    return { total: performance.now() - t, compose: r.timings.compose, timings: r.timings };
  } finally {
    await s.dispose();
  }
}

/** The same install as users run it: the `ostree-layer` command, a process whose start-up and module loading count. */
const BIN = new URL('../../packages/cli/bin/ostree-layer.js', import.meta.url).pathname;
async function oursCommand(image) {
  const s = await makeSysroot({ base: image });
  settle();
  try {
    const t = performance.now();
    const out = execFileSync(BIN, ['install', '--sysroot', s.sysroot, '--os', s.osName, ...debs, '--json'], { encoding: 'utf8' });
    const total = performance.now() - t;
    return { total, deploy: JSON.parse(out).timings.deploy ?? 0 };
  } finally {
    await s.dispose();
  }
}

async function naive(image) {
  const s = await makeSysroot({ base: image });
  const dir = join(work, 'naive');
  settle();
  try {
    return await time(async () => {
      for (const deb of debs) sh('dpkg-deb', ['-x', deb, dir]);
      // The least a naive recipe needs to compose at all: usrmerge directories and /etc moved under /usr.
      sh('sh', ['-c', `cd ${dir} && for d in lib lib64 bin sbin etc; do [ -d $d ] && mkdir -p usr/$d && cp -a $d/. usr/$d/ && rm -rf $d; done; true`]);
      const commit = sh('ostree', [`--repo=${s.repo}`, 'commit', '--orphan', `--tree=ref=${image.commit}`, `--tree=dir=${dir}`]);
      sh('ostree', ['admin', 'deploy', `--sysroot=${s.sysroot}`, `--os=${s.osName}`, commit]);
    })();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await s.dispose();
  }
}

/**
 * The real tools on a mutable copy of the same base: `dpkg -i` and `apt-get install` of the same files. A real copy
 * (`--force-copy`), not hardlinks into the cache repo: the tools then write files as on a normal system, and cannot
 * change a repo object in place.
 */
async function mutableChroot(command) {
  const root = join(work, 'chroot');
  sh('ostree', [`--repo=${base.repo}`, 'checkout', '-U', '--force-copy', base.commit, root]);
  sh('sh', ['-c', `cd ${root} && rm -rf etc && mv usr/etc etc && mkdir -p var/lib var/log/apt var/cache/apt/archives/partial var/lib/apt/lists/partial && mv usr/lib/sysimage/dpkg var/lib/dpkg && mkdir -p tmp/debs`]);
  for (const deb of debs) cpSync(deb, join(root, 'tmp/debs', deb.split('/').pop()));
  settle();
  try {
    return await time(async () => sh('chroot', [root, 'sh', '-c', `${command} >/dev/null 2>&1`]))();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const results = { small: [], big: [], command: [], naive: [], dpkg: [], apt: [] };
for (let i = 0; i < RUNS; i++) {
  results.small.push(await ours(base));
  results.big.push(await ours(big));
  results.command.push(await oursCommand(base));
  results.naive.push(await naive(base));
  results.dpkg.push(await mutableChroot('dpkg -i /tmp/debs/*.deb'));
  results.apt.push(await mutableChroot('apt-get install -y /tmp/debs/*.deb'));
}
// Ratios of each run's pair, then their median: steadier than a ratio of medians on a machine others share.
const pairs = (f, series = results.small) => median(series.map((r, i) => f(r, i)));
const composeSmall = median(results.small.map((r) => r.compose));
const composeBig = median(results.big.map((r) => r.compose));
const totalSmall = median(results.small.map((r) => r.total));
const beforeDeploy = (r) => r.total - (r.timings.deploy ?? 0);
console.log(`\ncompose onto the 9k base: ${fmt(composeSmall)}; onto the 10x base: ${fmt(composeBig)}; ratio ${(composeBig / composeSmall).toFixed(2)} (goal ≈ 1)`);
console.log(`whole install, 9k base: ${fmt(totalSmall)}; 10x base: ${fmt(median(results.big.map((r) => r.total)))}`);
console.log(`  phases (last run): ${JSON.stringify(results.small.at(-1).timings)}`);
// Per run, to tell a slow phase from time outside the phases (locks, start-up, clean-up) and from a noisy neighbour.
const phaseSum = (r) => Object.values(r.timings).reduce((a, b) => a + b, 0);
console.log(`  runs, 9k base (total / sum of phases / deploy): ${results.small.map((r) => `${r.total.toFixed(0)}/${phaseSum(r).toFixed(0)}/${(r.timings.deploy ?? 0).toFixed(0)}`).join(' ')}; naive: ${results.naive.map((n) => n.toFixed(0)).join(' ')}`);
console.log(`naive recipe (dpkg-deb -x + ostree commit --tree=dir + deploy): ${fmt(median(results.naive))}`);
console.log(`apt-get install of the same files in a mutable chroot (a copy of the base): ${fmt(median(results.apt))}; dpkg -i alone: ${fmt(median(results.dpkg))}`);
console.log(`ratio whole install/naive ${pairs((r, i) => r.total / results.naive[i]).toFixed(2)} (goal ≤ 1.2)`);
console.log(`ratio install up to the deploy/apt-get install ${pairs((r, i) => beforeDeploy(r) / results.apt[i]).toFixed(2)} (goal ≤ 1.0); whole install/apt-get install ${pairs((r, i) => r.total / results.apt[i]).toFixed(2)}`);
console.log(`the ostree-layer command (a process: node's start-up and module loading included): ${fmt(median(results.command.map((r) => r.total)))}; ` +
  `ratio whole/naive ${pairs((r, i) => r.total / results.naive[i], results.command).toFixed(2)}, up to the deploy/apt-get install ${pairs((r, i) => (r.total - r.deploy) / results.apt[i], results.command).toFixed(2)}`);
rmSync(work, { recursive: true, force: true });
