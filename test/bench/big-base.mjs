// Benchmark (not a test): `install --commit-only` of the same packages onto the minbase and onto a base whose dpkg
// database lists 20× more packages and paths (synthesized: filler packages in `status` with their `.list` files).
// Goal: ≤ 1.2× — conflicts and the database writer ask the database about the new paths only.
// Run with scripts/bench (root, Debian's archive reachable). BENCH_RUNS (default 3) timed runs after one warm-up each.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { install } from '@ostree-layer/core';
import { dpkgPlugin } from '@ostree-layer/dpkg';
import { aptDownloadClosure, ensureDebianMinbase, makeSysroot, resolveCacheDir, withFileLock } from '@ostree-layer/testkit';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const FACTOR = 20;
const DB = '/usr/lib/sysimage/dpkg';
const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(0)} ms`;

const base = await ensureDebianMinbase();
const work = mkdtempSync(join(tmpdir(), 'ostree-layer-bench-bigbase-'));

/** Packages, `.list` files and listed paths of a commit's dpkg database. */
function describeBase(commit) {
  const status = sh('ostree', [`--repo=${base.repo}`, 'cat', commit, `${DB}/status`]);
  const packages = status.split('\n').filter((l) => l.startsWith('Package: ')).length;
  const dir = join(work, 'count');
  sh('ostree', [`--repo=${base.repo}`, 'checkout', '-U', `--subpath=${DB}/info`, commit, dir]);
  const lists = sh('sh', ['-c', `ls ${dir} | grep -c '\\.list$'`]);
  const paths = sh('sh', ['-c', `cat ${dir}/*.list | wc -l`]);
  rmSync(dir, { recursive: true, force: true });
  return `${packages} packages, ${lists} lists, ${paths} listed paths`;
}

/** The minbase with (FACTOR - 1)× its packages and paths added to the database, cached in the testkit repo. */
async function bigDatabaseBase() {
  const ref = `bench/minbase-db${FACTOR}`;
  return withFileLock(join(resolveCacheDir(), `bench-db${FACTOR}.lock`), async () => {
    try {
      return sh('ostree', [`--repo=${base.repo}`, 'rev-parse', ref]);
    } catch {
      const root = join(work, 'db');
      mkdirSync(join(root, DB.slice(1), '..'), { recursive: true });
      sh('ostree', [`--repo=${base.repo}`, 'checkout', '-U', `--subpath=${DB}`, base.commit, join(root, DB.slice(1))]);
      const statusPath = join(root, DB.slice(1), 'status');
      const status = readFileSync(statusPath, 'utf8');
      const realPackages = status.split('\n').filter((l) => l.startsWith('Package: ')).length;
      const realPaths = sh('sh', ['-c', `cat ${join(root, DB.slice(1), 'info')}/*.list | wc -l`]);
      const fillers = realPackages * (FACTOR - 1);
      const perPackage = Math.ceil((Number(realPaths) * (FACTOR - 1)) / fillers);
      let extra = '';
      for (let n = 0; n < fillers; n++) {
        const name = `bench-filler-${n}`;
        extra += `\nPackage: ${name}\nStatus: install ok installed\nPriority: optional\nSection: misc\nInstalled-Size: 1\nMaintainer: bench <bench@example.org>\nArchitecture: all\nVersion: 1.0\nDescription: filler for the big-base benchmark\n`;
        const paths = ['/.', '/usr', '/usr/share', `/usr/share/${name}`];
        for (let f = 0; paths.length < perPackage; f++) paths.push(`/usr/share/${name}/file-${f}`);
        writeFileSync(join(root, DB.slice(1), 'info', `${name}.list`), paths.join('\n') + '\n');
        writeFileSync(join(root, DB.slice(1), 'info', `${name}.md5sums`), '');
      }
      writeFileSync(statusPath, status.replace(/\n*$/, '\n') + extra);
      sh('ostree', [`--repo=${base.repo}`, 'commit', `--branch=${ref}`, `--tree=ref=${base.commit}`, `--tree=dir=${root}`, `--subject=bench: ${FACTOR}x database`]);
      rmSync(root, { recursive: true, force: true });
      return sh('ostree', [`--repo=${base.repo}`, 'rev-parse', ref]);
    }
  });
}

const probe = await makeSysroot({ base });
const debs = await aptDownloadClosure(['htop'], join(probe.deploymentDir(), `${DB.slice(1)}/status`), join(resolveCacheDir(), 'bench-debs'));
await probe.dispose();
const big = await bigDatabaseBase();
console.log(`packages: ${debs.map((d) => d.split('/').pop()).join(' ')}`);
console.log(`plain base: ${describeBase(base.commit)}`);
console.log(`big base:   ${describeBase(big)}`);

/** One server-side install into a fresh repo holding only `commit` (so every run starts alike). */
const repo = join(work, 'repo');
sh('ostree', ['init', `--repo=${repo}`, '--mode=bare']);
sh('ostree', [`--repo=${repo}`, 'pull-local', base.repo, base.commit, big]);
async function once(commit) {
  const ref = 'bench/target';
  sh('ostree', [`--repo=${repo}`, 'refs', '--create', ref, commit, '--force']);
  const t = performance.now();
  const r = await install({ plugins: [dpkgPlugin], files: debs, commitOnly: { repo, ref }, noScripts: true });
  return { ms: performance.now() - t, timings: r.timings };
}

const results = { plain: [], big: [] };
// One warm-up each: the first install onto a base imports the packages and indexes its database once.
const first = { plain: await once(base.commit), big: await once(big) };
for (let i = 0; i < RUNS; i++) {
  results.plain.push(await once(base.commit));
  results.big.push(await once(big));
}
const plain = median(results.plain.map((r) => r.ms));
const bigMs = median(results.big.map((r) => r.ms));
const phase = (rs, p) => median(rs.map((r) => r.timings[p] ?? 0)).toFixed(0);
console.log(`\ninstall --commit-only --no-scripts, plain base: ${fmt(plain)} (conflicts ${phase(results.plain, 'conflicts')} ms, database ${phase(results.plain, 'database')} ms)`);
console.log(`the same onto the ${FACTOR}x database: ${fmt(bigMs)} (conflicts ${phase(results.big, 'conflicts')} ms, database ${phase(results.big, 'database')} ms)`);
// Each big run follows its plain run: the median of the pairs' ratios is steadier on a shared, loaded machine.
const paired = median(results.big.map((r, i) => r.ms / results.plain[i].ms));
console.log(`big/plain ${(bigMs / plain).toFixed(2)} (median of paired runs ${paired.toFixed(2)}; goal ≤ 1.2)`);
// What the first install after a base upgrade costs: the lists read and indexed (the database phases wait for it).
console.log(`first install onto each base (reads and indexes every .list): plain ${fmt(first.plain.ms)}, ${FACTOR}x ${fmt(first.big.ms)}; ` +
  `conflicts ${first.plain.timings.conflicts?.toFixed(0)} / ${first.big.timings.conflicts?.toFixed(0)} ms, import ${first.plain.timings.import?.toFixed(0)} / ${first.big.timings.import?.toFixed(0)} ms`);
console.log(`phases (last runs): plain ${JSON.stringify(results.plain.at(-1).timings)}, big ${JSON.stringify(results.big.at(-1).timings)}`);
rmSync(work, { recursive: true, force: true });
