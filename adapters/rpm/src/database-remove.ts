/**
 * The rpm database for an uninstall: a copy of the current rpmdb.sqlite without the removed packages' headers and
 * index rows, as `rpm -e --justdb` would leave it. Files a removed package had taken over from another package get
 * that package's file state back, so `rpm -V` checks them again.
 *
 * Cost follows what changes, not the base: rpm's own indexes find the removed headers (Name) and the other owners of
 * their files (Basenames); only those headers are decoded, and the base database is asked only about their hnums.
 */
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { SystemStateError, type DatabaseWithoutOptions, type LayerFile, type PackageId } from '@ostree-layer/core';
import { FILE_STATE_REPLACED, RpmDatabase, cloneDatabase, databaseLayer, filePaths, installedId, openRpmDatabase } from './database.js';
import { headerFiles } from './files.js';
import { Tag, parseHeaderBlob, type RpmHeader } from './header.js';
import { INDEX_TABLES, indexRows } from './indexes.js';
import { openSqliteReadOnly, type SqliteDb } from './sqlite.js';

/** rpmfileState "normal": what writeDatabase records for every file of a layered package. */
const FILE_STATE_NORMAL = 0;

function describe(id: PackageId): string {
  return `${id.name}${id.version ? `-${id.version}` : ''}${id.arch ? `.${id.arch}` : ''}`;
}

interface Decoded {
  hnum: number;
  header: RpmHeader;
  id: PackageId;
  /** The normalised path of file `idx`. */
  path: (idx: number) => string | undefined;
}

/** The installed headers `id` names: by name and arch, and by version when given (installonly packages repeat). */
function matching(headers: Decoded[], id: PackageId): Decoded[] {
  const named = headers.filter((h) => h.id.name === id.name && (!id.arch || h.id.arch === id.arch));
  if (!id.version) return named;
  const exact = named.filter((h) => h.id.version === id.version);
  // A lone match under another spelling of the version (an explicit "0:" epoch) is still the package meant.
  return exact.length > 0 ? exact : named.length === 1 ? named : [];
}

/** Decodes headers of one database by hnum, each once. */
function headerReader(db: SqliteDb, where: string): (hnum: number) => Decoded | undefined {
  const blobOf = db.prepare("SELECT blob FROM 'Packages' WHERE hnum = ?").pluck();
  const seen = new Map<number, Decoded | undefined>();
  return (hnum) => {
    if (seen.has(hnum)) return seen.get(hnum);
    const blob = blobOf.get(hnum) as Buffer | undefined;
    let decoded: Decoded | undefined;
    if (blob) {
      const header = parseHeaderBlob(blob, where, `installed header #${hnum}`);
      decoded = { hnum, header, id: installedId(header, where), path: filePaths(header, where) };
    }
    seen.set(hnum, decoded);
    return decoded;
  };
}

/** Builds the database layer for an uninstall: see {@link Backend.databaseWithout}. */
export async function rpmDatabaseWithout(options: DatabaseWithoutOptions): Promise<LayerFile[]> {
  const current = options.database;
  if (!(current instanceof RpmDatabase)) throw new SystemStateError('databaseWithout was given a database the rpm backend did not open');
  if (current.format !== 'sqlite') {
    throw new SystemStateError(`${current.tree.description}${current.dbFile}: only rpmdb.sqlite databases can be changed; this one is ${current.format}`);
  }
  const where = `${current.tree.description}${current.dbFile}`;
  // The base (often read from the repository) is opened while the current database is copied.
  const openingBase = openRpmDatabase(options.base, current.location)
    .then(async (found) => ({ found, opened: found.format === 'sqlite' ? await openSqliteReadOnly(options.base, found.dbFile) : undefined }));
  const [baseSide, cloned] = await Promise.allSettled([openingBase, cloneDatabase(current.tree, current.dbFile)]);
  if (baseSide.status === 'rejected' || cloned.status === 'rejected') {
    if (baseSide.status === 'fulfilled') await baseSide.value.opened?.close();
    if (cloned.status === 'fulfilled') {
      cloned.value.db.close();
      await rm(dirname(cloned.value.out), { recursive: true, force: true });
    }
    throw baseSide.status === 'rejected' ? baseSide.reason : (cloned as PromiseRejectedResult).reason;
  }
  // A base without an sqlite database (an image converted since) shares no header with the current one.
  const { found: baseDb, opened: baseOpened } = baseSide.value;
  const { out, db } = cloned.value;
  try {
    const readCurrent = headerReader(db, where);
    const readBase = baseOpened ? headerReader(baseOpened.db, `${options.base.description}${baseDb.dbFile}`) : () => undefined;
    // A header is the base's when the base holds the same header under the same hnum (copies keep hnums; SHA1HEADER
    // covers the immutable region, so patched FILESTATES do not change it).
    const baseTwin = (h: Decoded): Decoded | undefined => {
      const twin = readBase(h.hnum);
      const sha1 = h.header.string(Tag.Sha1Header);
      return twin && (sha1 ? twin.header.string(Tag.Sha1Header) === sha1 : describe(twin.id) === describe(h.id)) ? twin : undefined;
    };

    const byName = db.prepare("SELECT DISTINCT hnum FROM 'Name' WHERE key = ?").pluck();
    const removed = new Map<number, Decoded>();
    for (const id of options.remove) {
      const named = (byName.all(id.name) as number[]).map(readCurrent).filter((h): h is Decoded => h !== undefined);
      const found = matching(named, id);
      if (found.length === 0) throw new SystemStateError(`${where}: package ${describe(id)} is not installed; nothing to uninstall`);
      for (const h of found) {
        if (baseTwin(h)) throw new SystemStateError(`${describe(h.id)} is part of the base image, not a layered package; it cannot be uninstalled (rebase to an image without it)`);
        removed.set(h.hnum, h);
      }
    }

    db.transaction(() => {
      dropHeaders(db, [...removed.values()]);
      restoreFileStates(db, [...removed.values()], readCurrent, baseTwin, where);
    })();
  } catch (err) {
    // A refusal leaves no copy behind (databaseLayer's dispose removes it on success).
    db.close();
    await rm(dirname(out), { recursive: true, force: true });
    throw err;
  } finally {
    if (db.open) db.close();
    await baseOpened?.close();
  }
  return databaseLayer(options.base, current.location, out);
}

