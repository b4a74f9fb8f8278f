/**
 * Fetching repository metadata and keys: file:// and http(s):// URLs, streamed to the cache with the digest checked
 * on the way. Package files are the engine's downloader's job; this is only for what the backend itself reads.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { SystemStateError, UnreachableError, VerificationError } from '@ostree-layer/core';

export function isFileUrl(url: string): boolean {
  return url.startsWith('file:');
}

/** A readable stream of the resource; throws SystemStateError when it does not exist or the server refuses. */
export async function openUrl(url: string): Promise<Readable> {
  if (isFileUrl(url)) {
    const path = fileURLToPath(url);
    const stream = createReadStream(path, { highWaterMark: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (err) => reject(new SystemStateError(`cannot read ${url} (${err.message}); check the repository's baseurl`, { cause: err })));
    });
    return stream;
  }
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow' });
  } catch (err) {
    const why = (err as Error).cause ? String((err as Error).cause) : (err as Error).message;
    throw new UnreachableError(`cannot fetch ${url} (${why}); check the network and the baseurl`, { cause: err });
  }
  if (!response.ok || !response.body) throw new SystemStateError(`cannot fetch ${url}: HTTP ${response.status}; check the baseurl`);
  return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
}

/** The whole (small) resource, or undefined when it does not exist (for optional files like repomd.xml.asc). */
export async function fetchOptional(url: string): Promise<Buffer | undefined> {
  if (isFileUrl(url)) return readFile(fileURLToPath(url)).catch(() => undefined);
  const response = await fetch(url, { redirect: 'follow' }).catch((err: Error) => {
    throw new UnreachableError(`cannot fetch ${url} (${err.cause ? String(err.cause) : err.message}); check the network and the baseurl`, { cause: err });
  });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new SystemStateError(`cannot fetch ${url}: HTTP ${response.status}; check the baseurl`);
  return Buffer.from(await response.arrayBuffer());
}

export async function fetchBuffer(url: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await openUrl(url)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** rpm-md checksum type names → node:crypto names. "sha" is SHA-1 in old createrepo output. */
const HASHES: Record<string, string> = { sha: 'sha1', sha1: 'sha1', sha224: 'sha224', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

export function hashName(type: string, what: string): string {
  const name = HASHES[type.toLowerCase()];
  if (!name) throw new VerificationError(`${what}: unsupported checksum type "${type}"; the repository metadata cannot be verified`);
  return name;
}

/** Streams `url` into `dest` (atomically: a temp name renamed once the digest matches). */
export async function downloadVerified(url: string, dest: string, checksum: { type: string; value: string }): Promise<void> {
  const hash = createHash(hashName(checksum.type, url));
  const tmp = `${dest}.part-${process.pid}`;
  try {
    await pipeline(await openUrl(url), async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk);
        yield chunk;
      }
    }, createWriteStream(tmp));
    const got = hash.digest('hex');
    if (got !== checksum.value.toLowerCase()) {
      throw new VerificationError(`${url}: ${checksum.type} is ${got} but repomd.xml says ${checksum.value}; the repository metadata is corrupt or was tampered with (refresh the mirror)`);
    }
    await rename(tmp, dest);
  } finally {
    await rm(tmp, { force: true });
  }
}
