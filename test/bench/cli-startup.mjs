#!/usr/bin/env node
// Benchmark (not a test): start-up of the `ostree-layer` command against a bare `node -e 0`, measured in the same
// run, interleaved so that machine noise hits both alike. Every apt/dnf front-end call pays it. Goal: ratio ≤ 2.5.
// Also the apt front end through its shim, and `dpkg --compare-versions` for scale. Runs: BENCH_RUNS (default 30). Needs `npx tsc -b` and scripts/bundle-cli.mjs (scripts/setup runs both).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

// The bin, as users run it (the bundle when current, scripts/bundle-cli.mjs).
const CLI = join(import.meta.dirname, '../../packages/cli/bin/ostree-layer.js');
const runs = Number(process.env.BENCH_RUNS ?? 30);
const cases = {
  'node -e 0': ['node', ['-e', '0']],
  'ostree-layer --version': ['node', [CLI, '--version']],
  'ostree-layer help': ['node', [CLI, 'help']],
  'ostree-layer vercmp 1.0~rc1 lt 1.0': ['node', [CLI, 'vercmp', '1.0~rc1', 'lt', '1.0']],
  'scripts/shims/apt --version': [join(import.meta.dirname, '../../scripts/shims/apt'), ['--version']],
  'dpkg --compare-versions 1.0~rc1 lt 1.0': ['dpkg', ['--compare-versions', '1.0~rc1', 'lt', '1.0']],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < runs; i++) {
  for (const [name, [cmd, args]] of Object.entries(cases)) {
    const started = performance.now();
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    times[name].push(performance.now() - started);
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const bare = median(times['node -e 0']);
for (const [name, xs] of Object.entries(times)) {
  const m = median(xs);
  console.log(`${name.padEnd(42)} ${m.toFixed(1).padStart(7)} ms  ${(m / bare).toFixed(2)}× node -e 0`);
}
