#!/usr/bin/env node
// The `ostree-layer` bin. npm links a bin only when its target exists at `npm ci` time, which is before `tsc -b`
// builds dist/: this committed file is that target, and runs the built command.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('ostree-layer: the command is not built yet; run `npx tsc -b` (or scripts/setup) in the repository first\n');
  process.exit(1);
}
await import(main.href);
