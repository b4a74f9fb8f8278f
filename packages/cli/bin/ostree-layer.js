#!/usr/bin/env -S node --v8-pool-size=1
// The `ostree-layer` bin. npm links a bin only when its target exists at `npm ci` time, which is before `tsc -b`
// builds dist/: this committed file is that target, and runs the built command.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';

// V8 doubles the young generation each time objects survive it, up to 3 x 16 MiB, which it then keeps: a dry run
// against Debian's main index (a few thousand packages, 120 MB of short-lived allocations) peaked at 135 MiB
// resident instead of 92. Kept at its initial size, the young generation is collected more often, each time in less
// than a millisecond, and the commands measured no slower (test/bench/apt-resolve.mjs, test/bench/deb-import.mjs).
setFlagsFromString('--semi-space-growth-factor=1');
// The shebang's --v8-pool-size=1 (a platform setting, too late for setFlagsFromString): V8's default of four worker
// threads gives each background compile its own malloc arena, and what they free stays resident. With one, the same
// dry run peaked at 86 MB instead of 95; --optimize-for-size (the old generation grown in smaller steps) took it to
// 84. Neither made the dry run or the import of a 23 MB .deb slower (test/bench/apt-resolve.mjs runs this file as
// users do).
setFlagsFromString('--optimize-for-size');

const bundle = currentBundle();
if (bundle) runBundle(bundle);
else {
  const dist = new URL('../dist/main.js', import.meta.url);
  if (!existsSync(dist)) {
    process.stderr.write('ostree-layer: the command is not built yet; run `npx tsc -b` (or scripts/setup) in the repository first\n');
    process.exit(1);
  }
  await import(dist.href);
}

/**
 * The bundle's directory (scripts/bundle-cli.mjs: the same build in a few CommonJS files, with their V8 code caches)
 * when it was made from the build that is there now: each file its stamp names is unchanged. Otherwise undefined, and
 * dist/ runs.
 */
function currentBundle() {
  const cli = new URL('../', import.meta.url);
  try {
    const stamp = JSON.parse(readFileSync(new URL('bundle/stamp.json', cli), 'utf8'));
    for (const { file, mtimeMs, size } of stamp) {
      const st = statSync(new URL(file, cli));
      if (st.mtimeMs !== mtimeMs || st.size !== size) return undefined;
    }
    return new URL('bundle/', cli).pathname;
  } catch {
    return undefined;
  }
}

/**
 * Runs bundle/main.cjs, loading it and the chunks it requires as Node loads CommonJS, but compiled from the code cache
 * beside each chunk (`<chunk>.cache`): V8 then skips parsing and compiling what the cache holds. An `install` reached
 * its first step after 167 ms instead of 196 (ES module chunks without a cache; `node -e 0`: 98 ms), `vercmp` after
 * 131 instead of 143. A cache V8 refuses (another Node, other flags) costs nothing but that time: the chunk compiles
 * from source. The caches are made by scripts/bundle-cli.mjs, in the checkout, never in a shared temporary directory:
 * V8 checks a cache against little more than the source's length, so a cache others can write is code they run.
 * OSTREE_LAYER_CODE_CACHE=write (the bundle script) writes the caches of the chunks a run compiled, as they are at
 * its exit; =report names each chunk loaded and whether its cache was accepted, on stderr.
 */
function runBundle(dir) {
  const mode = process.env.OSTREE_LAYER_CODE_CACHE;
  const nodeRequire = createRequire(join(dir, 'main.cjs'));
  const modules = new Map();
  const compiled = [];
  const load = (file) => {
    let module = modules.get(file);
    if (module) return module.exports;
    module = { exports: {} };
    modules.set(file, module);
    let cachedData;
    try {
      cachedData = readFileSync(`${file}.cache`);
    } catch {
      cachedData = undefined;
    }
    const wrapped = `(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`;
    // No import() in the chunks (scripts/bundle-cli.mjs makes sure): Node 20 loses its callback with a code cache.
    const script = new Script(wrapped, { filename: file, cachedData });
    if (mode === 'report') process.stderr.write(`code cache ${file}: ${!cachedData ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted'}\n`);
    if (!cachedData) compiled.push([file, script]);
    script.runInThisContext()(module.exports, bundleRequire, module, file, dir);
    return module.exports;
  };
  // The chunks name each other as ./<chunk>.cjs; anything else is Node's (built-ins, the native add-ons).
  const bundleRequire = (id) => (id.startsWith('./') ? load(join(dir, id)) : nodeRequire(id));
  if (mode === 'write') process.on('exit', () => {
    for (const [file, script] of compiled) writeFileSync(`${file}.cache`, script.createCachedData());
  });
  load(join(dir, 'main.cjs'));
}
