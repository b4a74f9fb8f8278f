#!/usr/bin/env node
// Benchmark (not a test): resolve `gnome-core` against Debian bookworm main with a locked minbase-like base, and
// compare time and answer with `apt-get -s install` run on the same base in the same run.
//
//   node test/bench/solver-gnome.mjs [--packages FILE] [--request NAME] [--no-recommends] [--no-apt]
//
// FILE defaults to apt's cached bookworm main index (/var/lib/apt/lists/*bookworm_main_binary-amd64_Packages.lz4, or
// the one apt-resolve.mjs keeps in the test cache).
// The base is every "Priority: required" package plus apt, at the index's versions (what mmdebstrap's minbase has).
// Needs `npx tsc -b packages/core adapters/dpkg` first.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool, UnsatisfiableError, solve } from '../../packages/core/dist/resolve/index.js';
import { compareDebVersions, parseParagraphs, parseRelationField } from '../../adapters/dpkg/dist/index.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
// The host's apt lists, else the private apt state test/bench/apt-resolve.mjs keeps in the test cache (a fresh clone).
const testCache = process.env.OSTREE_LAYER_TEST_CACHE ?? join(import.meta.dirname, '../../.cache/testkit');
const listDirs = ['/var/lib/apt/lists', join(testCache, 'apt/lists')].filter((d) => existsSync(d));
const defaultIndex = listDirs
  .flatMap((d) => readdirSync(d).map((f) => join(d, f)))
  .find((f) => /_bookworm_main_binary-amd64_Packages(\.lz4)?$/.test(f));
const indexFile = opt('--packages', defaultIndex);
const request = opt('--request', 'gnome-core');
const recommends = !args.includes('--no-recommends');
if (!indexFile) {
  console.error('no bookworm main Packages index found; run apt-get update or pass --packages FILE');
  process.exit(2);
}

let t = performance.now();
const text = indexFile.endsWith('.lz4')
  ? spawnSync('lz4', ['-dc', indexFile], { encoding: 'utf8', maxBuffer: 1 << 30 }).stdout
  : spawnSync('cat', [indexFile], { encoding: 'utf8', maxBuffer: 1 << 30 }).stdout;
const paragraphs = parseParagraphs(text).filter((p) => ['amd64', 'all'].includes(p.get('Architecture')));
const parseMs = performance.now() - t;

const OPS = { '<<': '<', '<=': '<=', '=': '=', '>=': '>=', '>>': '>' };
const toAlt = (r) => {
  const alt = { name: r.name };
  if (r.archQualifier) alt.arch = r.archQualifier;
  if (r.constraint) Object.assign(alt, { op: OPS[r.constraint.op], version: r.constraint.version });
  return alt;
};
const field = (p, name) => parseRelationField(p.get(name)).map((alts) => alts.map(toAlt));
const spec = (p) => ({
  name: p.get('Package'),
  version: p.get('Version'),
  arch: p.get('Architecture'),
  provides: parseRelationField(p.get('Provides')).map(([r]) => ({ name: r.name, version: r.constraint?.version })),
  requires: field(p, 'Depends'),
  preRequires: field(p, 'Pre-Depends'),
  conflicts: [...field(p, 'Conflicts'), ...field(p, 'Breaks')],
  recommends: field(p, 'Recommends'),
  data: p.get('Multi-Arch'),
});
const specs = paragraphs.map(spec);
const baseNames = new Set(paragraphs.filter((p) => p.get('Priority') === 'required').map((p) => p.get('Package')));
baseNames.add('apt');

// --status FILE: a real dpkg status file as the locked base instead (e.g. ../shared/fixtures/dpkg/debian12-status).
const statusFile = opt('--status', undefined);
const statusSpecs = statusFile
  ? parseParagraphs(readFileSync(statusFile, 'utf8'))
      .filter((p) => / installed$/.test(p.get('Status') ?? ''))
      .map(spec)
  : undefined;