/**
 * Deletes the headers and their index rows. Tables rpm indexes by hnum are cleared by hnum; the others (one row per
 * package: Name, Group, Sha1header…) by the keys the header itself gives, through their key index, then by hnum for
 * anything left (a table no key index covers is one short row per package).
 */
function dropHeaders(db: Database.Database, headers: Decoded[]): void {
  const indexes = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").pluck().all() as string[]));
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('Packages', 'sqlite_sequence')").pluck().all() as string[])
    .filter((t) => (db.prepare(`SELECT name FROM pragma_table_info('${t.replace(/'/g, "''")}')`).pluck().all() as string[]).includes('hnum'));
  const tagOf = new Map(INDEX_TABLES);
  const quoted = (t: string) => `'${t.replace(/'/g, "''")}'`;
  for (const table of tables) {
    const tag = tagOf.get(table);
    const byKey = tag !== undefined && !indexes.has(`${table}_hnum_idx`) && indexes.has(`${table}_key_idx`);
    const delKey = byKey ? db.prepare(`DELETE FROM ${quoted(table)} WHERE key = ? AND hnum = ?`) : undefined;
    const delHnum = db.prepare(`DELETE FROM ${quoted(table)} WHERE hnum = ?`);
    for (const h of headers) {
      if (delKey) {
        const rows = indexRows(table, tag!, h.header);
        let gone = 0;
        for (const [key] of rows) gone += delKey.run(key, h.hnum).changes;
        if (gone >= rows.length) continue;
      }
      delHnum.run(h.hnum);
    }
  }
  const delPackage = db.prepare("DELETE FROM 'Packages' WHERE hnum = ?");
  for (const h of headers) delPackage.run(h.hnum);
}

/**
 * Headers whose files a layered package took over carry FILESTATES "replaced" for them. Only the removed packages'
 * paths can change: for each, the remaining owners come from the Basenames index. A file stays replaced while another
 * remaining layered package owns it; otherwise it gets the state it had before: the base's for a base header (the
 * base's file comes back in the new tree), "normal" for a layered one (its own layer holds the file). FILESTATES
 * lies outside the immutable region, so the blob is patched in place.
 */
function restoreFileStates(
  db: Database.Database, removed: Decoded[], read: (hnum: number) => Decoded | undefined, baseTwin: (h: Decoded) => Decoded | undefined, where: string,
): void {
  const paths = new Set(removed.flatMap((h) => headerFiles(h.header, where).map((f) => f.path)));
  const rows = db.prepare("SELECT hnum, idx FROM 'Basenames' WHERE key = ?");
  // path → the remaining owners' (hnum, file index); rows of the removed headers are already gone.
  const owners = new Map<string, Array<{ h: Decoded; idx: number }>>();
  for (const name of new Set([...paths].map((p) => p.slice(p.lastIndexOf('/') + 1)))) {
    for (const { hnum, idx } of rows.all(name) as Array<{ hnum: number; idx: number }>) {
      const h = read(hnum);
      const path = h?.path(idx);
      if (!h || path === undefined || !paths.has(path)) continue;
      const list = owners.get(path) ?? [];
      list.push({ h, idx });
      owners.set(path, list);
    }
  }
  const patched = new Map<number, { h: Decoded; blob: Buffer }>();
  for (const list of owners.values()) {
    const layered = list.filter((o) => !baseTwin(o.h));
    for (const { h, idx } of list) {
      const states = h.header.entry(Tag.FileStates);
      if (!states || idx >= states.count || h.header.blob[h.header.storeOffset + states.offset + idx] !== FILE_STATE_REPLACED) continue;
      if (layered.some((o) => o.h.hnum !== h.hnum)) continue;
      const was = baseTwin(h);
      const baseStates = was?.header.entry(Tag.FileStates);
      if (was && (!baseStates || baseStates.count !== states.count)) continue;
      const before = was ? was.header.blob[was.header.storeOffset + baseStates!.offset + idx]! : FILE_STATE_NORMAL;
      if (before === FILE_STATE_REPLACED) continue;
      const entry = patched.get(h.hnum) ?? { h, blob: Buffer.from(h.header.blob) };
      entry.blob[h.header.storeOffset + states.offset + idx] = before;
      patched.set(h.hnum, entry);
    }
  }
  const update = db.prepare("UPDATE 'Packages' SET blob = ? WHERE hnum = ?");
  for (const { h, blob } of patched.values()) update.run(blob, h.hnum);
}
