/**
 * The record each package layer carries about itself (`/usr/lib/ostree-layer/layers/<name>_<arch>.json`, written as
 * the layer's last tar entry, when everything in it is known). It says what the layer was made from — the package
 * file's SHA-256, the placement rules, the facts of the base the placement was decided on and the accounts owners were
 * looked up in — and what the later phases need from the payload (the listing, the placed entries with their hashes,
 * the tmpfiles.d lines). A later import of the same file onto a base that answers the same is a cache hit: it reads
 * the package file once to hash it, and never its payload.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { PackageEntry, PackageFile, PackageId } from '../backend.js';
import type { Accounts } from './accounts.js';
import type { PlacedEntry, WalkedPayload } from './payload-walk.js';
import type { BaseFacts, PathPlacer } from './placement.js';

export const LAYER_RECORD_DIR = '/usr/lib/ostree-layer/layers';

/**
 * Bump when the import makes a different layer from the same inputs (placement rules, ownership, what the tar holds,
 * the record's shape): layers made by an earlier version are then imported again rather than reused.
 */
const IMPORT_RULES = 'import-2';

export interface LayerRecord {
  package: PackageId;
  rules: string;
  /** SHA-256 of the package file the layer was made from. */
  file: string;
  /** The algorithm of the entries' `digest` fields, when the package asked for digests. */
  digestAlgorithm: string | null;
  facts: Array<[string, string]>;
  /** The base's identity (a commit checksum) when it had one: the same base answers every fact the same way. */
  base: string | null;
  users: Record<string, number>;
  groups: Record<string, number>;
  entries: PackageEntry[];
  /** Placed entries with `source` given as an index into `entries`. */
  placed: Array<Omit<PlacedEntry, 'source'> & { source: number }>;
  tmpfiles: string[];
}

export function layerRecordPath(id: PackageId): string {
  const part = (s: string) => s.replace(/[^A-Za-z0-9.+~_-]/g, '_');
  return `${LAYER_RECORD_DIR}/${part(id.name)}_${part(id.arch)}.json`;
}

/** SHA-256 of a whole file, read in large chunks. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function makeRecord(pkg: PackageFile, fileDigest: string, placer: PathPlacer, facts: BaseFacts, walked: WalkedPayload): string {
  const index = new Map(walked.entries.map((e, i) => [e, i]));
  const record: LayerRecord = {
    package: pkg.id,
    rules: IMPORT_RULES,
    file: fileDigest,
    digestAlgorithm: pkg.fileDigest?.algorithm ?? null,
    facts: [...facts],
    base: placer.baseIdentity ?? null,
    users: Object.fromEntries(walked.users),
    groups: Object.fromEntries(walked.groups),
    entries: walked.entries,
    placed: walked.placed.map(({ source, ...rest }) => ({ ...rest, source: index.get(source)! })),
    tmpfiles: walked.tmpfiles,
  };
  return JSON.stringify(record) + '\n';
}

/**
 * The payload as the record describes it, when the record says the layer holds exactly what importing `pkg` (whose
 * file hashes to `fileDigest`) onto the placer's base with `accounts` would make now; otherwise null.
 */
export async function reusableLayer(data: Buffer | null, pkg: PackageFile, fileDigest: string, placer: PathPlacer, accounts: Accounts): Promise<WalkedPayload | null> {
  const record = parse(data);
  if (!record || record.rules !== IMPORT_RULES || record.file !== fileDigest) return null;
  if (record.digestAlgorithm !== (pkg.fileDigest?.algorithm ?? null)) return null;
  for (const [name, id] of Object.entries(record.users)) if (accounts.users.get(name) !== id) return null;
  for (const [name, id] of Object.entries(record.groups)) if (accounts.groups.get(name) !== id) return null;
  const sameBase = typeof record.base === 'string' && record.base === placer.baseIdentity;
  if (!sameBase && !(await placer.sameFacts(record.facts))) return null;
  const entries = record.entries;
  const placed = record.placed.map((p) => ({ ...p, source: entries[p.source]! }));
  return { entries, placed, tmpfiles: record.tmpfiles, users: new Map(Object.entries(record.users)), groups: new Map(Object.entries(record.groups)) };
}

function parse(data: Buffer | null): LayerRecord | null {
  if (!data) return null;
  try {
    const record = JSON.parse(data.toString('utf8')) as Partial<LayerRecord>;
    const complete = Array.isArray(record.entries) && Array.isArray(record.placed) && Array.isArray(record.facts) && Array.isArray(record.tmpfiles);
    if (!complete || !record.placed!.every((p) => record.entries![p.source] !== undefined)) return null;
    return record as LayerRecord;
  } catch {
    return null;
  }
}
