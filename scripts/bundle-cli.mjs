#!/usr/bin/env node
/**
 * Bundles the built command (packages/cli/dist and the workspace packages it imports, after `tsc -b`) into
 * packages/cli/bundle, which the `ostree-layer` bin runs instead of dist/ while it is current. Resolving, reading and
 * compiling a hundred and fifty modules one by one was a third of every command's start-up: `install` reached its
 * first step after 146 ms from dist/ and after 100 ms from the bundle (`node -e 0`: 50 ms). The chunks are CommonJS
 * with a V8 code cache each (made below, by running the bin), which took another 30 ms off (bin/ostree-layer.js).
 *
 * The bundle records what it was made from (stamp.json: each built package's .tsbuildinfo, which `tsc -b` rewrites
 * whenever it emits, and npm's record of node_modules); the bin checks those few files and runs dist/ the moment one
 * differs, so a build without this step never runs stale code.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { rolldown } from 'rolldown';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'packages/cli');
const out = join(cli, 'bundle');

// Native add-ons load their .node files from their own package directory: they stay outside the bundle.
const bundle = await rolldown({
  input: join(cli, 'dist/main.js'),
  platform: 'node',
  external: ['node-liblzma', 'better-sqlite3'],
  // A module loaded on demand in one place and up front in another is simply up front: nothing to warn about.
  onLog: (level, log, handler) => (log.code === 'INEFFECTIVE_DYNAMIC_IMPORT' ? undefined : handler(level, log)),
});
rmSync(out, { recursive: true, force: true });
// CommonJS chunks: the bin compiles them itself, from a V8 code cache made below (an ES module cannot start from one
// on Node 20).
const { output } = await bundle.write({ dir: out, format: 'cjs', dynamicImportInCjs: false, entryFileNames: '[name].cjs', chunkFileNames: '[name]-[hash].cjs' });
await bundle.close();
// A dynamic import() in a script compiled from a code cache fails on Node 20 ("a dynamic import callback was not
// specified"): external ones became require() above (dynamicImportInCjs: false), and none may be left.
for (const chunk of output) {
  if (chunk.type === 'chunk' && /^(?!\s*(?:\*|\/\*|\/\/)).*(?<![\w$.])import\(\s*["'`]/m.test(chunk.code)) throw new Error(`scripts/bundle-cli: ${chunk.fileName} still has a dynamic import()`);
}
// A shebang is no statement: the bin wraps each chunk in a function.
const main = join(out, 'main.cjs');
writeFileSync(main, readFileSync(main, 'utf8').replace(/^#!.*\n/, ''));

const sources = new Set([join(root, 'node_modules/.package-lock.json')]);
for (const chunk of output) {
  if (chunk.type !== 'chunk') continue;
  for (const id of chunk.moduleIds) {
    const built = /^(.*)\/dist\/[^/].*\.js$/.exec(id);
    if (built && !id.includes('/node_modules/')) sources.add(join(built[1], 'dist/.tsbuildinfo'));
  }
}
const stamp = [...sources].sort().map((file) => {
  const st = statSync(file);
  return { file: relative(cli, file), mtimeMs: st.mtimeMs, size: st.size };
});
writeFileSync(join(out, 'stamp.json'), `${JSON.stringify(stamp, null, 1)}\n`);

// The code caches: V8's compiled code for what a few commands run, as each process had it at exit. An install whose
// file is missing loads every module an install loads (and fails before it touches anything).
const bin = join(cli, 'bin/ostree-layer.js');
for (const args of [['install', join(out, 'no-such-package.deb')], ['vercmp', '1.0~rc1', 'lt', '1.0'], ['--version'], ['frontend', 'apt', '--version'], ['frontend', 'dnf', '--version']]) {
  spawnSync(process.execPath, [bin, ...args], { stdio: 'ignore', env: { ...process.env, OSTREE_LAYER_CODE_CACHE: 'write' } });
}
const caches = readdirSync(out).filter((f) => f.endsWith('.cache')).length;
if (caches === 0) throw new Error('scripts/bundle-cli: the bin wrote no code cache; is the bundle current?');
console.log(`scripts/bundle-cli: ${output.length} files (${caches} with a code cache) in ${relative(root, out)}, from ${[...sources].map((f) => relative(root, dirname(f))).sort().join(', ')}`);
