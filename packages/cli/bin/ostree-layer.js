#!/usr/bin/env -S node --v8-pool-size=1
// The `ostree-layer` bin. npm links a bin only when its target exists at `npm ci` time, which is before `tsc -b`
// builds dist/: this committed file is that target, and runs the built command.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

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

const main = currentBundle() ?? new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('ostree-layer: the command is not built yet; run `npx tsc -b` (or scripts/setup) in the repository first\n');
  process.exit(1);
}
await import(main.href);

/**
 * bundle/main.js (scripts/bundle-cli.mjs: the same build in a few files, a third faster to start) when it was made
 * from the build that is there now: each file its stamp names is unchanged. Otherwise undefined, and dist/ runs.
 */
function currentBundle() {
  const cli = new URL('../', import.meta.url);
  try {
    const stamp = JSON.parse(readFileSync(new URL('bundle/stamp.json', cli), 'utf8'));
    for (const { file, mtimeMs, size } of stamp) {
      const st = statSync(new URL(file, cli));
      if (st.mtimeMs !== mtimeMs || st.size !== size) return undefined;
    }
    return new URL('bundle/main.js', cli);
  } catch {
    return undefined;
  }
}
