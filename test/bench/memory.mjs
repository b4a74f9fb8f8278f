// Benchmark (not a test): peak RSS of `ostree-layer install` against dpkg unpacking the same file, measured in the
// same run with GNU time (%M: the largest resident set of the command or of any one process it waited for).
//   (a) a control-member bomb: control.tar holds 40 members of 63 MiB each (2.5 GiB of zeros, gzip'd to ~2.5 MiB);
//   (b) a normal package: one 128 MiB file (the largest single file written) and 2000 small ones.
//   (c) a payload bomb: one file of PAYLOAD_GIB GiB of zeros (default 2; BENCH_PAYLOAD_GIB=10 for issue 10's size),
//       gzip'd to a few MiB: the bytes must stream through, never be held.
// Goal (issue 10): peak RSS ≤ 256 MB plus the largest single file being written, whatever the package holds.
//
//   node test/bench/memory.mjs        (root; run with scripts/bench, the CLI built by `npx tsc -b`)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ensureDebianMinbase, makeSysroot } from '@ostree-layer/testkit';

const CLI = join(import.meta.dirname, '../../packages/cli/dist/main.js');
const MIB = 1 << 20;
const BOMB_MEMBERS = 40;
const BOMB_MEMBER_SIZE = 63 * MIB;
const LARGEST_FILE = 128 * MIB;
const GOAL_BASE = 256 * MIB;
const PAYLOAD_GIB = Number(process.env.BENCH_PAYLOAD_GIB ?? 2);

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts }).trim();
const mb = (bytes) => `${(bytes / 1e6).toFixed(0)} MB`;

/** Runs `argv` under GNU time; returns its exit status and peak RSS in bytes. */
function peakRss(argv) {
  const run = spawnSync('/usr/bin/time', ['-f', 'peak-rss-kib=%M', ...argv], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.error) throw new Error(`/usr/bin/time: ${run.error.message} (scripts/setup installs the time package)`);
  const kib = /peak-rss-kib=(\d+)/.exec(run.stderr);
  if (!kib) throw new Error(`no peak RSS from /usr/bin/time for ${argv.join(' ')}:\n${run.stderr}`);
  // The command's own last line of stderr (time adds "Command exited with non-zero status N" and the figure).
  const lines = run.stderr.split('\n').filter((l) => l.trim() && !/^peak-rss-kib=|^Command exited with/.test(l));
  const lastLine = lines.pop() ?? '';
  return { status: run.status, bytes: Number(kib[1]) * 1024, lastLine };
}

const work = mkdtempSync(join(tmpdir(), 'ostree-layer-bench-memory-'));

function control(name) {
  return `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: bench <bench@example.invalid>\nDescription: memory benchmark\n`;
}

/** A .deb whose control.tar.gz holds BOMB_MEMBERS zero-filled members beside its control file, built with tar and ar. */
function buildControlBomb() {
  const dir = join(work, 'bomb');
  const controlDir = join(dir, 'control');
  mkdirSync(controlDir, { recursive: true });
  writeFileSync(join(controlDir, 'control'), control('control-bomb'));
  const members = [];
  for (let i = 0; i < BOMB_MEMBERS; i++) {
    const name = `blob${String(i).padStart(2, '0')}`;
    // Sparse on disk; tar (without --sparse) stores every zero byte.
    sh('truncate', ['-s', String(BOMB_MEMBER_SIZE), join(controlDir, name)]);
    members.push(`./${name}`);
  }
  sh('sh', ['-c', `tar -C ${controlDir} --owner=0 --group=0 -cf - ./control ${members.join(' ')} | gzip -1 > ${dir}/control.tar.gz`]);
  const dataDir = join(dir, 'data');
  mkdirSync(join(dataDir, 'usr/share/control-bomb'), { recursive: true });
  writeFileSync(join(dataDir, 'usr/share/control-bomb/x'), 'x\n');
  sh('sh', ['-c', `tar -C ${dataDir} --owner=0 --group=0 -czf ${dir}/data.tar.gz .`]);
  writeFileSync(join(dir, 'debian-binary'), '2.0\n');
  const deb = join(work, 'control-bomb_1.0_all.deb');
  sh('ar', ['rc', deb, join(dir, 'debian-binary'), join(dir, 'control.tar.gz'), join(dir, 'data.tar.gz')]);
  rmSync(dir, { recursive: true, force: true });
  return deb;
}

