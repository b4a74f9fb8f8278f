/**
 * alpm hooks (alpm-hooks(5)): `*.hook` files in /usr/share/libalpm/hooks and /etc/pacman.d/hooks (a file of the same
 * name in /etc overrides, a link to /dev/null disables) that pacman runs around a transaction — `When =
 * PreTransaction` before any package changes, `PostTransaction` after them — when a `[Trigger]` matches: an
 * `Operation` of the transaction and a `Target` glob matching a package name (`Type = Package`) or an installed path
 * (`Type = Path`, relative, "!" negating). `NeedsTargets` feeds the matched targets on stdin. Hooks a new package
 * ships count for PostTransaction only, as with pacman: they are on disk once the packages are extracted.
 */
import type { PackageEntry, TreeReader } from '@ostree-layer/core';

export const HOOK_DIRS = ['/usr/share/libalpm/hooks', '/etc/pacman.d/hooks'];

export interface HookTrigger {
  operations: string[];
  type: 'Path' | 'Package';
  targets: string[];
}

export interface AlpmHook {
  /** The file name (hooks run in its order). */
  name: string;
  triggers: HookTrigger[];
  when: 'PreTransaction' | 'PostTransaction';
  exec: string[];
  needsTargets: boolean;
  abortOnFail: boolean;
  description?: string;
}

export class HookSyntaxError extends Error {}

/** Splits an Exec line into words as alpm's wordsplit does: whitespace, single and double quotes, backslashes. */
export function splitExec(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new HookSyntaxError(`unterminated quote in Exec = ${line}`);
  if (word !== null) words.push(word);
  return words;
}

export function parseHook(name: string, text: string): AlpmHook {
  const triggers: HookTrigger[] = [];
  let section = '';
  let action: Partial<AlpmHook> & { needsTargets: boolean; abortOnFail: boolean } = { needsTargets: false, abortOnFail: false };
  let seenAction = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      if (section === 'Trigger') triggers.push({ operations: [], type: 'Path', targets: [] });
      else if (section === 'Action') seenAction = true;
      else throw new HookSyntaxError(`unknown section [${section}]`);
      continue;
    }
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    const value = eq < 0 ? '' : line.slice(eq + 1).trim();
    if (section === 'Trigger') {
      const t = triggers.at(-1)!;
      if (key === 'Operation') t.operations.push(value);
      else if (key === 'Type') t.type = value === 'Package' ? 'Package' : 'Path'; // "File" is the old name of Path
      else if (key === 'Target') t.targets.push(value);
    } else if (section === 'Action') {
      if (key === 'When') action.when = value as AlpmHook['when'];
      else if (key === 'Exec') action.exec = splitExec(value);
      else if (key === 'NeedsTargets') action.needsTargets = true;
      else if (key === 'AbortOnFail') action.abortOnFail = true;
      else if (key === 'Description') action.description = value;
    }
  }
  if (!seenAction || !action.exec?.length) throw new HookSyntaxError('no [Action] with an Exec line');
  if (action.when !== 'PreTransaction' && action.when !== 'PostTransaction') throw new HookSyntaxError(`When = ${action.when ?? ''} is neither PreTransaction nor PostTransaction`);
  if (triggers.length === 0) throw new HookSyntaxError('no [Trigger]');
  return { name, triggers, when: action.when, exec: action.exec, needsTargets: action.needsTargets, abortOnFail: action.abortOnFail, description: action.description };
}

/** fnmatch(3) without flags, as alpm calls it: "*" and "?" match "/" too. */
function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) out += '\\[';
      else {
        const body = glob.slice(i + 1, end);
        out += `[${body.startsWith('!') ? '^' + body.slice(1) : body}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 's');
}

/** alpm's target match: the last matching pattern decides, a "!" one excluding. */
function matchesTargets(value: string, targets: string[]): boolean {
  let matched = false;
  for (const target of targets) {
    const negated = target.startsWith('!');
    if (globToRegExp(negated ? target.slice(1) : target).test(value)) matched = !negated;
  }
  return matched;
}

/** A hook directory path a new package ships at `path`, or undefined ("/usr/share/libalpm/hooks/x.hook" → its dir). */
export function hookDirOf(path: string): string | undefined {
  const dir = path.slice(0, path.lastIndexOf('/'));
  return HOOK_DIRS.includes(dir) && path.endsWith('.hook') ? dir : undefined;
}

/**
 * The hooks that an install of `added` triggers, in file-name order, each with the targets it matched (sorted, for
 * NeedsTargets): the tree's, and for PostTransaction also those in `shipped` (hook files of the new packages by path,
 * with their content). Paths are matched as alpm spells them: relative, directories with a trailing slash.
 */
export async function triggeredHooks(
  tree: TreeReader,
  added: Array<{ name: string; entries: PackageEntry[] }>,
  shipped: Map<string, Buffer> = new Map(),
): Promise<Array<{ hook: AlpmHook; targets: string[] }>> {
  // Per file name, per hook directory: the content, or null for a hook disabled by a link to /dev/null.
  const found = new Map<string, Map<string, { text: string | null; post: boolean }>>();
  const put = (dir: string, name: string, text: string | null, post: boolean) => {
    if (!found.has(name)) found.set(name, new Map());
    found.get(name)!.set(dir, { text, post });
  };
  for (const dir of HOOK_DIRS) {
    // /etc of a commit is /usr/etc.
    for (const real of dir.startsWith('/etc/') ? [`/usr${dir}`, dir] : [dir]) {
      if ((await tree.lstat(real))?.type !== 'directory') continue;
      for (const name of await tree.readdir(real)) {
        if (!name.endsWith('.hook')) continue;
        const path = `${real}/${name}`;
        const stat = await tree.lstat(path);
        if (stat?.type === 'symlink' && (await tree.readlink(path)) === '/dev/null') put(dir, name, null, false);
        else if (stat?.type === 'file') put(dir, name, (await tree.readFile(path)).toString('utf8'), false);
      }
    }
  }
  for (const [path, content] of shipped) {
    const dir = hookDirOf(path);
    if (dir) put(dir, path.slice(path.lastIndexOf('/') + 1), content.toString('utf8'), true);
  }
  const paths = added.flatMap((a) => a.entries.map((e) => e.path.slice(1) + (e.type === 'directory' ? '/' : '')));
  const names = added.map((a) => a.name);
  const out: Array<{ hook: AlpmHook; targets: string[] }> = [];
  for (const name of [...found.keys()].sort()) {
    const byDir = found.get(name)!;
    // /etc/pacman.d/hooks overrides /usr/share/libalpm/hooks.
    const chosen = byDir.get(HOOK_DIRS[1]!) ?? byDir.get(HOOK_DIRS[0]!)!;
    if (chosen.text === null) continue;
    const hook = parseHook(name, chosen.text);
    if (chosen.post && hook.when !== 'PostTransaction') continue;
    const targets = new Set<string>();
    for (const trigger of hook.triggers) {
      if (!trigger.operations.includes('Install')) continue;
      for (const value of trigger.type === 'Package' ? names : paths) if (matchesTargets(value, trigger.targets)) targets.add(value);
    }
    if (targets.size > 0) out.push({ hook, targets: [...targets].sort() });
  }
  return out;
}
