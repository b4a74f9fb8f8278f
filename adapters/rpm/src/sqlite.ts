/**
 * Opening a tree's rpmdb.sqlite without writing to it and without loading it into memory.
 *
 * rpm keeps the database in WAL mode. A read-only open of a WAL database needs the "-shm" file to exist or to be
 * creatable next to it; on a read-only /usr (an OSTree deployment) neither is true and SQLite answers
 * SQLITE_CANTOPEN; on a writable checkout it would create -shm/-wal files inside the deployment, which must not
 * change. (The `immutable=1` URI would avoid both, but URIs failed to open with better-sqlite3 12 here.) So: a
 * rollback-journal database (what writeDatabase produces) is opened in place read-only, which writes nothing; a WAL
 * database, or one that fails to open, is copied with its -wal file disk-to-disk into a private temp directory and
 * the copy is opened. Trees that are not on disk are copied the same way.
 */
import { copyFile, open, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type Database from 'better-sqlite3';
import { SystemStateError, tempDir, type TreeReader } from '@ostree-layer/core';
import { loadSqlite } from './lazy.js';

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

function tryOpen(Sqlite: typeof Database, path: string): SqliteDb | undefined {
  try {
    const db = new Sqlite(path, { readonly: true, fileMustExist: true });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch {
    return undefined;
  }
}

/** File format bytes 18/19 are 2 in a WAL-mode database. */
async function isWal(path: string): Promise<boolean> {
  const fd = await open(path, 'r');
  try {
    const b = Buffer.alloc(20);
    await fd.read(b, 0, 20, 0);
    return b[18] === 2 || b[19] === 2;
  } finally {
    await fd.close();
  }
}

export async function openSqliteReadOnly(tree: TreeReader, path: string): Promise<OpenedSqlite> {
  const Sqlite = await loadSqlite();
  const onDisk = diskPath(tree, path);
  if (onDisk && !(await isWal(onDisk))) {
    const db = tryOpen(Sqlite, onDisk);
    if (db) return { db, path: onDisk, close: async () => void db.close() };
  }
  const dir = await tempDir('rpmdb');
  const copy = join(dir, 'rpmdb.sqlite');
  try {
    for (const suffix of ['', '-wal']) {
      const st = await tree.lstat(path + suffix);
      if (st?.type !== 'file') continue;
      if (onDisk) await copyFile(onDisk + suffix, copy + suffix);
      else await pipeline(tree.createReadStream(path + suffix), createWriteStream(copy + suffix));
    }
    const db = new Sqlite(copy, { readonly: true, fileMustExist: true });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return { db, path: copy, close: async () => { db.close(); await rm(dir, { recursive: true, force: true }); } };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new SystemStateError(`${tree.description}${path}: cannot open the rpm database (${(err as Error).message}); check that it is an rpm 4.16+ sqlite database`, { cause: err });
  }
}
