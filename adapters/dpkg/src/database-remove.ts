/**
 * The dpkg database for an uninstall: what to layer over the base's database so that it describes the base plus every
 * layered package but the removed ones. Everything is derived from the current database and the base's; nothing is
 * rebuilt from package files, which the engine may no longer have.
 */
import {
  mapBounded, SystemStateError, type DatabaseWithoutOptions, type LayerFile, type PackageId, type TreeReader,
} from '@ostree-layer/core';
import { formatParagraph, formatParagraphs, type Paragraph } from './control.js';
import { DpkgDatabase, infoName, openDatabase } from './database.js';
import { nativeToolFiles } from './native-tools.js';

/**
 * Admin-dir entries never carried over: `status` is rewritten, `info/` is handled file by file, and the rest are
 * backups, caches, locks or an unfinished journal that describe the current tree's last dpkg run, not the new tree.
 */
const NOT_CARRIED = new Set(['status', 'info', 'status-old', 'available', 'available-old', 'lock', 'lock-frontend', 'updates', 'triggers/Lock']);

type Key = string;
const keyOf = (p: Paragraph): Key => `${p.get('Package') ?? ''}\0${p.get('Architecture') ?? ''}`;

/** Reads in flight at once: trees may answer each read with a round trip. */
const READS_IN_FLIGHT = 16;

async function readdirOrEmpty(tree: TreeReader, dir: string): Promise<string[]> {
  const st = await tree.lstat(dir);
  return st?.type === 'directory' ? tree.readdir(dir) : [];
}

/** The entry at `path` in `tree` as a LayerFile, or null when it is missing or differs from nothing in `base`. */
async function changedEntry(tree: TreeReader, base: TreeReader, path: string): Promise<LayerFile | null> {
  const [st, bst] = await Promise.all([tree.lstat(path), base.lstat(path)]);
  if (!st) return null;
  if (st.type === 'symlink') {
    const target = await tree.readlink(path);
    if (bst?.type === 'symlink' && (await base.readlink(path)) === target) return null;
    return { path, type: 'symlink', mode: 0o777, content: target };
  }
  if (st.type !== 'file') return null;
  const content = await tree.readFile(path);
  if (bst?.type === 'file' && bst.mode === st.mode && bst.size === st.size && (await base.readFile(path)).equals(content)) return null;
  return { path, type: 'file', mode: st.mode, content };
}

function listLines(buf: Buffer): string[] {
  return buf.toString('utf8').split('\n').filter((l) => l !== '');
}

/** Builds the database layer for an uninstall: see {@link Backend.databaseWithout}. */
export async function databaseWithout(options: DatabaseWithoutOptions): Promise<LayerFile[]> {
  const { tree, base, remove, changed } = options;
  const db = options.database instanceof DpkgDatabase ? options.database : await openDatabase(tree, options.database.location);
  const loc = db.location;
  // Without the engine's list of what differs, every file is compared with the base: read both from disk.
  if (!changed) await Promise.all([tree.prefetch?.(loc), base.prefetch?.(loc)]);
  // Asked together: a base read from the repo answers each with a process.
  const [baseStatus, opened] = await Promise.all([base.lstat(`${loc}/status`), openDatabase(base, loc).catch((err: unknown) => err)]);
  if (baseStatus?.type !== 'file') {
    throw new SystemStateError(`${base.description}: the base has no dpkg database at ${loc} where the current tree keeps it; cannot uninstall onto a base with a moved database`);
  }
  if (!(opened instanceof DpkgDatabase)) throw opened;
  const baseDb = opened;
  const baseByKey = new Map(baseDb.paragraphs.map((p) => [keyOf(p), p]));

  // Removal by name and architecture: the status file holds one paragraph per pair.
  const removedKeys = new Set<Key>();
  for (const id of remove) {
    const matches = db.paragraphs.filter((p) => p.get('Package') === id.name && (!id.arch || p.get('Architecture') === id.arch));
    if (matches.length === 0) throw new SystemStateError(`${tree.description}: ${describe(id)} is not in the dpkg database at ${loc}; nothing to uninstall`);
    for (const p of matches) {
      const inBase = baseByKey.get(keyOf(p));
      if (inBase && formatParagraph(inBase) === formatParagraph(p)) {
        throw new SystemStateError(`${describe(id)} is part of the base image, not a layered package; it cannot be uninstalled (rebase to an image without it)`);
      }
      removedKeys.add(keyOf(p));
    }
  }

  // A removed package that had replaced a base package of the same name and arch gives the base's paragraph back.
  const status: Paragraph[] = [];
  const restored = new Set<Paragraph>();
  const removedInfo = new Set<string>();
  for (const p of db.paragraphs) {
    if (!removedKeys.has(keyOf(p))) {
      status.push(p);
      continue;
    }
    const name = p.get('Package')!;
    for (const n of [infoName(p), name, `${name}:${p.get('Architecture')}`]) removedInfo.add(n);
    const inBase = baseByKey.get(keyOf(p));
    if (inBase) {
      status.push(inBase);
      restored.add(inBase);
    }
  }
  // A remaining package (another arch of a Multi-Arch: same one) keeps its files even if a name above matched them.
  const baseInfoNames = new Set<string>();
  const layeredInfoNames = new Set<string>();
  for (const p of status) {
    // A restored base package's info files come back with the base: none of the current ones are kept.
    if (!restored.has(p)) removedInfo.delete(infoName(p));
    const inBase = baseByKey.get(keyOf(p));
    if (inBase && inBase.get('Version') === p.get('Version')) baseInfoNames.add(infoName(p));
    else layeredInfoNames.add(infoName(p));
  }

  const files: LayerFile[] = [];
  const info = `${loc}/info`;
  // Files identical to the base's need no place in the layer: with the engine's diff only the differing ones are read.
  const current = changed ? childrenIn(changed, info) : await readdirOrEmpty(tree, info);
  const kept = current.filter((f) => {
    const dot = f.lastIndexOf('.');
    return dot <= 0 || !removedInfo.has(f.slice(0, dot));
  });
  // Paths the remaining layered packages own: a base .list may stay without them (Replaces), and only then.
  const layeredPaths = new Set<string>();
  for (const lines of await db.listFiles([...layeredInfoNames])) for (const l of lines) layeredPaths.add(l);

  const differing = await mapBounded(kept, READS_IN_FLIGHT, async (f): Promise<LayerFile | null> => {
    const path = `${info}/${f}`;
    const entry = changed ? await entryOf(tree, path) : await changedEntry(tree, base, path);
    const inBase = changed ? changed.get(path) === 'modified' : Boolean(await base.lstat(path));
    if (!entry || !f.endsWith('.list') || !baseInfoNames.has(f.slice(0, -5)) || !inBase) return entry;
    return restoredList(base, path, entry, layeredPaths);
  });
  for (const f of differing) if (f) files.push(f);

  files.push(...(changed ? await changedElsewhere(tree, loc, changed) : await carriedOver(tree, base, loc, '')));
  for (const dir of [info, `${loc}/updates`]) {
    const st = await tree.lstat(dir);
    const inBase = changed ? changed.get(dir) !== 'added' : Boolean(await base.lstat(dir));
    if (st?.type === 'directory' && !inBase) files.push({ path: dir, type: 'directory', mode: st.mode });
  }
  files.push({ path: `${loc}/status`, type: 'file', mode: 0o644, content: formatParagraphs(status) });
  // The marks come from the current tree (the base's would lose those of the packages that stay).
  files.push(...(await nativeToolFiles(tree, loc, { removed: remove, nativeArch: db.nativeArch() })));
  // Directories first, so a tree writer taking the list in order never meets a file before its parent.
  return [...files.filter((f) => f.type === 'directory'), ...files.filter((f) => f.type !== 'directory')];
}

