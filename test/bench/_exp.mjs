import { install } from '@ostree-layer/core';
import { dpkgPlugin } from '@ostree-layer/dpkg';
import { ensureDebianMinbase, makeSysroot, resolveCacheDir } from '@ostree-layer/testkit';
import { readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
const base = await ensureDebianMinbase();
const dir = join(resolveCacheDir(), 'bench-debs');
const debs = readdirSync(dir).filter((f) => f.endsWith('.deb')).map((f) => join(dir, f));
const s = await makeSysroot({ base });
const r = await install({ plugins: [dpkgPlugin], files: debs, sysroot: s.sysroot, osName: s.osName, commitOnly: undefined });
console.log(JSON.stringify(r.timings));
const sh = (c) => { const t = performance.now(); execFileSync('sh', ['-c', c], { stdio: 'inherit' }); return (performance.now() - t).toFixed(0); };
const repo = `${s.sysroot}/ostree/repo`;
console.log('status', sh(`ostree admin status --sysroot=${s.sysroot} >/dev/null`));
for (let i = 0; i < 2; i++) {
  console.log('deploy ours again', sh(`ostree admin deploy --sysroot=${s.sysroot} --os=${s.osName} --retain ${r.commit}`));
  console.log('deploy base again', sh(`ostree admin deploy --sysroot=${s.sysroot} --os=${s.osName} --retain ${base.commit}`));
}
console.log('prune', sh(`ostree prune --repo=${repo} --refs-only`));
console.log('cleanup', sh(`ostree admin cleanup --sysroot=${s.sysroot}`));
console.log('objects', execFileSync('sh', ['-c', `find ${repo}/objects -type f | wc -l; du -sh ${repo}`]).toString());
process.env.KEEP || await s.dispose();
