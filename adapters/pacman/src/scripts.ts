/**
 * The install scriptlet of a pacman package (`.INSTALL`), run as libalpm 13 runs it for `pacman -U`: the file is
 * sourced by /bin/sh and the function called with the new version — `pre_install <ver>` before the payload is
 * extracted, `post_install <ver>` after it and after the database entry is written. libalpm skips a function the file
 * does not define (it greps for it); `command -v` does the same here. pacman runs no other hook for a plain install
 * (alpm hooks in /usr/share/libalpm/hooks are not run: ostree-layer does not implement them yet).
 */
import { ScriptError, SCRIPT_DIR, type ScriptPlan, type ScriptStep, type TreeReader, type WriteDatabaseOptions } from '@ostree-layer/core';
import { PacmanPackage } from './archive.js';

/** libalpm's SCRIPTLET_SHELL. */
const SHELL = '/bin/sh';

async function hasShell(tree: TreeReader): Promise<boolean> {
  for (const path of ['/bin/sh', '/usr/bin/sh']) if (await tree.lstat(path)) return true;
  return false;
}

function step(pkg: PacmanPackage, fileName: string, fn: 'pre_install' | 'post_install'): ScriptStep {
  const script = `${SCRIPT_DIR}/${fileName}`;
  return {
    package: pkg.id,
    label: fn,
    argv: [SHELL, '-c', `. "$1"; if command -v ${fn} >/dev/null 2>&1; then ${fn} "$2"; fi`, fn, script, pkg.id.version],
  };
}

export async function planScripts({ tree, added }: WriteDatabaseOptions): Promise<ScriptPlan | null> {
  const scripted = added.map((a) => a.package).filter((p): p is PacmanPackage => p instanceof PacmanPackage && p.install !== undefined);
  if (scripted.length === 0) return null;
  if (!(await hasShell(tree))) {
    throw new ScriptError(`${scripted.map((p) => p.id.name).join(', ')}: the .INSTALL scriptlet needs ${SHELL}, which the tree does not have; install a shell package first, or pass --no-scripts`);
  }
  const files = scripted.map((p) => ({ name: `${p.id.name}.install`, content: p.install!, mode: 0o644 }));
  return {
    files,
    beforePayload: scripted.map((p) => step(p, `${p.id.name}.install`, 'pre_install')),
    afterPayload: scripted.map((p) => step(p, `${p.id.name}.install`, 'post_install')),
    binds: [],
    sandboxOnly: [],
    discard: [],
  };
}
