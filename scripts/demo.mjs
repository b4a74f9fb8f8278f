// Demo driver (see scripts/demo): everything it builds lives under .demo/ and is replaced on the next run.
// Extra arguments name other packages to layer instead of htop.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureDebianMinbase, makeSysroot, removeTree } from '@ostree-layer/testkit';

const root = resolve(import.meta.dirname, '..');
const demo = join(root, '.demo');
const cli = join(root, 'packages/cli/bin/ostree-layer.js');
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

const cache = ['--cache-dir', join(demo, 'cache')];
step(`What ${packages.join(' ')} needs beyond the base, resolved from the deployment's own apt sources (dry run)`);
run('node', [cli, 'install', '--dry-run', ...target, ...cache, ...packages]);

step('ostree-layer install: fetch and verify, import each package, write the dpkg database, compose, deploy');
const started = Date.now();
run('node', [cli, 'install', ...target, ...cache, ...packages]);
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
