/**
 * The last layer of every compose: the updated package database, the layering state, and every directory the package
 * layers touched, carrying the base's metadata. A later `--tree=ref=` layer replaces the metadata of each directory it
 * contains (measured: see DESIGN.md), and package layers are cached across bases, so this layer puts the base's mode,
 * uid and gid back on top. It stays O(changes): only directories the new layers contain are written.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { LayerFile } from '../backend.js';
import type { ImportedPackage } from '../import/importer.js';
import { DEFAULT_DIR, LayerTar, type DirMeta, type LayerSink } from '../import/layer-tar.js';
import { writeLayer } from '../import/write-layer.js';
import type { PathPlacer } from '../import/placement.js';
import { SystemStateError } from '../errors.js';
import type { OstreeRepo } from '../ostree.js';
import { ancestors } from '../paths.js';

/** A directory some package layer contains, with the metadata the package gave it (absent when implicit). */
export interface LayerDirectory {
  path: string;
  meta?: DirMeta;
}

export interface FinalLayerInput extends FinalLayerSource {
  repo: OstreeRepo;
}

/** What the final layer holds. */
export interface FinalLayerSource {
  /** Reads the tree the compose starts from (its directories keep their metadata). */
  placer: PathPlacer;
  /** Every directory the package layers contain, in layer order. */
  directories: Iterable<LayerDirectory>;
  files: LayerFile[];
}

/** The directories an imported package's layer contains: its directory entries and every ancestor of its entries. */
export function* importedDirectories(packages: ImportedPackage[]): Generator<LayerDirectory> {
  for (const pkg of packages) {
    for (const entry of pkg.placed) {
      for (const dir of ancestors(entry.path)) yield { path: dir };
      if (entry.type === 'directory') yield { path: entry.path, meta: { mode: entry.mode, uid: entry.uid, gid: entry.gid } };
    }
  }
}

/** Bytes of regular files in each imported layer (by commit): what the compose picks each layer's route by. */
export function importedLayerBytes(packages: ImportedPackage[]): Map<string, number> {
  const bytes = new Map<string, number>();
  for (const pkg of packages) bytes.set(pkg.commit, pkg.placed.reduce((sum, e) => sum + (e.type === 'file' ? e.size : 0), 0));
  return bytes;
}

/** Writes the final layer as an orphan commit and returns its checksum; the files' own temporary sources go after. */
export async function commitFinalLayer(input: FinalLayerInput): Promise<string> {
  try {
    const dirs = await directoryMetadata(input.placer, input.directories);
    const dirMeta = async (dir: string) => dirs.get(dir) ?? (await baseMeta(input.placer, dir)) ?? DEFAULT_DIR;
    return await writeLayer(input.repo, { dirMeta, subject: 'ostree-layer database and directory metadata' }, (layer) => fillFinalLayer(input, dirs, layer));
  } finally {
    for (const file of input.files) await file.dispose?.();
  }
}

/**
 * The final layer as a tar stream handed to `consume` (the compose's `ostree commit`, which takes it as its top tree
 * while it is written); `signal` aborts the consumer when writing fails. The files' temporary sources go after.
 */
export async function streamFinalLayer<T>(input: FinalLayerSource, consume: (tar: Readable, signal: AbortSignal) => Promise<T>): Promise<T> {
  try {
    const dirs = await directoryMetadata(input.placer, input.directories);
    const layer = new LayerTar(async (dir) => dirs.get(dir) ?? (await baseMeta(input.placer, dir)) ?? DEFAULT_DIR);
    const abort = new AbortController();
    const committing = consume(layer.stream, abort.signal);
    committing.catch(() => undefined);
    try {
      await fillFinalLayer(input, dirs, layer);
      layer.finalize();
    } catch (err) {
      abort.abort();
      layer.destroy(err as Error);
      throw err;
    }
    return await committing;
  } finally {
    for (const file of input.files) await file.dispose?.();
  }
}

async function fillFinalLayer(input: FinalLayerSource, dirs: Map<string, DirMeta>, layer: LayerSink): Promise<void> {
  // Placed all at once: a tree read from the repo answers each round of lookups with one `ostree ls`.
  const placed = await Promise.all(input.files.map((f) => placeDatabasePath(input.placer, f.path, f.type === 'directory')));
  for (const [path, meta] of dirs) await layer.directory(path, meta);
  for (const [i, original] of input.files.entries()) {
    const file = { ...original, path: placed[i]! };
    const meta = { mode: file.mode, uid: 0, gid: 0 };
    if (file.type === 'directory') await layer.directory(file.path, (await baseMeta(input.placer, file.path)) ?? meta);
    else if (file.type === 'symlink') await layer.symlink(file.path, meta, String(file.content));
    else if (file.source !== undefined) await layer.file(file.path, meta, (await stat(file.source)).size, createReadStream(file.source));
    else {
      const body = file.content ?? '';
      await layer.file(file.path, meta, Buffer.byteLength(body), body);
    }
  }
}

/**
 * Where a database file the backend returned lands: through the base's symlinks (a `/var/lib/dpkg` that points into
 * `/usr` is written there, not over the symlink) and `/etc` to `/usr/etc`, as package paths are. A database that
 * would end up under `/var` or `/run` is refused: OSTree never deploys what a commit holds there.
 */
export async function placeDatabasePath(placer: PathPlacer, path: string, isDirectory: boolean): Promise<string> {
  let placed = await placer.canonical(path, isDirectory);
  if (placed === '/etc' || placed.startsWith('/etc/')) placed = '/usr' + placed;
  if (/^\/(var|run)(\/|$)/.test(placed)) {
    throw new SystemStateError(`the package database file ${path} would be written to ${placed}, which OSTree does not deploy (/var and /run are the machine's own); move the database into /usr in the base image (e.g. /usr/lib/sysimage) before layering`);
  }
  return placed;
}

async function baseMeta(placer: PathPlacer, dir: string): Promise<DirMeta | undefined> {
  const st = await placer.stat(dir);
  return st?.type === 'directory' ? { mode: st.mode, uid: st.uid, gid: st.gid } : undefined;
}

/** Base metadata for directories the base has; else the first package's explicit entry; else the default. */
async function directoryMetadata(placer: PathPlacer, directories: Iterable<LayerDirectory>): Promise<Map<string, DirMeta>> {
  const explicit = new Map<string, DirMeta>();
  const touched = new Set<string>(['/']);
  for (const { path, meta } of directories) {
    touched.add(path);
    if (meta && !explicit.has(path)) explicit.set(path, meta);
  }
  // Asked all at once: a tree read from the repo answers a batch of lookups with one `ostree ls`.
  const sorted = [...touched].sort();
  const metas = await Promise.all(sorted.map((dir) => baseMeta(placer, dir)));
  return new Map(sorted.map((dir, i) => [dir, metas[i] ?? explicit.get(dir) ?? DEFAULT_DIR]));
}
