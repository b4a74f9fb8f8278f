// Benchmark (not a test): the rpm backend against the real tools, measured in the same run.
// 1. Import of one large package (BENCH_RPM_FILES files, BENCH_RPM_MB MB): `ostree-layer install --commit-only
//    --no-scripts` (its import phase and the whole transaction; then a second install of the same file, a cache hit)
//    vs `rpm2cpio x.rpm | cpio -idm` + `ostree commit --tree=ref=BASE --tree=dir`.
// 2. Writing the rpmdb for BENCH_DB_PACKAGES new packages: rpmBackend.writeDatabase vs `rpm --justdb -i --nodeps`
//    of the same packages onto a copy of the same base database.
// Needs root (ensureRpmBase). Prints medians of BENCH_RUNS runs and the ratios (ours / theirs; below 1 is faster).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryTree, install } from '@ostree-layer/core';
import { openRpm, rpmBackend, rpmPlugin } from '@ostree-layer/rpm';
import { buildRpm, ensureRpmBase, RPM_DB_PATH } from '@ostree-layer/testkit';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const FILES = Number(process.env.BENCH_RPM_FILES ?? 2000);
const MB = Number(process.env.BENCH_RPM_MB ?? 60);
const DB_PACKAGES = Number(process.env.BENCH_DB_PACKAGES ?? 50);
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts }).trim();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(0)} ms`;
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;

const base = await ensureRpmBase();
const work = mkdtempSync(join(tmpdir(), 'ostree-layer-rpm-bench-'));

function freshRepo(name) {
  const repo = join(work, name);
  sh('ostree', ['init', `--repo=${repo}`, '--mode=bare']);
  sh('sh', ['-c', `sed -i 's/^\\[core\\]$/[core]\\nfsync=false/' ${repo}/config`]);
  sh('ostree', ['pull-local', `--repo=${repo}`, base.repo, base.ref]);
  return repo;
}

try {
  // Half random (incompressible) and half repetitive content, so the payload compresses the way real ones do.
  const size = Math.floor((MB * 1024 * 1024) / FILES);
  const files = Array.from({ length: FILES }, (_, i) => ({
    path: `/usr/share/bench-big/d${i % 50}/f${i}.dat`,
    content: Buffer.concat([randomBytes(size >> 1), Buffer.alloc(size - (size >> 1), i % 251)]),
  }));
  let t = performance.now();
  const big = await buildRpm(join(work, 'rpms'), { name: 'bench-big', version: '1', files });
  console.log(`built ${big.split('/').pop()}: ${FILES} files, ${(statSync(big).size / 1048576).toFixed(1)} MB on disk, ${MB} MB unpacked (${fmt(performance.now() - t)})`);

  // The adapter's share: open (digests checked) and stream the whole payload, bodies drained.
  const decode = [];
  for (let run = 0; run < RUNS; run++) {
    t = performance.now();
    const pkg = await openRpm(big);
    for await (const { body } of pkg.payload()) if (body) for await (const _ of body);
    decode.push(performance.now() - t);
  }
  const ourTotal = [];
  const ourImport = [];
  const cachedImport = [];
  let phases;
  const theirs = [];
  for (let run = 0; run < RUNS; run++) {
    const repo = freshRepo(`ours-${run}`);
    t = performance.now();
    const result = await install({ plugins: [rpmPlugin], files: [big], commitOnly: { repo, ref: base.ref }, noScripts: true });
    ourTotal.push(performance.now() - t);
    ourImport.push(result.timings.import);
    phases = result.timings;
    // The same file onto the same base again: the layer cache answers from the file's digest.
    sh('ostree', [`--repo=${repo}`, 'refs', '--create=again', base.commit]);
    const again = await install({ plugins: [rpmPlugin], files: [big], commitOnly: { repo, ref: 'again' }, noScripts: true });
    if (!again.install[0]?.cached) throw new Error('the second install did not reuse the cached layer');
    cachedImport.push(again.timings.import);
    rmSync(repo, { recursive: true, force: true });

    const repo2 = freshRepo(`theirs-${run}`);
    const dir = join(work, `cpio-${run}`);
    mkdirSync(dir);
    t = performance.now();
    sh('sh', ['-c', `cd ${dir} && rpm2cpio ${big} | cpio -idm --quiet`]);
    sh('ostree', [`--repo=${repo2}`, 'commit', '--orphan', `--tree=ref=${base.commit}`, `--tree=dir=${dir}`]);
    theirs.push(performance.now() - t);
    rmSync(dir, { recursive: true, force: true });
    rmSync(repo2, { recursive: true, force: true });
  }
  // Ratios of each run's pair, then their median: steadier than a ratio of medians on a machine others share.
  const paired = (ours) => median(ours.map((v, i) => v / theirs[i])).toFixed(2);
  const mbps = (ms) => `${(MB / (ms / 1000)).toFixed(0)} MB/s`;
  console.log(`import: ours ${fmt(median(ourImport))} (${mbps(median(ourImport))}); whole install --commit-only --no-scripts ${fmt(median(ourTotal))}; a cached second import ${fmt(median(cachedImport))}`);
  console.log(`        phases of the last run: ${JSON.stringify(phases)}`);
  console.log(`        (the rpm adapter's part, open + digests + payload stream: ${fmt(median(decode))}, ${mbps(median(decode))}; the rest is core's importer and ostree)`);
  console.log(`        rpm2cpio | cpio -idm + ostree commit --tree=ref=BASE --tree=dir: ${fmt(median(theirs))} (${mbps(median(theirs))})`);
  console.log(`ratio import/naive ${paired(ourImport)}, whole transaction/naive ${paired(ourTotal)} (goal ≤ 1.0)`);

  // --- database ---
  const small = [];
  for (let i = 0; i < DB_PACKAGES; i++) {
    small.push(await buildRpm(join(work, 'small'), {
      name: `bench-pkg-${i}`, version: '1.0', requires: ['filesystem'], provides: [`bench-cap-${i}`],
      files: Array.from({ length: 10 }, (_, f) => ({ path: `/usr/share/bench-pkg-${i}/file${f}`, content: `${i}/${f}\n` })),
    }));
  }
  const checkout = join(work, 'base');
  sh('ostree', [`--repo=${base.repo}`, 'checkout', '--user-mode', base.ref, checkout]);
  const tree = new DirectoryTree(checkout);
  const added = [];
  for (const file of small) {
    const pkg = await openRpm(file);
    const entries = [];
    for await (const { entry, body } of pkg.payload()) {
      entries.push(entry);
      body?.resume();
    }
    added.push({ package: pkg, entries, takenOver: new Map() });
  }
  const ourDb = [];
  const rpmDb = [];
  for (let run = 0; run < RUNS; run++) {
    t = performance.now();
    const database = await rpmBackend.openDatabase(tree, `/${RPM_DB_PATH}`);
    const layer = await rpmBackend.writeDatabase({ tree, database, added });
    ourDb.push(performance.now() - t);
    if (run === 0) {
      // Sanity: the layer's database lists base + new packages for the real rpm.
      const root = join(work, 'check');
      mkdirSync(join(root, RPM_DB_PATH), { recursive: true });
      for (const f of layer.filter((l) => l.type === 'file')) {
        const dest = join(root, f.path);
        mkdirSync(join(dest, '..'), { recursive: true });
        if (f.source) cpSync(f.source, dest);
        else execFileSync('sh', ['-c', `cat > "${dest}"`], { input: f.content });
      }
      const n = sh('rpm', ['--root', root, '--dbpath', `/${RPM_DB_PATH}`, '-qa']).split('\n').length;
      console.log(`our database lists ${n} packages (base + ${DB_PACKAGES})`);
    }
    const root = join(work, `justdb-${run}`);
    mkdirSync(join(root, RPM_DB_PATH), { recursive: true });
    cpSync(join(checkout, RPM_DB_PATH), join(root, RPM_DB_PATH), { recursive: true });
    t = performance.now();
    sh('rpm', ['--root', root, '--dbpath', `/${RPM_DB_PATH}`, '--justdb', '--nodeps', '--noscripts', '--nosignature', '-i', ...small], { stdio: ['ignore', 'pipe', 'ignore'] });
    rpmDb.push(performance.now() - t);
    rmSync(root, { recursive: true, force: true });
  }
  console.log(`database for ${DB_PACKAGES} packages: ours ${fmt(median(ourDb))}, rpm --justdb -i --nodeps ${fmt(median(rpmDb))}, ratio ${ratio(median(ourDb), median(rpmDb))}`);
} finally {
  sh('sh', ['-c', `chmod -R u+w ${work} 2>/dev/null; rm -rf ${work}`]);
}
