/**
 * Fetching repository metadata and keys: file:// and http(s):// URLs, streamed to the cache with the digest checked
 * on the way. Package files are the engine's downloader's job; this is only for what the backend itself reads.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NotFoundError, openUrl as openUrlWithLimits, SystemStateError, VerificationError } from '@ostree-layer/core';

export function isFileUrl(url: string): boolean {
  return url.startsWith('file:');
}

/**
 * A readable stream of the resource, through the engine's one HTTP client (core's openUrl: idle timeout, HTTP status
 * checks); throws SystemStateError when it does not exist or the server refuses.
 */
export async function openUrl(url: string): Promise<Readable> {
  try {
    return (await openUrlWithLimits(url)).stream;
  } catch (err) {
    if (err instanceof NotFoundError) throw new SystemStateError(`cannot fetch ${url}: ${err.message}; check the repository's baseurl`, { cause: err });
    throw err;
  }
}

/** The whole (small) resource, or undefined when it does not exist (for optional files like repomd.xml.asc). */
export async function fetchOptional(url: string): Promise<Buffer | undefined> {
  try {
    return await readAll((await openUrlWithLimits(url)).stream);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

export async function fetchBuffer(url: string): Promise<Buffer> {
  return readAll(await openUrl(url));
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
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
