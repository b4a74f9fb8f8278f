#!/usr/bin/env node
// Benchmark (not a test): the solver on a synthetic 60k-package pool shaped like a distribution (layered
// libraries, alternatives, virtual packages, version ranges, a few conflicts, a locked base), plus a pigeon-hole
// instance that only clause learning gets through quickly. Needs `npx tsc -b packages/core` first.
//
//   node test/bench/solver-synthetic.mjs [--packages 60000] [--seed 7]
import { performance } from 'node:perf_hooks';
import { Pool, UnsatisfiableError, solve } from '../../packages/core/dist/resolve/index.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const total = opt('--packages', 60000);
let seed = opt('--seed', 7) >>> 0;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (n) => Math.floor(rand() * n);
const compare = (a, b) => Number(a) - Number(b);

// Like a distribution, one name in ten is a library that others depend on; the rest are leaves (applications) that
// only depend on libraries. Library dependencies lean towards the core (low numbers), so the closure of a request
// is a few thousand packages, not the whole pool.
const names = Math.floor(total / 1.2);
const isLib = (n) => n % 10 === 0;
const lib = (below) => 10 * Math.floor(Math.pow(rand(), 2) * Math.floor(below / 10));
const specs = [];
for (let n = 0; n < names && specs.length < total; n++) {
  const versions = rand() < 0.2 ? 2 : 1;
  for (let v = 1; v <= versions; v++) {
    const dep = () => {
      const target = lib(n);
      const alt = { name: rand() < 0.05 ? `virtual${target % 500}` : `pkg${target}` };
      if (rand() < 0.05) Object.assign(alt, { op: '>=', version: '1' });
      return alt;
    };
    const count = n < 10 ? 0 : int(isLib(n) ? 4 : 7);
    const deps = Array.from({ length: count }, () => (rand() < 0.15 ? [dep(), dep()] : [dep()]));
    specs.push({
      name: `pkg${n}`,
      version: String(v),
      arch: 'amd64',
      requires: deps,
      provides: isLib(n) && rand() < 0.1 ? [{ name: `virtual${n % 500}` }] : [],
      // Conflicts between applications: they matter when two requested ones clash.
      conflicts: rand() < 0.02 ? [[{ name: `pkg${10 * int(names / 10) + 1 + int(9)}` }]] : [],
      recommends: rand() < 0.2 ? [[{ name: `pkg${n - 1 - int(Math.min(n, 50))}` }]] : [],
    });
  }
}

let t = performance.now();
const pool = new Pool({ compareVersions: compare, unversionedProvidesMatchAny: true });
// The base: the core libraries, as a minimal system has them.
for (const s of specs) pool.add(s, Number(s.name.slice(3)) < 200 && isLib(Number(s.name.slice(3))) && s.version === '1');
const poolMs = performance.now() - t;
const requests = Array.from({ length: 20 }, () => ({ name: `pkg${names - 1 - int(20000)}` }));
t = performance.now();
let outcome;
try {
  const tx = solve(pool, requests);
  outcome = `${tx.install.length} to install, ${JSON.stringify(tx.stats)}`;
} catch (e) {
  if (!(e instanceof UnsatisfiableError)) throw e;
  outcome = `unsatisfiable (${e.problems.length} problems)`;
}
const solveMs = performance.now() - t;
console.log(`synthetic pool: ${pool.size} packages built in ${poolMs.toFixed(0)} ms; 20 requests solved in ${solveMs.toFixed(0)} ms: ${outcome}`);

// Pigeon-hole: n+1 pigeons, n holes. Unsatisfiable, and resolution proofs of it grow fast with n.
for (const holes of [6, 7, 8]) {
  const p = new Pool({ compareVersions: compare });
  for (let i = 0; i <= holes; i++) {
    p.add({ name: `pigeon${i}`, version: '1', arch: 'all', requires: [Array.from({ length: holes }, (_, j) => ({ name: `h${j}p${i}` }))] });
    for (let j = 0; j < holes; j++) {
      const others = Array.from({ length: holes + 1 }, (_, k) => k).filter((k) => k !== i);
      p.add({ name: `h${j}p${i}`, version: '1', arch: 'all', conflicts: others.map((k) => [{ name: `h${j}p${k}` }]) });
    }
  }
  t = performance.now();
  let result = 'solved?!';
  try {
    solve(p, Array.from({ length: holes + 1 }, (_, i) => ({ name: `pigeon${i}` })));
  } catch (e) {
    result = e instanceof UnsatisfiableError ? 'unsatisfiable' : String(e);
  }
  console.log(`pigeon-hole ${holes + 1}/${holes}: ${result} in ${(performance.now() - t).toFixed(0)} ms`);
}
