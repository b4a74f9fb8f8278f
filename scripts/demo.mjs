// Demo driver (see scripts/demo): everything it builds lives under .demo/ and is replaced on the next run.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { aptDownloadClosure, ensureDebianMinbase, makeSysroot, removeTree } from '@ostree-layer/testkit';

const root = resolve(import.meta.dirname, '..');
const demo = join(root, '.demo');
const cli = join(root, 'packages/cli/dist/main.js');
const packages = process.argv.slice(2).length ? process.argv.slice(2) : ['htop'];

function step(text) {
  console.log(`\n== ${text}`);
}
function run(cmd, args) {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  execFileSync(cmd, args, { stdio: 'inherit' });
}

step('Debian bookworm minbase as an OSTree commit (built once with mmdebstrap, then cached)');
const base = await ensureDebianMinbase();
console.log(`${base.ref} = ${base.commit}`);

if (existsSync(join(demo, 'sysroot'))) await removeTree(join(demo, 'sysroot'), { sysroot: true });
step('A throwaway sysroot with that base deployed');
const sysroot = await makeSysroot({ base, dir: join(demo, 'sysroot') });
const target = ['--sysroot', sysroot.sysroot, '--os', sysroot.osName];
run('node', [cli, 'status', ...target]);

step(`apt picks what ${packages.join(' ')} needs beyond the base, and downloads it`);
const admindir = join(sysroot.deploymentDir(), 'usr/lib/sysimage/dpkg');
rmSync(join(demo, 'debs'), { recursive: true, force: true });
const debs = await aptDownloadClosure(packages, join(admindir, 'status'), join(demo, 'debs'));
for (const deb of debs) console.log(`  ${deb}`);

step('ostree-layer install');
const started = Date.now();
run('node', [cli, 'install', ...target, ...debs]);
console.log(`(${Date.now() - started} ms)`);

step('The new deployment boots next; the old one is kept as the rollback');
run('node', [cli, 'status', ...target]);
const fresh = sysroot.deploymentDir();
step('Judged by the real tools');
if (packages.includes('htop')) run('chroot', [fresh, '/usr/bin/htop', '--version']);
run('dpkg-query', [`--admindir=${join(fresh, 'usr/lib/sysimage/dpkg')}`, '-W', ...packages]);
run('dpkg', [`--admindir=${join(fresh, 'usr/lib/sysimage/dpkg')}`, '--audit']);
run('ostree', ['fsck', `--repo=${sysroot.repo}`]);
console.log(`\nThe sysroot stays in ${sysroot.sysroot} for a look around; the next run replaces it.`);
