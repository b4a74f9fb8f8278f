/**
 * The install scriptlet of a pacman package (`.INSTALL`), run as libalpm 13 runs it for `pacman -U`: the file is
 * sourced by /bin/sh and the function called with the new version — `pre_install <ver>` before the payload is
 * extracted, `post_install <ver>` after it and after the database entry is written. libalpm skips a function the file
 * does not define (it greps for it); `command -v` does the same here. The tree's alpm hooks that the new packages
 * trigger run around them as pacman runs them: PreTransaction ones first, PostTransaction ones last (hooks.ts).
 */
import { ScriptError, SCRIPT_DIR, type ScriptPlan, type ScriptStep, type TreeReader, type WriteDatabaseOptions } from '@ostree-layer/core';
import { PacmanPackage } from './archive.js';
import { HookSyntaxError, hookDirOf, triggeredHooks } from './hooks.js';

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
  // Hook files the new packages ship: read from their payload (only packages that have any are read again).
  const shipped = new Map<string, Buffer>();
  for (const a of added) {
    const wanted = new Set(a.entries.filter((e) => e.type === 'file' && hookDirOf(e.path)).map((e) => e.path));
    if (wanted.size > 0 && a.package instanceof PacmanPackage) for (const [path, content] of await a.package.readFiles(wanted)) shipped.set(path, content);
  }
  let hooks: Awaited<ReturnType<typeof triggeredHooks>>;
  try {
    hooks = await triggeredHooks(tree, added.map((a) => ({ name: a.package.id.name, entries: a.entries })), shipped);
  } catch (err) {
    if (err instanceof HookSyntaxError) throw new ScriptError(`an alpm hook of the deployment cannot be read (${err.message}); pacman refuses it too: fix or remove the hook`);
    throw err;
  }
  if (scripted.length === 0 && hooks.length === 0) return null;
  if (scripted.length > 0 && !(await hasShell(tree))) {
    throw new ScriptError(`${scripted.map((p) => p.id.name).join(', ')}: the .INSTALL scriptlet needs ${SHELL}, which the tree does not have; install a shell package first, or pass --no-scripts`);
  }
  const hookStep = ({ hook, targets }: (typeof hooks)[number]): ScriptStep => ({
    label: `hook ${hook.name}${hook.description ? ` (${hook.description})` : ''}`,
    argv: hook.exec,
    stdin: hook.needsTargets ? targets.map((t) => `${t}\n`).join('') : undefined,
  });
  const files = scripted.map((p) => ({ name: `${p.id.name}.install`, content: p.install!, mode: 0o644 }));
  return {
    files,
    beforePayload: [...hooks.filter((h) => h.hook.when === 'PreTransaction').map(hookStep), ...scripted.map((p) => step(p, `${p.id.name}.install`, 'pre_install'))],
    afterPayload: [...scripted.map((p) => step(p, `${p.id.name}.install`, 'post_install')), ...hooks.filter((h) => h.hook.when === 'PostTransaction').map(hookStep)],
    binds: [],
    sandboxOnly: [],
    discard: [],
  };
}
