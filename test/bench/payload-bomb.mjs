// Benchmark (not a test): a payload bomb, a .deb whose data.tar holds one BENCH_BOMB_GIB GiB file of zeros (default 4;
// issue 10 speaks of 10 GiB) that zstd squeezes to a few hundred KiB. Measured in the same run for `ostree-layer
// install` onto a throwaway sysroot and for `dpkg --unpack` into a throwaway root:
//   - peak extra disk: the largest drop of free space on the filesystem holding both (statfs every 25 ms), against the
//     size of the file (the least any installer needs: it has to write the file once);
//   - peak RSS (GNU time's %M over the command and every process it waited for).
// Goal (issues 10 and 11): about 1x the file in transient disk, like dpkg; RSS ≤ 256 MB plus the largest file
// written (the file itself is streamed, so far less). Other users of the disk add noise: compare the ratios.
//
//   node test/bench/payload-bomb.mjs        (root; the CLI built by `npx tsc -b`; scripts/bench runs it)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebianMinbase, makeSysroot, resolveCacheDir } from '@ostree-layer/testkit';

const CLI = join(import.meta.dirname, '../../packages/cli/dist/main.js');
const GIB = 2 ** 30;
const SIZE = Math.round(Number(process.env.BENCH_BOMB_GIB ?? 4) * GIB);
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts })?.trim() ?? '';
const gib = (bytes) => `${(bytes / GIB).toFixed(2)} GiB`;
const mb = (bytes) => `${(bytes / 1e6).toFixed(0)} MB`;

/** The bomb, built once per size with dpkg-deb from a sparse file and kept in the test cache. */
function bomb() {
  const deb = join(resolveCacheDir(), 'bench-bombs', `payload-bomb_${SIZE}_all.deb`);
  if (existsSync(deb)) return deb;
  mkdirSync(join(deb, '..'), { recursive: true });
  const dir = mkdtempSync(join(resolveCacheDir(), 'bench-bombs', 'build-'));
  try {
    mkdirSync(join(dir, 'DEBIAN'));
    writeFileSync(join(dir, 'DEBIAN/control'), 'Package: payload-bomb\nVersion: 1.0\nArchitecture: all\nMaintainer: bench <bench@example.invalid>\nDescription: payload bomb\n');
    mkdirSync(join(dir, 'usr/share/payload-bomb'), { recursive: true });
    sh('truncate', ['-s', String(SIZE), join(dir, 'usr/share/payload-bomb/zeros')]);
    sh('dpkg-deb', ['--root-owner-group', '-Zzstd', '-z1', '--build', dir, `${deb}.part`], { stdio: ['ignore', 'ignore', 'inherit'] });
    renameSync(`${deb}.part`, deb);
    return deb;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `argv` under GNU time while sampling the free space of the filesystem holding `where`. */
function measure(argv, where) {
  const free = () => {
    const s = statfsSync(where);
    return s.bavail * s.bsize;
  };
  const start = free();
  let lowest = start;
  const timer = setInterval(() => (lowest = Math.min(lowest, free())), 25);
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'peak-rss-kib=%M', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => {
      clearInterval(timer);
      lowest = Math.min(lowest, free());
      const kib = /peak-rss-kib=(\d+)/.exec(stderr);
      if (!kib) return reject(new Error(`no peak RSS from /usr/bin/time for ${argv.join(' ')}:\n${stderr}`));
      resolve({ status, rss: Number(kib[1]) * 1024, disk: start - lowest, stderr: stderr.trim().split('\n').slice(-3, -1).join(' | ') });
    });
  });
}

const base = await ensureDebianMinbase();
const deb = bomb();
console.log(`bomb: ${deb.split('/').pop()}, ${(statSync(deb).size / 1024).toFixed(0)} KiB holding one ${gib(SIZE)} file of zeros`);

const s = await makeSysroot({ base });
let ours;
try {
  ours = await measure(['node', CLI, 'install', '--sysroot', s.sysroot, '--os', s.osName, deb], s.sysroot);
} finally {
  await s.dispose();
}
const root = mkdtempSync(join(resolveCacheDir(), 'bench-bombs', 'dpkg-root-'));
for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers']) mkdirSync(join(root, d), { recursive: true });
writeFileSync(join(root, 'var/lib/dpkg/status'), '');
writeFileSync(join(root, 'var/lib/dpkg/available'), '');
let dpkg;
try {
  dpkg = await measure(['dpkg', `--root=${root}`, '--force-not-root', '--unpack', deb], root);
} finally {
  rmSync(root, { recursive: true, force: true });
}
console.log(`ostree-layer install: exit ${ours.status}, peak extra disk ${gib(ours.disk)} (${(ours.disk / SIZE).toFixed(2)}x the file), peak RSS ${mb(ours.rss)}${ours.status ? ` (${ours.stderr})` : ''}`);
console.log(`dpkg --unpack:        exit ${dpkg.status}, peak extra disk ${gib(dpkg.disk)} (${(dpkg.disk / SIZE).toFixed(2)}x the file), peak RSS ${mb(dpkg.rss)}`);
console.log(`ratios ours/dpkg: disk ${(ours.disk / dpkg.disk).toFixed(2)}x, RSS ${(ours.rss / dpkg.rss).toFixed(1)}x (goal: disk about 1x the file, RSS ≤ 256 MB)`);
if (ours.status !== 0 || dpkg.status !== 0) process.exitCode = 1;
