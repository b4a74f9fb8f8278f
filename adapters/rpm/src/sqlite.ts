/**
 * Opening a tree's rpmdb.sqlite without writing to it and without loading it into memory.
 *
 * rpm keeps the database in WAL mode. A read-only open of a WAL database needs the "-shm" file to exist or to be
 * creatable next to it; on a read-only /usr (an OSTree deployment) neither is true and SQLite answers
 * SQLITE_CANTOPEN. (The `immutable=1` URI would avoid that, but better-sqlite3 12 opens without SQLITE_OPEN_URI, so
 * URIs are taken as file names.) So: open in place read-only first; if that fails, copy the database and its -wal
 * file disk-to-disk into a private temp directory and open the copy. Trees that are not on disk are copied the same way.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import { SystemStateError, type TreeReader } from '@ostree-layer/core';

export type SqliteDb = Database.Database;

export interface OpenedSqlite {
  db: SqliteDb;
  /** The file the connection reads (the original or the private copy). */
  path: string;
  /** Closes the connection and removes a private copy. */
  close(): Promise<void>;
}

/** The on-disk path of a tree path when the tree is a checked-out directory, else undefined. */
export function diskPath(tree: TreeReader, path: string): string | undefined {
  const root = (tree as { root?: unknown }).root;
  return typeof root === 'string' ? join(root, path) : undefined;
}

function tryOpen(path: string): SqliteDb | undefined {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch {
    return undefined;
  }
}

export async function openSqliteReadOnly(tree: TreeReader, path: string): Promise<OpenedSqlite> {
  const onDisk = diskPath(tree, path);
  if (onDisk) {
    const db = tryOpen(onDisk);
    if (db) return { db, path: onDisk, close: async () => void db.close() };
  }
  const dir = await mkdtemp(join(tmpdir(), 'ostree-layer-rpmdb-'));
  const copy = join(dir, 'rpmdb.sqlite');
  try {
    for (const suffix of ['', '-wal']) {
      const st = await tree.lstat(path + suffix);
      if (st?.type !== 'file') continue;
      if (onDisk) await copyFile(onDisk + suffix, copy + suffix);
      else await pipeline(tree.createReadStream(path + suffix), createWriteStream(copy + suffix));
    }
    const db = new Database(copy, { readonly: true, fileMustExist: true });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return { db, path: copy, close: async () => { db.close(); await rm(dir, { recursive: true, force: true }); } };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new SystemStateError(`${tree.description}${path}: cannot open the rpm database (${(err as Error).message}); check that it is an rpm 4.16+ sqlite database`, { cause: err });
  }
}