function buildPool() {
  if (statusSpecs) {
    const pool = new Pool({
      compareVersions: compareDebVersions,
      archAllows: (c, q) => q === undefined || (q === 'any' ? c.data === 'allowed' : c.arch === q || c.arch === 'all'),
    });
    for (const s of statusSpecs) pool.add(s, true);
    baseNames.clear();
    for (const s of statusSpecs) baseNames.add(s.name);
    for (const s of specs) pool.add(s, false);
    return pool;
  }
  const pool = new Pool({
    compareVersions: compareDebVersions,
    // Single-architecture system: ":any" needs Multi-Arch: allowed, other qualifiers the same arch.
    archAllows: (c, q) => q === undefined || (q === 'any' ? c.data === 'allowed' : c.arch === q || c.arch === 'all'),
  });
  // Closing the base over its own Depends keeps it consistent, as a real minbase is.
  const byName = new Map(specs.map((s) => [s.name, s]));
  const queue = [...baseNames];
  for (let i = 0; i < queue.length; i++) {
    for (const alts of [...byName.get(queue[i])?.requires ?? [], ...byName.get(queue[i])?.preRequires ?? []]) {
      const first = alts.find((a) => byName.has(a.name));
      if (first && !baseNames.has(first.name)) baseNames.add(first.name) && queue.push(first.name);
    }
  }
  for (const s of specs) pool.add(s, baseNames.has(s.name));
  return pool;
}

const runs = [];
let tx;
for (let i = 0; i < 3; i++) {
  t = performance.now();
  const pool = buildPool();
  const poolMs = performance.now() - t;
  t = performance.now();
  try {
    tx = solve(pool, [{ name: request }], { recommends });
  } catch (e) {
    if (!(e instanceof UnsatisfiableError)) throw e;
    console.log(`unsatisfiable after ${(performance.now() - t).toFixed(0)} ms:\n${e.message}`);
    process.exit(1);
  }
  runs.push({ poolMs, solveMs: performance.now() - t });
}
const best = runs.reduce((a, b) => (a.poolMs + a.solveMs <= b.poolMs + b.solveMs ? a : b));
const ours = new Set(tx.install.map((s) => s.package.name));
console.log(`index: ${specs.length} packages (amd64+all), parsed in ${parseMs.toFixed(0)} ms; base: ${baseNames.size} packages`);
console.log(`pool build ${best.poolMs.toFixed(0)} ms, solve ${best.solveMs.toFixed(0)} ms (best of 3)`);
console.log(`answer: ${ours.size} packages to install; ${JSON.stringify(tx.stats)}`);

if (!args.includes('--no-apt') && !statusSpecs) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-solver-'));
  const status = paragraphs
    .filter((p) => baseNames.has(p.get('Package')))
    .map((p) => `${p.raw.replace(/\n?$/, '')}\nStatus: install ok installed\n`)
    .join('\n');
  writeFileSync(join(dir, 'status'), status);
  const runApt = () => {
    t = performance.now();
    const out = spawnSync(
      'apt-get',
      ['-s', '-o', `Dir::State::status=${join(dir, 'status')}`, '-o', `Dir::Cache=${dir}`, '-o', `APT::Install-Recommends=${recommends}`, 'install', request],
      { encoding: 'utf8', maxBuffer: 1 << 28 },
    );
    return { out, ms: performance.now() - t };
  };
  const cold = runApt();
  // The second run finds apt's binary cache (pkgcache.bin) built: the fair comparison for a solver-only figure.
  const { out: apt, ms: aptMs } = runApt();
  rmSync(dir, { recursive: true, force: true });
  const theirs = new Set([...apt.stdout.matchAll(/^Inst (\S+)/gm)].map((m) => m[1]));
  const common = [...ours].filter((n) => theirs.has(n)).length;
  const total = best.poolMs + best.solveMs;
  console.log(`apt-get -s install ${request}: ${cold.ms.toFixed(0)} ms cold cache, ${aptMs.toFixed(0)} ms warm; ${theirs.size} packages`);
  console.log(`ratio ours (pool + solve) / apt warm: ${(total / aptMs).toFixed(2)}`);
  console.log(`same packages: ${common}; only ours: ${[...ours].filter((n) => !theirs.has(n)).slice(0, 15).join(' ')}`);
  console.log(`only apt: ${[...theirs].filter((n) => !ours.has(n)).slice(0, 15).join(' ')}`);
}
