/**
 * rpmdb.sqlite's index tables, as rpm 4.18 creates and fills them (schema taken from `rpm --initdb`; rows checked
 * against a database rpm itself wrote for the same packages).
 */
import { Tag, type RpmHeader } from './header.js';
import { Sense, parseRichDependency, type RichDependency } from './dependencies.js';
import { tidKey } from './installed.js';
import type { SqliteDb } from './sqlite.js';

/** Table name → header tag, in rpm's order. Installtid and Sigmd5 have BLOB keys, everything else TEXT. */
export const INDEX_TABLES: Array<[string, number]> = [
  ['Name', Tag.Name], ['Basenames', Tag.BaseNames], ['Group', Tag.Group], ['Requirename', Tag.RequireName],
  ['Providename', Tag.ProvideName], ['Conflictname', Tag.ConflictName], ['Obsoletename', Tag.ObsoleteName],
  ['Triggername', Tag.TriggerName], ['Dirnames', Tag.DirNames], ['Installtid', Tag.InstallTid],
  ['Sigmd5', Tag.SigMd5], ['Sha1header', Tag.Sha1Header], ['Filetriggername', Tag.FileTriggerName],
  ['Transfiletriggername', Tag.TransFileTriggerName], ['Recommendname', Tag.RecommendName],
  ['Suggestname', Tag.SuggestName], ['Supplementname', Tag.SupplementName], ['Enhancename', Tag.EnhanceName],
];
const BLOB_KEYS = new Set(['Installtid', 'Sigmd5']);
/** rpm creates no hnum index for these four. */
const NO_HNUM_INDEX = new Set(['Name', 'Group', 'Installtid', 'Sigmd5', 'Sha1header']);

/** Creates Packages and every index table that does not exist yet, with rpm's exact DDL. */
export function createSchema(db: SqliteDb): void {
  db.exec("CREATE TABLE IF NOT EXISTS 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)");
  for (const [table] of INDEX_TABLES) {
    const keyType = BLOB_KEYS.has(table) ? 'BLOB' : 'TEXT';
    db.exec(`CREATE TABLE IF NOT EXISTS '${table}' (key '${keyType}' NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))`);
    if (!BLOB_KEYS.has(table)) db.exec(`CREATE INDEX IF NOT EXISTS '${table}_key_idx' ON '${table}'(key ASC)`);
    if (!NO_HNUM_INDEX.has(table)) db.exec(`CREATE INDEX IF NOT EXISTS '${table}_hnum_idx' ON '${table}'(hnum ASC)`);
  }
}

const INSTALL_ONLY = (Sense.ScriptPre | Sense.ScriptPost | Sense.RpmLib | Sense.Keyring | Sense.PreTrans | Sense.PostTrans) & ~Sense.PreReq;
const ERASE_ONLY = (Sense.ScriptPreUn | Sense.ScriptPostUn) & ~Sense.PreReq;

/** The (key, idx) rows rpm writes into one index table for one header. */
export function indexRows(table: string, tag: number, h: RpmHeader): Array<[string | Buffer, number]> {
  if (!h.has(tag)) return [];
  if (table === 'Installtid') return h.numbers(tag).map((v, i) => [tidKey(v), i]);
  if (table === 'Sigmd5') return [[h.bin(tag)!, 0]];
  const values = h.strings(tag);
  if (table === 'Group' || table === 'Name' || table === 'Sha1header') return values.length ? [[values[0], 0]] : [];
  const rows: Array<[string, number]> = [];
  const reqFlags = table === 'Requirename' ? h.numbers(Tag.RequireFlags) : [];
  // File trigger rows carry the trigger index, not the array position (rpmdb.c tag2index): rpm runs the script by it.
  const triggerIndexes = table === 'Filetriggername' ? h.numbers(Tag.FileTriggerIndex)
    : table === 'Transfiletriggername' ? h.numbers(Tag.TransFileTriggerIndex) : undefined;
  values.forEach((value, i) => {
    if (triggerIndexes) {
      rows.push([value, triggerIndexes[i] ?? i]);
      return;
    }
    // Install-time prerequisites (rpmlib(), scriptlet-only requires) are not indexed; erase-time ones are.
    if (table === 'Requirename' && reqFlags[i] & INSTALL_ONLY && !(reqFlags[i] & ERASE_ONLY)) return;
    if (table === 'Triggername' && values.indexOf(value) < i) return;
    rows.push([value, i]);
    // rpm also indexes every capability named inside a rich dependency, under the same idx.
    if (value.startsWith('(') && DEPENDENCY_TABLES.has(table)) {
      for (const name of richNames(parseRichDependency(value, 'installed header'))) rows.push([name, i]);
    }
  });
  return rows;
}

const DEPENDENCY_TABLES = new Set(['Requirename', 'Providename', 'Conflictname', 'Obsoletename', 'Recommendname', 'Suggestname', 'Supplementname', 'Enhancename']);

function richNames(dep: RichDependency): string[] {
  if (dep.op === 'atom') return [dep.name];
  if ('operands' in dep) return dep.operands.flatMap(richNames);
  return [dep.left, dep.right, ...(dep.otherwise ? [dep.otherwise] : [])].flatMap(richNames);
}

/** Adds one header to Packages and every index; returns its hnum. */
export function insertHeader(db: SqliteDb, blob: Buffer, h: RpmHeader): number {
  const info = db.prepare("INSERT INTO 'Packages' (blob) VALUES (?)").run(blob);
  const hnum = Number(info.lastInsertRowid);
  for (const [table, tag] of INDEX_TABLES) {
    const rows = indexRows(table, tag, h);
    if (!rows.length) continue;
    const insert = db.prepare(`INSERT INTO '${table}' (key, hnum, idx) VALUES (?, ?, ?)`);
    for (const [key, idx] of rows) insert.run(key, hnum, idx);
  }
  return hnum;
}