/** An ordinary package built by dpkg-deb: one LARGEST_FILE of random bytes and 2000 small files. */
function buildNormal() {
  const dir = join(work, 'normal');
  mkdirSync(join(dir, 'DEBIAN'), { recursive: true });
  writeFileSync(join(dir, 'DEBIAN/control'), control('memory-normal'));
  const share = join(dir, 'usr/share/memory-normal');
  for (let d = 0; d < 20; d++) {
    mkdirSync(join(share, String(d)), { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(share, String(d), `f${f}`), `${d}/${f}\n`.repeat(50));
  }
  writeFileSync(join(share, 'large'), randomBytes(LARGEST_FILE));
  const deb = join(work, 'memory-normal_1.0_all.deb');
  sh('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z1', '--build', dir, deb]);
  rmSync(dir, { recursive: true, force: true });
  return deb;
}

/** A .deb whose data.tar.gz holds one zero-filled file of PAYLOAD_GIB GiB, built with tar and ar. */
function buildPayloadBomb() {
  const dir = join(work, 'payload');
  mkdirSync(join(dir, 'control'), { recursive: true });
  writeFileSync(join(dir, 'control/control'), control('payload-bomb'));
  sh('sh', ['-c', `tar -C ${dir}/control --owner=0 --group=0 -czf ${dir}/control.tar.gz ./control`]);
  mkdirSync(join(dir, 'data/usr/share/payload-bomb'), { recursive: true });
  sh('truncate', ['-s', String(PAYLOAD_GIB * 1024 * MIB), join(dir, 'data/usr/share/payload-bomb/zeros')]);
  sh('sh', ['-c', `tar -C ${dir}/data --owner=0 --group=0 -cf - . | gzip -1 > ${dir}/data.tar.gz`]);
  writeFileSync(join(dir, 'debian-binary'), '2.0\n');
  const deb = join(work, 'payload-bomb_1.0_all.deb');
  sh('ar', ['rc', deb, join(dir, 'debian-binary'), join(dir, 'control.tar.gz'), join(dir, 'data.tar.gz')]);
  rmSync(dir, { recursive: true, force: true });
  return deb;
}

/** A throwaway dpkg root with an empty database. */
function dpkgRoot(name) {
  const root = join(work, `dpkg-${name}`);
  for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'var/lib/dpkg/status'), '');
  writeFileSync(join(root, 'var/lib/dpkg/available'), '');
  return root;
}

const base = await ensureDebianMinbase();
const cases = [
  { what: `control bomb (${BOMB_MEMBERS} x ${BOMB_MEMBER_SIZE / MIB} MiB control members)`, deb: buildControlBomb(), largest: 0 },
  { what: `normal package (one ${LARGEST_FILE / MIB} MiB file, 2000 small)`, deb: buildNormal(), largest: LARGEST_FILE },
  { what: `payload bomb (one ${PAYLOAD_GIB} GiB file of zeros)`, deb: buildPayloadBomb(), largest: PAYLOAD_GIB * 1024 * MIB },
];

let over = false;
try {
  for (const c of cases) {
    const s = await makeSysroot({ base });
    let ours;
    try {
      ours = peakRss(['node', CLI, 'install', '--sysroot', s.sysroot, '--os', s.osName, c.deb]);
    } finally {
      await s.dispose();
    }
    const root = dpkgRoot(c.deb.replace(/\W+/g, '-'));
    const dpkg = peakRss(['dpkg', `--root=${root}`, '--force-not-root', '--unpack', c.deb]);
    rmSync(root, { recursive: true, force: true });
    const goal = GOAL_BASE + c.largest;
    const verdict = ours.bytes <= goal ? 'within' : 'OVER';
    if (ours.bytes > goal) over = true;
    console.log(`${c.what}, ${mb(statSync(c.deb).size)} on disk:`);
    console.log(`  ostree-layer install: peak RSS ${mb(ours.bytes)} (exit ${ours.status}: ${ours.lastLine})`);
    console.log(`  dpkg --unpack:        peak RSS ${mb(dpkg.bytes)} (exit ${dpkg.status})`);
    console.log(`  goal ≤ ${mb(goal)} (256 MiB + largest file): ${verdict}; ${(ours.bytes / dpkg.bytes).toFixed(1)}x dpkg`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (over) process.exitCode = 1;
