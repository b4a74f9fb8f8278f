// Benchmark (not a test): `uninstall` of a set of packages against the `install` of the same set, on a deployment
// that keeps other layered packages (so the uninstall really recomposes). Goal: uninstall ≤ 1.0× install.
// Run with scripts/bench (root, Debian's archive reachable). BENCH_RUNS (default 3) runs; medians are printed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { install, uninstall } from '@ostree-layer/core';
import { dpkgPlugin } from '@ostree-layer/dpkg';
import { rpmPlugin } from '@ostree-layer/rpm';
import { aptDownloadClosure, buildRpm, ensureDebianMinbase, ensureRpmBase, makeSysroot, resolveCacheDir } from '@ostree-layer/testkit';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(0)} ms`;

const base = await ensureDebianMinbase();
const work = mkdtempSync(join(tmpdir(), 'ostree-layer-bench-uninstall-'));
const probe = await makeSysroot({ base });
const status = join(probe.deploymentDir(), 'usr/lib/sysimage/dpkg/status');
const cache = join(resolveCacheDir(), 'bench-debs');
// What stays layered, and the set that comes and goes (no package in both).
const staying = await aptDownloadClosure(['htop'], status, cache);
const set = (await aptDownloadClosure(['jq'], status, cache)).filter((f) => !staying.includes(f));
await probe.dispose();
const names = set.map((f) => f.split('/').pop().split('_')[0]);
console.log(`staying: ${staying.map((f) => f.split('/').pop()).join(' ')}`);
console.log(`the set: ${set.map((f) => f.split('/').pop()).join(' ')}`);

/** Collects phase times from the report events (uninstall has no timings field). */
function phaseReport() {
  const phases = {};
  return { phases, report: { emit: (e) => { if (e.type === 'phase-end') phases[e.phase] = (phases[e.phase] ?? 0) + e.ms; } } };
}

/** Installs `staying`, then the set, then uninstalls the set, RUNS times on fresh sysroots; prints the medians. */
async function measure(label, base, plugins, staying, set, names) {
  const installs = [];
  const uninstalls = [];
  let lastPhases;
  for (let i = 0; i < RUNS; i++) {
    const s = await makeSysroot({ base });
    try {
      const target = { sysroot: s.sysroot, osName: s.osName, plugins };
      await install({ ...target, files: staying });
      // Both verbs go through the same entry points as the CLI; the set's layers are cached after the first run, as
      // they are for an uninstall (which never imports).
      let t = performance.now();
      const inst = phaseReport();
      await install({ ...target, files: set, report: inst.report });
      installs.push(performance.now() - t);
      t = performance.now();
      const un = phaseReport();
      // The plugin brings the resolve model, as the CLI's does (the dependency check and autoremove).
      await uninstall({ ...target, names, report: un.report });
      uninstalls.push(performance.now() - t);
      lastPhases = { install: inst.phases, uninstall: un.phases };
    } finally {
      await s.dispose();
    }
  }
  const i = median(installs);
  const u = median(uninstalls);
  console.log(`\n${label}: install of the set: ${fmt(i)} (runs: ${installs.map(fmt).join(', ')})`);
  console.log(`${label}: uninstall of the set: ${fmt(u)} (runs: ${uninstalls.map(fmt).join(', ')})`);
  console.log(`${label}: uninstall/install ${(u / i).toFixed(2)} (goal ≤ 1.0)`);
  console.log(`${label}: phases (last run): ${JSON.stringify(lastPhases)}`);
}

await measure('dpkg', base, [dpkgPlugin], staying, set, names);

// The rpm row: the test rpm base, one package that stays and a set of three (200 files each) that comes and goes.
const rpmBase = await ensureRpmBase();
const rpmFiles = (name) => Array.from({ length: 200 }, (_, i) => ({ path: `/usr/share/${name}/f${i}`, content: `${name} ${i}\n` }));
const rpmStaying = [await buildRpm(join(work, 'rpms'), { name: 'bench-staying', version: '1', files: rpmFiles('bench-staying') })];
const rpmNames = ['bench-going-a', 'bench-going-b', 'bench-going-c'];
const rpmSet = [];
for (const name of rpmNames) rpmSet.push(await buildRpm(join(work, 'rpms'), { name, version: '1', files: rpmFiles(name) }));
await measure('rpm', rpmBase, [rpmPlugin], rpmStaying, rpmSet, rpmNames);
rmSync(work, { recursive: true, force: true });
