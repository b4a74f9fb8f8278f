/**
 * Libraries loaded on first use. Importing openpgp, better-sqlite3 and saxes at start-up costs about 25 MiB of
 * resident memory (measured on Node 20.20) in every command, also on systems whose database is not rpm's: the CLI
 * loads every format's plugin to detect which one a tree uses.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type * as OpenPGP from 'openpgp';
import type * as Saxes from 'saxes';

let sqliteClass: typeof BetterSqlite3 | undefined;

export async function loadSqlite(): Promise<typeof BetterSqlite3> {
  return (sqliteClass ??= (await import('better-sqlite3')).default);
}

export const loadOpenpgp = (): Promise<typeof OpenPGP> => import('openpgp');

export const loadSaxes = (): Promise<typeof Saxes> => import('saxes');
