// Benchmark (not a test): importing one large .deb from Debian's archive (BENCH_DEB, default libllvm15: 23 MB, 114 MB
// unpacked) against the naive recipe measured in the same run: `dpkg-deb -x` + `ostree commit --tree=ref=BASE
// --tree=dir=…` into a bare repo like ours. Ours is `install --commit-only --no-scripts` (the naive recipe runs no
// scripts either), printed whole and as its import phase; then a second install of the same file (a cache hit).
// Needs root and Debian's archive (the base is the testkit minbase). Prints medians of BENCH_RUNS runs and the ratios.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { install } from '@ostree-layer/core';
import { dpkgPlugin } from '@ostree-layer/dpkg';
import { aptDownloadClosure, DPKG_DB_PATH, ensureDebianMinbase, makeSysroot, resolveCacheDir } from '@ostree-layer/testkit';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const NAME = process.env.BENCH_DEB ?? 'libllvm15';
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts }).trim();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(0)} ms`;

const base = await ensureDebianMinbase();
const work = mkdtempSync(join(tmpdir(), 'ostree-layer-deb-bench-'));

async function downloadDeb() {
  const probe = await makeSysroot({ base });
  try {
    const closure = await aptDownloadClosure([NAME], join(probe.deploymentDir(), DPKG_DB_PATH, 'status'), join(resolveCacheDir(), 'bench-debs-import'));
    const deb = closure.find((f) => f.split('/').pop().startsWith(`${NAME}_`));
    if (!deb) throw new Error(`apt did not download ${NAME}`);
    return deb;
  } finally {
    await probe.dispose();
  }
}

function freshRepo(name) {
  const repo = join(work, name);
  sh('ostree', ['init', `--repo=${repo}`, '--mode=bare']);
  sh('sh', ['-c', `sed -i 's/^\\[core\\]$/[core]\\nfsync=false/' ${repo}/config`]);
  sh('ostree', ['pull-local', `--repo=${repo}`, base.repo, base.commit]);
  sh('ostree', [`--repo=${repo}`, 'refs', '--create=base', base.commit]);
  return repo;
}

try {
  const deb = await downloadDeb();
  const unpacked = Number(sh('sh', ['-c', `dpkg-deb -I ${deb} | sed -n 's/^ Installed-Size: //p'`])) / 1024;
  const entries = sh('sh', ['-c', `dpkg-deb -c ${deb} | wc -l`]);
  console.log(`package: ${deb.split('/').pop()}, ${(statSync(deb).size / 1048576).toFixed(1)} MB, ${unpacked.toFixed(0)} MB unpacked, ${entries} entries`);

  const ours = [];
  const oursImport = [];
  const cached = [];
  let phases;
  const naive = [];
  const streamed = [];
  const consumed = [];
  for (let run = 0; run < RUNS; run++) {
    const repo = freshRepo(`ours-${run}`);
    let t = performance.now();
    const result = await install({ plugins: [dpkgPlugin], files: [deb], commitOnly: { repo, ref: 'base' }, noScripts: true });
    ours.push(performance.now() - t);
    oursImport.push(result.timings.import);
    phases = result.timings;
    // The same file again onto the same base: the layer cache answers from the file's digest.
    sh('ostree', [`--repo=${repo}`, 'refs', '--create=base2', '--force', base.commit]);
    t = performance.now();
    const again = await install({ plugins: [dpkgPlugin], files: [deb], commitOnly: { repo, ref: 'base2' }, noScripts: true });
    cached.push(again.timings.import);
    if (!again.install[0]?.cached) throw new Error('the second install did not reuse the cached layer');
    rmSync(repo, { recursive: true, force: true });

    const repo2 = freshRepo(`naive-${run}`);
    const dir = join(work, `unpack-${run}`);
    mkdirSync(dir);
    t = performance.now();
    sh('dpkg-deb', ['-x', deb, dir]);
    sh('ostree', [`--repo=${repo2}`, 'commit', '--orphan', `--tree=ref=${base.commit}`, `--tree=dir=${dir}`]);
    naive.push(performance.now() - t);
    rmSync(dir, { recursive: true, force: true });

    // The two ways an importer can hand ostree the payload, with the real tools: a tar stream on stdin while the
    // payload is decompressed (what ostree-layer does), or a private unpack inside the repo that `--consume` renames
    // into the object store instead of copying.
    t = performance.now();
    sh('sh', ['-c', `dpkg-deb --fsys-tarfile ${deb} | ostree --repo=${repo2} commit --orphan --tree=tar=-`]);
    streamed.push(performance.now() - t);
    const private_ = join(repo2, 'tmp', `unpack-${run}`);
    t = performance.now();
    sh('dpkg-deb', ['-x', deb, private_]);
    sh('ostree', [`--repo=${repo2}`, 'commit', '--orphan', '--consume', `--tree=dir=${private_}`]);
    consumed.push(performance.now() - t);
    rmSync(repo2, { recursive: true, force: true });
  }
  // Ratios of each run's pair, then their median: steadier than a ratio of medians on a machine others share.
  const paired = (xs) => median(xs.map((v, i) => v / naive[i])).toFixed(2);
  console.log(`ours, install --commit-only --no-scripts: ${fmt(median(ours))} (import phase ${fmt(median(oursImport))}; a cached second import ${fmt(median(cached))})`);
  console.log(`  phases of the last run: ${JSON.stringify(phases)}`);
  console.log(`naive, dpkg-deb -x + ostree commit --tree=ref=BASE --tree=dir: ${fmt(median(naive))}`);
  console.log(`the routes with the real tools: dpkg-deb --fsys-tarfile | ostree commit --tree=tar=- ${fmt(median(streamed))}, dpkg-deb -x + ostree commit --consume ${fmt(median(consumed))}`);
  console.log(`ratio whole install/naive ${paired(ours)} (goal ≤ 1.0), import phase/naive ${paired(oursImport)}`);
} finally {
  sh('sh', ['-c', `chmod -R u+w ${work} 2>/dev/null; rm -rf ${work}`]);
}
