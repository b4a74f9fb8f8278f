// Benchmark (not a test): layering pacman packages against the real `pacman -U`, measured in the same run.
// BENCH_PACMAN_PACKAGES small packages plus one of BENCH_PACMAN_FILES files (BENCH_PACMAN_MB MB), built with makepkg:
// `install --commit-only --no-scripts` onto the testkit's pacman base (import, database, compose) vs
// `pacman -U --noscriptlet` of the same files into a mutable copy of the same base (extract + local database).
// Needs root (ensurePacmanBase, makepkg as nobody). Prints medians of BENCH_RUNS runs and the paired ratio.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { install } from '@ostree-layer/core';
import { pacmanPlugin } from '@ostree-layer/pacman';
import { buildPacmanPackage, ensurePacmanBase, PACMAN_DB_PATH } from '@ostree-layer/testkit';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PACKAGES = Number(process.env.BENCH_PACMAN_PACKAGES ?? 20);
const FILES = Number(process.env.BENCH_PACMAN_FILES ?? 1000);
const MB = Number(process.env.BENCH_PACMAN_MB ?? 20);
const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(0)} ms`;

const base = await ensurePacmanBase();
const work = mkdtempSync(join(tmpdir(), 'ostree-layer-pacman-bench-'));

try {
  let t = performance.now();
  const size = Math.floor((MB * 1024 * 1024) / FILES);
  const files = [
    await buildPacmanPackage(join(work, 'pkgs'), {
      name: 'bench-big', version: '1', depends: ['sh'],
      files: Array.from({ length: FILES }, (_, i) => ({ path: `/usr/share/bench-big/d${i % 50}/f${i}.dat`, content: Buffer.concat([randomBytes(size >> 1), Buffer.alloc(size - (size >> 1), i % 251)]) })),
    }),
  ];
  for (let i = 0; i < PACKAGES; i++) {
    files.push(await buildPacmanPackage(join(work, 'pkgs'), {
      name: `bench-pkg-${i}`, version: '1.0', depends: ['libgreet>=1:2'], provides: [`bench-cap-${i}=1`],
      files: Array.from({ length: 10 }, (_, f) => ({ path: `/usr/share/bench-pkg-${i}/file${f}`, content: `${i}/${f}\n` })),
    }));
  }
  console.log(`built ${files.length} packages with makepkg (${fmt(performance.now() - t)})`);

  const ours = [];
  const theirs = [];
  const phases = [];
  for (let run = 0; run < RUNS; run++) {
    const repo = join(work, `repo-${run}`);
    sh('ostree', ['init', `--repo=${repo}`, '--mode=bare']);
    sh('ostree', ['pull-local', `--repo=${repo}`, base.repo, base.ref]);
    t = performance.now();
    const result = await install({ plugins: [pacmanPlugin], files, commitOnly: { repo, ref: base.ref }, noScripts: true });
    ours.push(performance.now() - t);
    phases.push(result.timings);
    rmSync(repo, { recursive: true, force: true });

    // The same base as a mutable root, its database back where pacman keeps it.
    const root = join(work, `root-${run}`);
    sh('ostree', [`--repo=${base.repo}`, 'checkout', '--force-copy', base.ref, root]);
    mkdirSync(join(root, 'var/lib'), { recursive: true });
    renameSync(join(root, PACMAN_DB_PATH), join(root, 'var/lib/pacman'));
    renameSync(join(root, 'usr/etc'), join(root, 'etc'));
    t = performance.now();
    sh('pacman', ['--root', root, '--dbpath', join(root, 'var/lib/pacman'), '--noconfirm', '--noprogressbar', '--noscriptlet', '-U', ...files]);
    theirs.push(performance.now() - t);
    rmSync(root, { recursive: true, force: true });
  }
  const paired = median(ours.map((v, i) => v / theirs[i])).toFixed(2);
  const phase = (name) => fmt(median(phases.map((p) => p[name] ?? 0)));
  console.log(`install --commit-only --no-scripts: ${fmt(median(ours))} (import ${phase('import')}, database ${phase('database')}, compose ${phase('compose')})`);
  console.log(`pacman -U --noscriptlet into a mutable copy: ${fmt(median(theirs))}`);
  console.log(`ratio ours/pacman ${paired} (paired median; below 1 is faster)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
