#!/usr/bin/env node
/**
 * Bundles the built command (packages/cli/dist and the workspace packages it imports, after `tsc -b`) into
 * packages/cli/bundle, which the `ostree-layer` bin runs instead of dist/ while it is current. Resolving, reading and
 * compiling a hundred and fifty modules one by one was a third of every command's start-up: `install` reached its
 * first step after 146 ms from dist/ and after 100 ms from the bundle (`node -e 0`: 50 ms).
 *
 * The bundle records what it was made from (stamp.json: each built package's .tsbuildinfo, which `tsc -b` rewrites
 * whenever it emits, and npm's record of node_modules); the bin checks those few files and runs dist/ the moment one
 * differs, so a build without this step never runs stale code.
 */
import { rmSync, statSync, writeFileSync } from 'node:fs';
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
const { output } = await bundle.write({ dir: out, format: 'esm' });
await bundle.close();

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
console.log(`scripts/bundle-cli: ${output.length} files in ${relative(root, out)}, from ${[...sources].map((f) => relative(root, dirname(f))).sort().join(', ')}`);
