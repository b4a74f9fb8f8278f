/**
 * A sync database (`<repo>.db`, what `repo-add` writes and `pacman -Sy` downloads): a compressed tar of one
 * `<name>-<version>/desc` per package, in the format of the local database's desc with the download fields
 * (%FILENAME%, %CSIZE%, %ISIZE%, %SHA256SUM%). Fetched through core's HTTP client, with the last good copy kept for
 * offline use.
 */
import { Readable } from 'node:stream';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { fetchKeepingCopy, NotFoundError, readUrl, SystemStateError, VerificationError, type Download } from '@ostree-layer/core';
import { decompress, type Compression } from '@ostree-layer/core';
import { parseDbFile } from '../database.js';
import { parseDep, type PacmanDep } from '../dependencies.js';
import type { SyncRepoConfig } from './config.js';
import { verifyDetached, type CheckLevel } from './signature.js';
import type * as openpgp from 'openpgp';

/** One package of a sync database. */
export interface SyncPackage {
  name: string;
  version: string;
  arch: string;
  description: string;
  provides: PacmanDep[];
  depends: PacmanDep[];
  conflicts: PacmanDep[];
  replaces: PacmanDep[];
  download: Download;
  /** %PGPSIG%: the package file's detached signature, as repo-add embeds it. */
  signature?: Buffer;
  /** Every field as the database gives it, for `show`. */
  fields: Map<string, string[]>;
}

function compressionOf(data: Buffer): Compression {
  if (data.length >= 4 && data.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (data.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (data[0] === 0x1f && data[1] === 0x8b) return 'gzip';
  return 'none';
}

/** The desc files of a sync database, parsed. */
export async function parseSyncDb(data: Buffer, what: string): Promise<Array<Map<string, string[]>>> {
  const extract = tar.extract();
  const input = decompress(Readable.from([data]), compressionOf(data), what, 'sync database');
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  const out: Array<Map<string, string[]>> = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (/^[^/]+\/desc$/.test(entry.header.name)) out.push(parseDbFile(Buffer.concat(chunks).toString('utf8')));
  }
  return out;
}

/** A sync database is read whole; Arch's largest ("extra") is about 9 MiB, so this leaves room and stops a hostile mirror. */
const SYNC_DB_MAX_BYTES = 128 << 20;

/** The whole resource through core's HTTP client (idle timeout, size limit), or undefined when it does not exist. */
export async function fetchAllBytes(url: string, maxBytes = SYNC_DB_MAX_BYTES): Promise<Buffer | undefined> {
  try {
    return await readUrl(url, { maxBytes });
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** How the database's own signature (`<repo>.db.sig`) is checked. */
export interface DatabaseCheck {
  level: CheckLevel;
  keys: openpgp.PublicKey[];
}

/**
 * Loads `repo` from its first server that has it, checking `<repo>.db.sig` as the database SigLevel asks (a copy
 * kept from an earlier fetch is checked the same way). `warn` hears about a stale copy used offline. A server that
 * cannot be reached, with no copy kept, throws core's UnreachableError.
 */
export async function loadSyncRepo(repo: SyncRepoConfig, cacheDir: string, check: DatabaseCheck, warn: (text: string) => void): Promise<{ server: string; packages: SyncPackage[]; signed: boolean }> {
  if (repo.servers.length === 0) throw new SystemStateError(`pacman repository [${repo.name}] (${repo.configuredIn}) has no Server line`);
  const copies = join(cacheDir, 'pacman', 'copies');
  for (const server of repo.servers) {
    const url = `${server}/${repo.name}.db`;
    const kept = await fetchKeepingCopy(url, copies, () => fetchAllBytes(url));
    if (!kept.data) continue;
    if (kept.stale) warn(`pacman: ${url} could not be fetched (${kept.stale.reason}); using the copy fetched earlier`);
    let signed = false;
    if (check.level !== 'never') {
      const sig = (await fetchKeepingCopy(`${url}.sig`, copies, () => fetchAllBytes(`${url}.sig`, 64 << 10))).data;
      if (sig) {
        await verifyDetached(kept.data, sig, check.keys, `pacman repository [${repo.name}] ${url}`);
        signed = true;
      } else if (check.level === 'required') {
        throw new VerificationError(`pacman repository [${repo.name}]: ${url} has no signature (${url}.sig) and its SigLevel requires one; sign it (repo-add --sign) or lower SigLevel for it`);
      }
    }
    const descs = await parseSyncDb(kept.data, url);
    return { server, packages: descs.map((d) => syncPackage(d, repo.name, server)), signed };
  }
  throw new SystemStateError(`pacman repository [${repo.name}]: no server has ${repo.name}.db (${repo.servers.join(', ')}); check its Server lines`);
}

function syncPackage(desc: Map<string, string[]>, repo: string, server: string): SyncPackage {
  const one = (key: string) => desc.get(key)?.[0] ?? '';
  const deps = (key: string) => (desc.get(key) ?? []).map(parseDep);
  const fileName = one('FILENAME');
  if (!fileName || fileName.includes('/')) throw new SystemStateError(`pacman repository [${repo}]: package ${one('NAME')} has the file name ${JSON.stringify(fileName)}; the database is corrupt`);
  return {
    name: one('NAME'),
    version: one('VERSION'),
    arch: one('ARCH'),
    description: one('DESC'),
    provides: deps('PROVIDES'),
    depends: deps('DEPENDS'),
    conflicts: deps('CONFLICTS'),
    replaces: deps('REPLACES'),
    download: {
      url: `${server}/${encodeURIComponent(fileName)}`,
      size: Number(one('CSIZE')),
      sha256: one('SHA256SUM') || undefined,
      fileName,
      origin: repo,
      installedSize: Number(one('ISIZE')) || undefined,
    },
    signature: desc.get('PGPSIG')?.[0] ? Buffer.from(desc.get('PGPSIG')![0]!, 'base64') : undefined,
    fields: desc,
  };
}