/**
 * A base package's `.list` that layered packages shortened by taking files over (Replaces): the base's list without
 * the paths a remaining layered package still owns. Paths only a removed package took go back to the base package,
 * as their files come back with the base. Null when that is the base's list as it is.
 */
async function restoredList(base: TreeReader, path: string, current: LayerFile, layeredPaths: Set<string>): Promise<LayerFile | null> {
  const baseLines = listLines(await base.readFile(path));
  const now = new Set(listLines(current.content as Buffer));
  const lines = baseLines.filter((l) => now.has(l) || !layeredPaths.has(l));
  if (lines.length === baseLines.length) return null;
  return { path, type: 'file', mode: current.mode, content: lines.map((l) => l + '\n').join('') };
}

/** The names directly inside `dir` among the changed paths. */
function childrenIn(changed: Map<string, 'added' | 'modified'>, dir: string): string[] {
  const out: string[] = [];
  for (const path of changed.keys()) {
    const rest = path.startsWith(dir + '/') ? path.slice(dir.length + 1) : '';
    if (rest && !rest.includes('/')) out.push(rest);
  }
  return out;
}

/** The file or symlink at `path` in `tree` as a LayerFile (null for anything else). */
async function entryOf(tree: TreeReader, path: string): Promise<LayerFile | null> {
  const st = await tree.lstat(path);
  if (st?.type === 'symlink') return { path, type: 'symlink', mode: 0o777, content: await tree.readlink(path) };
  if (st?.type === 'file') return { path, type: 'file', mode: st.mode, content: await tree.readFile(path) };
  return null;
}

/** {@link carriedOver} from the engine's diff: the changed paths outside `info/` and {@link NOT_CARRIED}. */
async function changedElsewhere(tree: TreeReader, loc: string, changed: Map<string, 'added' | 'modified'>): Promise<LayerFile[]> {
  const out: LayerFile[] = [];
  for (const [path, change] of changed) {
    if (!path.startsWith(loc + '/')) continue;
    const segments = path.slice(loc.length + 1).split('/');
    if (segments.some((_, i) => NOT_CARRIED.has(segments.slice(0, i + 1).join('/')))) continue;
    const st = await tree.lstat(path);
    if (st?.type === 'directory') {
      if (change === 'added') out.push({ path, type: 'directory', mode: st.mode });
    } else {
      const entry = await entryOf(tree, path);
      if (entry) out.push(entry);
    }
  }
  return out;
}

/**
 * Everything else in the admin dir (triggers/, diversions, statoverride, alternatives…) that the current tree has and
 * the base has not, or has with other content. writeDatabase never changes these, so this is normally empty.
 */
async function carriedOver(tree: TreeReader, base: TreeReader, loc: string, rel: string): Promise<LayerFile[]> {
  const dir = rel ? `${loc}/${rel}` : loc;
  const out: LayerFile[] = [];
  const names = (await readdirOrEmpty(tree, dir)).filter((n) => !NOT_CARRIED.has(rel ? `${rel}/${n}` : n));
  for (const n of names) {
    const sub = rel ? `${rel}/${n}` : n;
    const path = `${loc}/${sub}`;
    const st = await tree.lstat(path);
    if (st?.type === 'directory') {
      if ((await base.lstat(path))?.type !== 'directory') out.push({ path, type: 'directory', mode: st.mode });
      out.push(...(await carriedOver(tree, base, loc, sub)));
    } else {
      const entry = await changedEntry(tree, base, path);
      if (entry) out.push(entry);
    }
  }
  return out;
}

function describe(id: PackageId): string {
  return `package ${id.name}${id.arch ? `:${id.arch}` : ''}${id.version ? ` (${id.version})` : ''}`;
}
