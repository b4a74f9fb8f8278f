/**
 * The rpm database for an uninstall: a copy of the current rpmdb.sqlite without the removed packages' headers and
 * index rows, as `rpm -e --justdb` would leave it. Files a removed package had taken over from a base package get
 * that package's file state back, so `rpm -V` checks them again.
 */
import type Database from 'better-sqlite3';
import { SystemStateError, type DatabaseWithoutOptions, type LayerFile, type PackageId } from '@ostree-layer/core';
import { FILE_STATE_REPLACED, RpmDatabase, copyDatabase, databaseLayer, openRpmDatabase, type InstalledHeader } from './database.js';
import { headerFiles } from './files.js';
import { Tag } from './header.js';

/** rpmfileState "normal": what writeDatabase records for every file of a layered package. */
const FILE_STATE_NORMAL = 0;

function describe(id: PackageId): string {
  return `${id.name}${id.version ? `-${id.version}` : ''}${id.arch ? `.${id.arch}` : ''}`;
}

/** The installed headers `id` names: by name and arch, and by version when given (installonly packages repeat). */
function matching(headers: InstalledHeader[], id: PackageId): InstalledHeader[] {
  const named = headers.filter((h) => h.id.name === id.name && (!id.arch || h.id.arch === id.arch));
  if (!id.version) return named;
  const exact = named.filter((h) => h.id.version === id.version);
  // A lone match under another spelling of the version (an explicit "0:" epoch) is still the package meant.
  return exact.length > 0 ? exact : named.length === 1 ? named : [];
}

/** A header's identity across databases: hnums are kept by copies, SHA1HEADER covers the immutable region. */
const identity = (h: InstalledHeader): string => `${h.hnum}\0${h.header.string(Tag.Sha1Header) ?? describe(h.id)}`;

/** Builds the database layer for an uninstall: see {@link Backend.databaseWithout}. */
export async function rpmDatabaseWithout(options: DatabaseWithoutOptions): Promise<LayerFile[]> {
  const current = options.database;
  if (!(current instanceof RpmDatabase)) throw new SystemStateError('databaseWithout was given a database the rpm backend did not open');
  if (current.format !== 'sqlite') {
    throw new SystemStateError(`${current.tree.description}${current.dbFile}: only rpmdb.sqlite databases can be changed; this one is ${current.format}`);
  }
  const baseDb = await openRpmDatabase(options.base, current.location);
  const baseIds = new Map((await baseDb.headers()).map((h) => [identity(h), h]));
  const headers = await current.headers();

  const removed = new Set<number>();
  for (const id of options.remove) {
    const found = matching(headers, id);
    if (found.length === 0) throw new SystemStateError(`${current.tree.description}${current.dbFile}: package ${describe(id)} is not installed; nothing to uninstall`);
    for (const h of found) {
      if (baseIds.has(identity(h))) throw new SystemStateError(`${describe(h.id)} is part of the base image, not a layered package; it cannot be uninstalled (rebase to an image without it)`);
      removed.add(h.hnum);
    }
  }

  const { out, db } = await copyDatabase(current.tree, current.dbFile);
  try {
    const remaining = headers.filter((h) => !removed.has(h.hnum));
    db.transaction(() => {
      dropHeaders(db, [...removed]);
      restoreFileStates(db, remaining, baseIds, `${current.tree.description}${current.dbFile}`);
    })();
  } finally {
    db.close();
  }
  return databaseLayer(options.base, current.location, out);
}

/** Deletes the headers and their rows in every index table (every table but Packages with an hnum column). */
function dropHeaders(db: Database.Database, hnums: number[]): void {
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('Packages', 'sqlite_sequence')").all() as Array<{ name: string }>)
    .map((r) => r.name)
    .filter((t) => (db.prepare(`SELECT name FROM pragma_table_info('${t.replace(/'/g, "''")}')`).all() as Array<{ name: string }>).some((c) => c.name === 'hnum'));
  const deletes = [...tables, 'Packages'].map((t) => db.prepare(`DELETE FROM '${t.replace(/'/g, "''")}' WHERE hnum = ?`));
  for (const hnum of hnums) for (const del of deletes) del.run(hnum);
}

/**
 * Headers whose files a layered package took over carry FILESTATES "replaced" for them. A file stays replaced only
 * while another remaining layered package owns it; otherwise it gets the state it had before: the base's for a base
 * header (the base's file comes back in the new tree), "normal" for a layered one (its own layer holds the file).
 * FILESTATES lies outside the immutable region, so the blob is patched in place.
 */
function restoreFileStates(db: Database.Database, remaining: InstalledHeader[], base: Map<string, InstalledHeader>, where: string): void {
  const layeredOwners = new Map<string, Set<number>>();
  for (const h of remaining) {
    if (base.has(identity(h))) continue;
    for (const f of headerFiles(h.header, where)) {
      const set = layeredOwners.get(f.path) ?? new Set<number>();
      set.add(h.hnum);
      layeredOwners.set(f.path, set);
    }
  }
  const update = db.prepare("UPDATE 'Packages' SET blob = ? WHERE hnum = ?");
  for (const h of remaining) {
    const states = h.header.entry(Tag.FileStates);
    if (!states) continue;
    const was = base.get(identity(h));
    const baseStates = was?.header.entry(Tag.FileStates);
    if (was && (!baseStates || baseStates.count !== states.count)) continue;
    const at = h.header.storeOffset + states.offset;
    let blob: Buffer | undefined;
    for (const f of headerFiles(h.header, where)) {
      if (f.index >= states.count || h.header.blob[at + f.index] !== FILE_STATE_REPLACED) continue;
      if ([...(layeredOwners.get(f.path) ?? [])].some((owner) => owner !== h.hnum)) continue;
      const before = was ? was.header.blob[was.header.storeOffset + baseStates!.offset + f.index]! : FILE_STATE_NORMAL;
      if (before === FILE_STATE_REPLACED) continue;
      blob ??= Buffer.from(h.header.blob);
      blob[at + f.index] = before;
    }
    if (blob) update.run(blob, h.hnum);
  }
}
