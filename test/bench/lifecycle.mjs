// Benchmark (not a test): the lifecycle over time. Run with scripts/bench (root, Debian's archive reachable).
// 1. After 20 install / uninstall / upgrade cycles (a new base commit on the origin ref each time), the repo against
//    what the live deployments need: their commits plus the base and layer commits they were composed from, pulled
//    into an empty repo. Goal: within 10%, and no package ref that no deployment uses.
// 2. `upgrade` re-laying 5 packages onto a new base against a fresh `install` of the same 5, both on a sysroot that
//    already has a rollback deployment (so both deploys retire one, as on a machine in use). Goal: ≤ 1.2×.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { install, uninstall, upgrade } from '@ostree-layer/core';
import { dpkgPlugin } from '@ostree-layer/dpkg';
import { aptDownloadClosure, buildDeb, ensureDebianMinbase, makeSysroot, resolveCacheDir } from '@ostree-layer/testkit';

const CYCLES = Number(process.env.BENCH_CYCLES ?? 20);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8' }).trim();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const du = (dir) => Number(sh('du', ['-sb', dir]).split('\t')[0]);
const plugins = [dpkgPlugin];

const base = await ensureDebianMinbase();
const work = mkdtempSync(join(tmpdir(), 'ostree-layer-bench-lifecycle-'));

/** A new base commit on the sysroot's origin ref: the old base plus one file, as a vendor update would be. */
function newBase(s, n) {
  const dir = join(work, `vendor-${n}`);
  mkdirSync(join(dir, 'usr/share/vendor'), { recursive: true });
  writeFileSync(join(dir, 'usr/share/vendor/release'), `${n}\n`);
  const head = sh('ostree', [`--repo=${s.repo}`, 'rev-parse', s.ref]);
  sh('ostree', [`--repo=${s.repo}`, 'commit', `--branch=${s.ref}`, `--tree=ref=${head}`, `--tree=dir=${dir}`, `--subject=vendor ${n}`]);
  rmSync(dir, { recursive: true, force: true });
}

/** Objects the live deployments need, measured by pulling exactly those commits into an empty repo. */
function neededBytes(s) {
  const commits = new Set();
  for (const line of sh('ostree', ['admin', 'status', `--sysroot=${s.sysroot}`]).split('\n')) {
    const m = /^[* ] \S+ ([0-9a-f]{64})\.(\d+)/.exec(line);
    if (!m) continue;
    commits.add(m[1]);
    const dir = join(s.sysroot, 'ostree/deploy', s.osName, 'deploy', `${m[1]}.${m[2]}`);
    const statePath = join(dir, 'usr/lib/ostree-layer/state.json');
    if (!existsSync(statePath)) continue;
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    commits.add(state.baseCommit);
    for (const p of state.packages) commits.add(p.commit);
    for (const c of state.scriptLayers ?? []) commits.add(c);
  }
  const fresh = join(work, 'needed');
  rmSync(fresh, { recursive: true, force: true });
  sh('ostree', ['init', `--repo=${fresh}`, '--mode=bare-user']);
  sh('ostree', ['pull-local', `--repo=${fresh}`, s.repo, ...commits]);
  const bytes = du(join(fresh, 'objects'));
  rmSync(fresh, { recursive: true, force: true });
  return bytes;
}

function orphanPackageRefs(s) {
  const used = new Set();
  for (const dir of s.deployments()) {
    const statePath = join(dir, 'usr/lib/ostree-layer/state.json');
    if (existsSync(statePath)) for (const p of JSON.parse(readFileSync(statePath, 'utf8')).packages) used.add(p.commit);
  }
  const refs = sh('ostree', [`--repo=${s.repo}`, 'refs', '--list', 'ostree-layer/pkg']).split('\n').filter(Boolean);
  return refs.filter((ref) => !used.has(sh('ostree', [`--repo=${s.repo}`, 'rev-parse', ref])));
}

// 1. Repo size after the cycles.
{
  const s = await makeSysroot({ base });
  try {
    const target = { sysroot: s.sysroot, osName: s.osName, plugins, progress: () => undefined };
    for (let n = 0; n < CYCLES; n++) {
      const debs = [];
      for (const k of [0, 1, 2]) {
        const name = `cycle-${k}`;
        const files = Array.from({ length: 50 }, (_, f) => ({ path: `/usr/share/${name}/${f}`, content: `${name} ${n} ${f}\n`.repeat(200) }));
        debs.push(await buildDeb(join(work, `debs-${n}`), { name, version: `1.${n}`, files }));
      }
      if (n > 0) await uninstall({ ...target, names: ['cycle-0', 'cycle-2'] });
      await install({ ...target, files: debs });
      await uninstall({ ...target, names: ['cycle-1'] });
      newBase(s, n);
      await upgrade({ ...target });
      rmSync(join(work, `debs-${n}`), { recursive: true, force: true });
    }
    const repoBytes = du(join(s.repo, 'objects'));
    const needed = neededBytes(s);
    const orphans = orphanPackageRefs(s);
    console.log(`after ${CYCLES} install/uninstall/upgrade cycles: repo objects ${(repoBytes / 1e6).toFixed(1)} MB, live deployments need ${(needed / 1e6).toFixed(1)} MB; ratio ${(repoBytes / needed).toFixed(3)} (goal ≤ 1.10)`);
    console.log(`package refs no deployment uses: ${orphans.length} (goal 0)${orphans.length ? `: ${orphans.join(' ')}` : ''}`);
  } finally {
    await s.dispose();
  }
}

// 2. upgrade re-laying 5 packages against a fresh install of the same 5.
{
  const probe = await makeSysroot({ base });
  const debs = await aptDownloadClosure(['htop', 'jq'], join(probe.deploymentDir(), 'usr/lib/sysimage/dpkg/status'), join(resolveCacheDir(), 'bench-debs-lifecycle'));
  await probe.dispose();
  const five = debs.slice(0, 5);
  console.log(`\npackages: ${five.map((d) => d.split('/').pop()).join(' ')}`);
  const fresh = [];
  const upgrades = [];
  for (let i = 0; i < RUNS; i++) {
    const a = await makeSysroot({ base });
    try {
      // Steady state: a rollback deployment exists, so both deploys below retire one (which ostree deletes).
      sh('ostree', ['admin', 'deploy', `--sysroot=${a.sysroot}`, `--os=${a.osName}`, a.ref]);
      const t = performance.now();
      await install({ plugins, files: five, sysroot: a.sysroot, osName: a.osName });
      fresh.push(performance.now() - t);
      newBase(a, `u${i}`);
      const u = performance.now();
      const r = await upgrade({ plugins, sysroot: a.sysroot, osName: a.osName });
      upgrades.push(performance.now() - u);
      if (i === RUNS - 1) console.log(`  upgrade phases (last run): ${JSON.stringify(r.timings)}`);
    } finally {
      await a.dispose();
    }
  }
  const f = median(fresh);
  const u = median(upgrades);
  console.log(`fresh install of 5: ${f.toFixed(0)} ms; upgrade re-laying them onto a new base: ${u.toFixed(0)} ms; upgrade/install ${(u / f).toFixed(2)} (goal ≤ 1.2)`);
}
rmSync(work, { recursive: true, force: true });
