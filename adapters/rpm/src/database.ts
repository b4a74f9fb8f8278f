/**
 * The installed rpm database inside a deployment: read it (sqlite with better-sqlite3, BerkeleyDB `Packages` through
 * @snyk/rpm-parser's page reader) and write the full updated copy as a new rpmdb.sqlite layer file.
 */
import { constants, copyFile, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { dirname, join } from 'node:path';
import type Database from 'better-sqlite3';
import {
  SystemStateError, tempDir, normalizeArchivePath, type InstalledDatabase, type InstalledPackage, type LayeredPackage, type LayerFile, type PackageId,
  type TreeReader, type WriteDatabaseOptions,
} from '@ostree-layer/core';
import { headerFiles } from './files.js';
import { Tag, parseHeaderBlob, type RpmHeader } from './header.js';
import { createSchema, insertHeader } from './indexes.js';
import { installedBlob } from './installed.js';
import { loadSqlite } from './lazy.js';
import { databaseFileIn, dbPathMacro, type DatabaseFormat } from './locate.js';
import { RpmPackage } from './package.js';
import { diskPath, openSqliteReadOnly } from './sqlite.js';
import { formatEvr } from './version.js';

export { locateDatabase } from './locate.js';

export interface InstalledHeader {
  hnum: number;
  header: RpmHeader;
  id: PackageId;
}

/** Identity of an installed header; gpg-pubkey pseudo-packages have no arch, shown as rpm shows it: "(none)". */
export function installedId(h: RpmHeader, where: string): PackageId {
  const name = h.string(Tag.Name) ?? '';
  const version = h.string(Tag.Version) ?? '';
  const release = h.string(Tag.Release);
  const epoch = h.number(Tag.Epoch);
  if (!name) throw new SystemStateError(`${where}: a database entry has no name; the rpm database is corrupt (rpm --rebuilddb)`);
  return { name, version: formatEvr({ epoch: epoch === undefined ? undefined : String(epoch), version, release }), arch: h.string(Tag.Arch) ?? '(none)' };
}

export class RpmDatabase implements InstalledDatabase {
  private cachedHeaders?: InstalledHeader[];

  constructor(
    readonly tree: TreeReader,
    readonly location: string,
    readonly format: DatabaseFormat,
    readonly dbFile: string,
  ) {}

  /**
   * Every installed header in hnum order. sqlite: streamed row by row. BerkeleyDB: the raw header blobs come from
   * @snyk/rpm-parser's page reader (it takes the whole file as a Buffer; such databases are a few MB) and are parsed
   * by our own header parser, so files and dependencies are available too; hnums are then positions.
   */
  async headers(): Promise<InstalledHeader[]> {
    if (this.cachedHeaders) return this.cachedHeaders;
    const where = `${this.tree.description}${this.dbFile}`;
    const out: InstalledHeader[] = [];
    const add = (hnum: number, blob: Buffer) => {
      const header = parseHeaderBlob(blob, where, `installed header #${hnum}`);
      out.push({ hnum, header, id: installedId(header, where) });
    };
    if (this.format === 'bdb') {
      (await readBdbBlobs(this.tree, this.dbFile)).forEach((blob, i) => add(i + 1, blob));
    } else {
      const opened = await openSqliteReadOnly(this.tree, this.dbFile);
      try {
        for (const row of opened.db.prepare("SELECT hnum, blob FROM 'Packages' ORDER BY hnum").iterate() as Iterable<{ hnum: number; blob: Buffer }>) add(row.hnum, row.blob);
      } finally {
        await opened.close();
      }
    }
    this.cachedHeaders = out;
    return out;
  }

  async packages(): Promise<InstalledPackage[]> {
    return (await this.headers()).map((h) => ({ ...h.id, state: 'installed' }));
  }

  /**
   * sqlite: rpm's Basenames index names the headers (and the file positions in them) that ship a file of each
   * basename; only those headers are read. BerkeleyDB databases (small, legacy, no index we read) are scanned whole.
   */
  async owners(paths: string[]): Promise<Map<string, PackageId[]>> {
    const wanted = new Set(paths);
    const out = new Map<string, PackageId[]>();
    const add = (path: string, id: PackageId) => {
      const list = out.get(path);
      if (!list) out.set(path, [id]);
      else if (!list.includes(id)) list.push(id);
    };
    const where = `${this.tree.description}${this.dbFile}`;
    if (this.format === 'bdb' || this.cachedHeaders) {
      for (const { header, id } of await this.headers()) for (const f of headerFiles(header, where)) if (wanted.has(f.path)) add(f.path, id);
      return out;
    }
    const opened = await openSqliteReadOnly(this.tree, this.dbFile);
    try {
      const rows = opened.db.prepare("SELECT hnum, idx FROM 'Basenames' WHERE key = ?");
      const blob = opened.db.prepare("SELECT blob FROM 'Packages' WHERE hnum = ?").pluck();
      const read = new Map<number, { id: PackageId; path: (idx: number) => string | undefined }>();
      for (const name of new Set(paths.map((p) => p.slice(p.lastIndexOf('/') + 1)))) {
        for (const { hnum, idx } of rows.all(name) as Array<{ hnum: number; idx: number }>) {
          let header = read.get(hnum);
          if (!header) {
            const parsed = parseHeaderBlob(blob.get(hnum) as Buffer, where, `installed header #${hnum}`);
            header = { id: installedId(parsed, where), path: filePaths(parsed, where) };
            read.set(hnum, header);
          }
          const path = header.path(idx);
          if (path !== undefined && wanted.has(path)) add(path, header.id);
        }
      }
    } finally {
      await opened.close();
    }
    return out;
  }
}

/** The normalised path of file `idx` of a header (dirname + basename), or undefined when it has none. */
export function filePaths(h: RpmHeader, where: string): (idx: number) => string | undefined {
  const basenames = h.strings(Tag.BaseNames);
  const dirIndexes = h.numbers(Tag.DirIndexes);
  const dirnames = h.strings(Tag.DirNames);
  return (idx) => {
    const dir = dirnames[dirIndexes[idx] ?? -1];
    const base = basenames[idx];
    if (dir === undefined || base === undefined) return undefined;
    try {
      return normalizeArchivePath(dir + base, where, true);
    } catch {
      return undefined;
    }
  };
}

/** Header blobs of a BerkeleyDB `Packages` file (hash database pages), via @snyk/rpm-parser's page reader. */
async function readBdbBlobs(tree: TreeReader, path: string): Promise<Buffer[]> {
  const where = `${tree.description}${path}`;
  try {
    // Deep import: the package's entry point only returns name/version/arch, not the header blobs.
    const bdb = (await import('@snyk/rpm-parser/dist/berkeleydb/index.js' as string)) as { bufferToHashDbValues(data: Buffer): Promise<Buffer[]> };
    return await bdb.bufferToHashDbValues(await tree.readFile(path));
  } catch (err) {
    throw new SystemStateError(`${where}: cannot read the BerkeleyDB rpm database (${(err as Error).message}); rebuild it with "rpmdb --rebuilddb" in the image`, { cause: err });
  }
}

export async function openRpmDatabase(tree: TreeReader, location: string): Promise<RpmDatabase> {
  // A handful of files, read more than once (headers, owners, the copy a writer makes): read from disk.
  await tree.prefetch?.(location);
  const found = await databaseFileIn(tree, location);
  if (!found) throw new SystemStateError(`${tree.description}${location}: no rpm database (rpmdb.sqlite, Packages) found there`);
  if (found.format === 'ndb') throw new SystemStateError(`${tree.description}${found.path}: ndb rpm databases are not supported; convert it with "rpmdb --rebuilddb --define '_db_backend sqlite'"`);
  return new RpmDatabase(tree, location, found.format, found.path);
}

/** rpmfileState: the file now belongs to another package; rpm -V and erase leave it alone. */
export const FILE_STATE_REPLACED = 1;

/**
 * The paths the layered packages take over, per old owner: `takenOver` keys may be a name, "name.arch" or
 * "name-version.arch", so the answer for one installed package gathers all three.
 */
export function takenOverPaths(added: LayeredPackage[]): (owner: PackageId) => Set<string> {
  const taken = new Map<string, Set<string>>();
  for (const layered of added) {
    for (const [owner, paths] of layered.takenOver) {
      const set = taken.get(owner) ?? new Set<string>();
      for (const p of paths) set.add(p);
      taken.set(owner, set);
    }
  }
  return (id) => new Set([id.name, `${id.name}.${id.arch}`, `${id.name}-${id.version}.${id.arch}`].flatMap((k) => [...(taken.get(k) ?? [])]));
}

/**
 * Records takeovers the way rpm does on --replacefiles: the old owner's FILESTATES entry for each taken path becomes
 * "replaced". FILESTATES lies outside the immutable region and has one byte per file, so the blob is patched in place.
 * Only the old owners' headers are read, found by rpm's Name index.
 */
function markReplaced(db: Database.Database, added: LayeredPackage[], where: string): void {
  if (!added.some((layered) => layered.takenOver.size)) return;
  const takenFrom = takenOverPaths(added);
  // Owner keys are "name", "name.arch" or "name-version-release.arch": every prefix that could be the name is asked.
  const names = new Set<string>();
  for (const layered of added) {
    for (const key of layered.takenOver.keys()) {
      let candidate = key;
      names.add(candidate);
      if (candidate.includes('.')) names.add((candidate = candidate.slice(0, candidate.lastIndexOf('.'))));
      for (let i = 0; i < 2 && candidate.includes('-'); i++) names.add((candidate = candidate.slice(0, candidate.lastIndexOf('-'))));
    }
  }
  const byName = db.prepare("SELECT DISTINCT hnum FROM 'Name' WHERE key = ?").pluck();
  const blobOf = db.prepare("SELECT blob FROM 'Packages' WHERE hnum = ?").pluck();
  const update = db.prepare("UPDATE 'Packages' SET blob = ? WHERE hnum = ?");
  const hnums = new Set<number>();
  for (const name of names) for (const hnum of byName.all(name) as number[]) hnums.add(hnum);
  for (const hnum of [...hnums].sort((a, b) => a - b)) {
    const header = parseHeaderBlob(blobOf.get(hnum) as Buffer, where, `installed header #${hnum}`);
    const wanted = takenFrom(installedId(header, where));
    const states = header.entry(Tag.FileStates);
    if (!wanted.size || !states) continue;
    const blob = Buffer.from(header.blob);
    let changed = false;
    for (const f of headerFiles(header, `rpmdb header #${hnum}`)) {
      if (!wanted.has(f.path) || f.index >= states.count) continue;
      blob[header.storeOffset + states.offset + f.index] = FILE_STATE_REPLACED;
      changed = true;
    }
    if (changed) update.run(blob, hnum);
  }
}

/**
 * The transaction colour to record: what the base's packages recorded, else 0 (rpm's value on non-multilib arches).
 * Read from the first headers that carry one, not from all of them.
 */
function baseColor(db: Database.Database, where: string): number {
  for (const row of db.prepare("SELECT hnum, blob FROM 'Packages' ORDER BY hnum").iterate() as Iterable<{ hnum: number; blob: Buffer }>) {
    const header = parseHeaderBlob(row.blob, where, `installed header #${row.hnum}`);
    const c = header.number(Tag.InstallColor);
    if (c !== undefined && header.string(Tag.Name) !== 'gpg-pubkey') return c;
  }
  return 0;
}

/**
 * Writes base rows + the added packages into a new rpmdb.sqlite in a temp directory, returned as a LayerFile whose
 * `source` is that file. The base is copied with VACUUM INTO from the read-only connection (its index rows stay
 * exactly as rpm wrote them); the copy is switched to rollback-journal mode so a read-only /usr can be queried
 * without -shm/-wal files. Stale -wal/-shm files in the base are shadowed with empty ones.
 */
export async function writeRpmDatabase(options: WriteDatabaseOptions & { now?: number }): Promise<LayerFile[]> {
  const base = options.database as RpmDatabase;
  if (!(base instanceof RpmDatabase)) throw new SystemStateError('writeDatabase was given a database the rpm backend did not open');
  if (base.format !== 'sqlite') {
    // An rpm old enough to use BerkeleyDB cannot read sqlite, and writing BerkeleyDB is out of scope.
    throw new SystemStateError(`${base.tree.description}${base.dbFile}: layering onto a BerkeleyDB rpm database is not supported (its rpm cannot read sqlite); only rpm 4.16+ images with rpmdb.sqlite can be layered`);
  }
  const where = `${base.tree.description}${base.dbFile}`;
  const { out, db } = await copyDatabase(base.tree, base.dbFile);
  try {
    createSchema(db);
    const stamp = { time: options.now ?? Math.floor(Date.now() / 1000), color: baseColor(db, where) };
    db.transaction(() => {
      markReplaced(db, options.added, where);
      for (const layered of options.added) {
        const pkg = layered.package as RpmPackage;
        if (!(pkg instanceof RpmPackage)) throw new SystemStateError(`${layered.package.file}: not opened by the rpm backend`);
        const blob = installedBlob(pkg.header, pkg.archive.signature, pkg.files.length, stamp, pkg.file);
        insertHeader(db, blob, parseHeaderBlob(blob, pkg.file, 'installed header'));
      }
    })();
  } finally {
    db.close();
  }
  return databaseLayer(base.tree, base.location, out);
}

/**
 * A writable copy of a tree's rpmdb.sqlite in a temp directory of its own (`VACUUM INTO`: rpm's index rows kept), in
 * rollback-journal mode so that it can be queried on a read-only /usr. The caller writes into `db`, closes it and
 * hands `out` to {@link databaseLayer}, whose dispose removes the directory.
 */
export async function copyDatabase(tree: TreeReader, dbFile: string): Promise<{ out: string; db: Database.Database }> {
  const dir = await tempDir('rpmdb');
  const out = join(dir, 'rpmdb.sqlite');
  const opened = await openSqliteReadOnly(tree, dbFile);
  try {
    opened.db.prepare('VACUUM INTO ?').run(out);
  } finally {
    await opened.close();
  }
  const db = new (await loadSqlite())(out);
  db.pragma('journal_mode = DELETE');
  return { out, db };
}

/**
 * A writable copy of a tree's rpmdb.sqlite made by copying its bytes (a reflink where the file system has them) and
 * its -wal file if any: nothing is re-encoded, unlike {@link copyDatabase}'s VACUUM. Opening the private copy
 * read-write replays the -wal; the copy is then switched to rollback-journal mode, like copyDatabase's.
 */
export async function cloneDatabase(tree: TreeReader, dbFile: string): Promise<{ out: string; db: Database.Database }> {
  const onDisk = diskPath(tree, dbFile);
  const dir = await tempDir('rpmdb');
  const out = join(dir, 'rpmdb.sqlite');
  try {
    for (const suffix of ['', '-wal']) {
      if ((await tree.lstat(dbFile + suffix))?.type !== 'file') continue;
      if (onDisk) await copyFile(onDisk + suffix, out + suffix, constants.COPYFILE_FICLONE);
      else await pipeline(tree.createReadStream(dbFile + suffix), createWriteStream(out + suffix));
    }
    const db = new (await loadSqlite())(out, { fileMustExist: true });
    db.pragma('journal_mode = DELETE');
    return { out, db };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new SystemStateError(`${tree.description}${dbFile}: cannot copy the rpm database (${(err as Error).message}); check that it is an rpm 4.16+ sqlite database`, { cause: err });
  }
}

/**
 * The layer files for a new rpmdb.sqlite at `location`: the file itself, streamed from `out`, empty files over any
 * -wal/-shm the tree below it has (they would otherwise be replayed into the new database by the next rpm run), and a
 * `%_dbpath` macro when the tree's own rpm would look elsewhere.
 */
export async function databaseLayer(below: TreeReader, location: string, out: string): Promise<LayerFile[]> {
  const dispose = () => rm(dirname(out), { recursive: true, force: true });
  const files: LayerFile[] = [{ path: join(location, 'rpmdb.sqlite'), type: 'file', mode: 0o644, source: out, dispose }];
  for (const suffix of ['-wal', '-shm']) {
    const path = join(location, `rpmdb.sqlite${suffix}`);
    if (await below.lstat(path)) files.push({ path, type: 'file', mode: 0o644, content: Buffer.alloc(0) });
  }
  const macro = await dbPathMacro(below, location);
  if (macro) files.push(macro);
  return files;
}
