/**
 * Where a tree keeps its rpmdb: a `%_dbpath` set in the tree's own rpm macros wins; otherwise the usual places,
 * read-only /usr first, the legacy /var location last.
 */
import { join, posix } from 'node:path';
import type { LayerFile, TreeReader } from '@ostree-layer/core';

export const DEFAULT_LOCATIONS = ['/usr/lib/sysimage/rpm', '/usr/share/rpm', '/var/lib/rpm'];
/** Macro directories in increasing precedence (a later definition overrides an earlier one, as in rpm). */
export const MACRO_DIRS = ['/usr/lib/rpm/macros.d', '/usr/etc/rpm', '/etc/rpm'];

export type DatabaseFormat = 'sqlite' | 'bdb' | 'ndb';
export const DATABASE_FILES: Array<[string, DatabaseFormat]> = [['rpmdb.sqlite', 'sqlite'], ['Packages.db', 'ndb'], ['Packages', 'bdb']];

/** The few built-in macros a %_dbpath value uses in practice. */
const BUILTIN: Record<string, string> = {
  _usr: '/usr', _prefix: '/usr', _var: '/var', _localstatedir: '/var', _sysconfdir: '/etc', _usrlibdir: '/usr/lib',
};

function expand(value: string, macros: Record<string, string>, depth = 0): string {
  if (depth > 10) return value;
  const out = value.replace(/%\{\??([A-Za-z_][A-Za-z0-9_]*)\}|%([A-Za-z_][A-Za-z0-9_]*)/g, (whole, a: string, b: string) => {
    const v = macros[a ?? b] ?? BUILTIN[a ?? b];
    return v === undefined ? whole : v;
  });
  return out === value ? out : expand(out, macros, depth + 1);
}

/** `%_dbpath` as the tree's macro files set it (last definition wins), or undefined. */
export async function configuredDbPath(tree: TreeReader): Promise<string | undefined> {
  const macros: Record<string, string> = {};
  const files = ['/usr/lib/rpm/macros'];
  for (const dir of MACRO_DIRS) {
    const st = await tree.lstat(dir);
    if (st?.type !== 'directory') continue;
    for (const name of (await tree.readdir(dir)).sort()) if (name.startsWith('macros')) files.push(join(dir, name));
  }
  for (const path of files) {
    const st = await tree.lstat(path);
    if (st?.type !== 'file') continue;
    const text = (await tree.readFile(path)).toString('utf8');
    for (const line of text.split('\n')) {
      const m = /^\s*%([A-Za-z_][A-Za-z0-9_]*)\s+(.*?)\s*$/.exec(line);
      if (m && m[2] !== '' && !m[2].endsWith('\\')) macros[m[1]] = m[2];
    }
  }
  const dbpath = macros._dbpath;
  if (dbpath === undefined) return undefined;
  const expanded = expand(dbpath, macros);
  return expanded.startsWith('/') ? posix.normalize(expanded).replace(/(.)\/+$/, '$1') : undefined;
}

/** The database file and format inside `dir`, or null when none is there. */
export async function databaseFileIn(tree: TreeReader, dir: string): Promise<{ path: string; format: DatabaseFormat } | null> {
  for (const [name, format] of DATABASE_FILES) {
    const path = join(dir, name);
    const st = await tree.lstat(path);
    if (st?.type === 'file') return { path, format };
  }
  return null;
}

/** The directory holding the tree's rpmdb, or null when the tree has none. */
export async function locateDatabase(tree: TreeReader): Promise<string | null> {
  const configured = await configuredDbPath(tree);
  const candidates = configured ? [configured, ...DEFAULT_LOCATIONS] : DEFAULT_LOCATIONS;
  for (const dir of candidates) if (await databaseFileIn(tree, dir)) return dir;
  return null;
}

/** The macro file ostree-layer ships when a tree's rpm would not find its database where the tree keeps it. */
export const DBPATH_MACRO_FILE = '/usr/lib/rpm/macros.d/macros.ostree-layer';

/**
 * A `%_dbpath` macro pointing rpm (and dnf, which asks rpm) at `location`, or null when the tree's macros already
 * say so. Debian's rpm, for one, defaults to ~/.rpmdb; Fedora's to /usr/lib/sysimage/rpm.
 */
export async function dbPathMacro(tree: TreeReader, location: string): Promise<LayerFile | null> {
  if ((await configuredDbPath(tree)) === location) return null;
  return {
    path: DBPATH_MACRO_FILE,
    type: 'file',
    mode: 0o644,
    content: `# ostree-layer: the package database of this deployment (read-only /usr)\n%_dbpath ${location}\n`,
  };
}
