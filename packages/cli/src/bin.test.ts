/**
 * The bin runs packages/cli/bundle (scripts/bundle-cli.mjs) only while it was made from the build that is there: a
 * build that changed since must run dist/, never stale code.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../bin/ostree-layer.js');
const work = mkdtempSync(join(tmpdir(), 'ostree-layer-bin-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A package directory with the real bin, a dist/ and a bundle/ that each say which one ran. */
function fakePackage(name: string): { dir: string; info: string; run: () => string } {
  const dir = join(work, name);
  for (const d of ['bin', 'dist', 'bundle']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync(BIN, join(dir, 'bin/ostree-layer.js'));
  writeFileSync(join(dir, 'dist/main.js'), "console.log('dist');\n");
  writeFileSync(join(dir, 'bundle/main.cjs'), "console.log(require('./chunk.cjs'));\n");
  writeFileSync(join(dir, 'bundle/chunk.cjs'), "module.exports = 'bundle';\n");
  const info = join(dir, 'dist/.tsbuildinfo');
  writeFileSync(info, '{}');
  const st = statSync(info);
  writeFileSync(join(dir, 'bundle/stamp.json'), JSON.stringify([{ file: 'dist/.tsbuildinfo', mtimeMs: st.mtimeMs, size: st.size }]));
  const run = (env: NodeJS.ProcessEnv = {}) => execFileSync(process.execPath, [join(dir, 'bin/ostree-layer.js')], { encoding: 'utf8', env: { ...process.env, ...env } }).trim();
  return { dir, info, run };
}

describe('the ostree-layer bin', () => {
  it('runs the bundle while every file its stamp names is unchanged', () => {
    expect(fakePackage('current').run()).toBe('bundle');
  });

  it('runs dist/ once a build rewrote what the bundle was made from, or the bundle is incomplete', () => {
    const touched = fakePackage('touched');
    const later = new Date(statSync(touched.info).mtimeMs + 5000);
    utimesSync(touched.info, later, later);
    expect(touched.run()).toBe('dist');

    const grown = fakePackage('grown');
    writeFileSync(grown.info, '{"changed": true}');
    expect(grown.run()).toBe('dist');

    const unstamped = fakePackage('unstamped');
    rmSync(join(unstamped.dir, 'bundle/stamp.json'));
    expect(unstamped.run()).toBe('dist');
  });

  it('compiles each chunk from the code cache beside it, and from source when V8 refuses that cache', () => {
    const cached = fakePackage('cached');
    expect(cached.run({ OSTREE_LAYER_CODE_CACHE: 'write' })).toBe('bundle');
    const report = spawnSync(process.execPath, [join(cached.dir, 'bin/ostree-layer.js')], { encoding: 'utf8', env: { ...process.env, OSTREE_LAYER_CODE_CACHE: 'report' } });
    expect(report.stdout.trim()).toBe('bundle');
    expect(report.stderr).toMatch(/bundle\/main\.cjs: accepted/);
    expect(report.stderr).toMatch(/bundle\/chunk\.cjs: accepted/);

    // A cache from another Node or of other bytes: the chunk still runs, compiled from its source.
    writeFileSync(join(cached.dir, 'bundle/chunk.cjs.cache'), Buffer.alloc(64, 7));
    const refused = spawnSync(process.execPath, [join(cached.dir, 'bin/ostree-layer.js')], { encoding: 'utf8', env: { ...process.env, OSTREE_LAYER_CODE_CACHE: 'report' } });
    expect(refused.stdout.trim()).toBe('bundle');
    expect(refused.stderr).toMatch(/bundle\/chunk\.cjs: rejected/);
  });

  // scripts/test bundles (scripts/setup) right before the tests and says so: they then run the bundle, as users do. A
  // plain `npx vitest` after `tsc -b` runs dist/, which the tests above show is what a stale bundle falls back to.
  it.runIf(process.env.OSTREE_LAYER_TEST_BUNDLE === 'current')('is current after scripts/setup: the tests run the bundle', () => {
    // The bin names each chunk it loads, and whether V8 took its code cache, under OSTREE_LAYER_CODE_CACHE=report;
    // scripts/bundle-cli.mjs made those caches with a run of this very command.
    const ran = spawnSync(process.execPath, [BIN, 'install', join(work, 'no-such.deb')], { encoding: 'utf8', env: { ...process.env, OSTREE_LAYER_CODE_CACHE: 'report' } });
    expect(ran.status).toBe(2);
    expect(ran.stderr).toContain('no such package file');
    const loaded = [...ran.stderr.matchAll(/^code cache (\S+): (\w+)$/gm)];
    expect(loaded.map(([, file]) => file)).toContain(join(import.meta.dirname, '../bundle/main.cjs'));
    expect(loaded.filter(([, , verdict]) => verdict !== 'accepted')).toEqual([]);
  });
});
