// Benchmark (not a test): the maintainer-script phase of `ostree-layer install openssh-server ca-certificates vim`
// (by name, onto a fresh minbase sysroot; `timings.scripts` from --json) against the real tool doing the same work:
// `dpkg --configure -a` of the same .deb files, unpacked with `dpkg --unpack` in a mutable chroot made from the same
// base commit. Runs alternate between the two sides; prints medians and the ratio (goal ≤ 1.5), and the whole install
// beside `dpkg --unpack` + `dpkg --configure -a` of the same files.
//
//   node test/bench/scripts.mjs        (BENCH_RUNS=N for more runs; default 3)
//
// Run with scripts/bench (root, Debian's archive reachable, the CLI built by `npx tsc -b`).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { DPKG_DB_PATH, ensureDebianMinbase, makeSysroot, removeTree, resolveCacheDir } from '@ostree-layer/testkit';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const NAMES = ['openssh-server', 'ca-certificates', 'vim'];
const CLI = join(import.meta.dirname, '../../packages/cli/dist/main.js');
// The e2e tests' cache: indexes and downloads are shared, so a warm run fetches nothing.
const CACHE_DIR = join(resolveCacheDir(), 'ostree-layer');

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts }).trim();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;

const base = await ensureDebianMinbase();
const work = mkdtempSync(join(tmpdir(), 'ostree-layer-bench-scripts-'));

/** One install by name through the CLI, as a user runs it; wall time of the whole command and its phase timings. */
async function ours() {
  const s = await makeSysroot({ base });
  try {
    const started = performance.now();
    const args = [CLI, 'install', '--json', '--sysroot', s.sysroot, '--os', s.osName, '--cache-dir', CACHE_DIR, ...NAMES];
    const run = spawnSync('node', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    const wall = performance.now() - started;
    if (run.status !== 0) throw new Error(`ostree-layer install exited ${run.status}:\n${run.stdout}${run.stderr}`);
    const result = JSON.parse(run.stdout);
    if (result.scripts.length === 0) throw new Error('ostree-layer install ran no maintainer scripts; nothing to compare');
    return { wall, scripts: result.timings.scripts, timings: result.timings, steps: result.scripts, debs: result.install.map((p) => p.file) };
  } finally {
    await s.dispose();
  }
}

/**
 * The same base made mutable the ordinary way: a copied checkout (never hardlinks into the repo) with /etc, the dpkg
 * database and /var where a Debian system has them, services kept from starting, the .debs unpacked by dpkg; then
 * `dpkg --configure -a` timed. /proc and /dev are mounted in a private mount namespace that vanishes with it.
 */
async function reference(debs) {
  const root = join(work, 'chroot');
  sh('ostree', [`--repo=${base.repo}`, 'checkout', '--force-copy', base.commit, root]);
  try {
    rmSync(join(root, 'etc'), { recursive: true, force: true });
    sh('mv', [join(root, 'usr/etc'), join(root, 'etc')]);
    mkdirSync(join(root, 'var/lib'), { recursive: true });
    sh('mv', [join(root, DPKG_DB_PATH), join(root, 'var/lib/dpkg')]);
    for (const d of ['var/cache/debconf', 'var/cache/apt/archives/partial', 'var/log', 'var/spool', 'var/mail', 'var/backups', 'run/lock', 'tmp/debs']) {
      mkdirSync(join(root, d), { recursive: true });
    }
    mkdirSync(join(root, 'var/tmp'), { mode: 0o1777 });
    symlinkSync('../run', join(root, 'var/run'));
    symlinkSync('../run/lock', join(root, 'var/lock'));
    writeFileSync(join(root, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    for (const deb of debs) copyFileSync(deb, join(root, 'tmp/debs', basename(deb)));
    // Pre-Depends among the new packages are met once all are configured, as in our own unpacked database.
    const driver = `set -e
mount -t proc proc "$1/proc"
mount --rbind /dev "$1/dev"
start=$(date +%s%N)
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \\
  chroot "$1" sh -c 'dpkg --unpack --force-depends /tmp/debs/*.deb' >"$1/tmp/unpack.log" 2>&1
before=$(date +%s%N)
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \\
  chroot "$1" dpkg --configure -a >"$1/tmp/configure.log" 2>&1
after=$(date +%s%N)
echo $(( (before - start) / 1000 )) $(( (after - before) / 1000 ))
`;
    const [unpack, configure] = sh('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', driver, 'driver', root]).split(' ').map((us) => Number(us) / 1000);
    const states = sh('dpkg-query', [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W', '-f=${db:Status-Abbrev} ${Package}\n']).split('\n');
    const unconfigured = states.filter((l) => !l.startsWith('ii '));
    if (unconfigured.length > 0) throw new Error(`dpkg --configure -a left packages unconfigured: ${unconfigured.join(', ')}`);
    return { unpack, configure };
  } finally {
    // Nothing is mounted here any more (the namespace is gone); removeTree also checks.
    await removeTree(root);
  }
}

// A warm-up install: downloads what the cache lacks, so the timed runs fetch nothing.
const warm = await ours();
console.log(`packages (${warm.debs.length}): ${warm.debs.map((d) => basename(d)).join(' ')}`);
console.log(`script steps: ${warm.steps.length} (${warm.steps.filter((s) => s.label.startsWith('preinst')).length} preinst, then ${warm.steps.filter((s) => !s.label.startsWith('preinst')).map((s) => s.label.split(' (')[0]).join(', ')})`);

const results = { ours: [], dpkg: [] };
for (let i = 0; i < RUNS; i++) {
  const run = await ours();
  results.ours.push(run);
  // Each reference run takes the files its paired run installed (an index refresh in between may change versions).
  results.dpkg.push(await reference(run.debs));
}
const scripts = median(results.ours.map((r) => r.scripts));
const dpkg = median(results.dpkg.map((r) => r.configure));
const dpkgWhole = median(results.dpkg.map((r) => r.unpack + r.configure));
const wall = median(results.ours.map((r) => r.wall));
console.log(`\nscript phase (timings.scripts), median of ${RUNS}: ${fmt(scripts)}  [${results.ours.map((r) => fmt(r.scripts)).join(', ')}]`);
console.log(`dpkg --configure -a in a mutable chroot, median of ${RUNS}: ${fmt(dpkg)}  [${results.dpkg.map((r) => fmt(r.configure)).join(', ')}]`);
console.log(`ratio scripts/dpkg: ${(scripts / dpkg).toFixed(2)} (goal ≤ 1.5)`);
console.log(`whole install by name (CLI wall time, warm cache), median: ${fmt(wall)}  [${results.ours.map((r) => fmt(r.wall)).join(', ')}]`);
console.log(`dpkg --unpack + --configure -a of the same files in the chroot, median: ${fmt(dpkgWhole)}; whole install/that ${(wall / dpkgWhole).toFixed(2)}`);
console.log(`  phases (last run, ms): ${JSON.stringify(results.ours.at(-1).timings)}`);
rmSync(work, { recursive: true, force: true });
