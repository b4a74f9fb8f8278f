/**
 * Fetching repository metadata and keys: file:// and http(s):// URLs through core's one HTTP client (idle timeout,
 * HTTP status checks, size limits), streamed to the cache with the digest checked on the way. Package files are the
 * engine's downloader's job; this is only for what the backend itself reads.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { byteLimit, INDEX_MAX_BYTES, NotFoundError, openUrl, readUrl, SystemStateError, VerificationError } from '@ostree-layer/core';

export function isFileUrl(url: string): boolean {
  return url.startsWith('file:');
}

/** A missing file named by the configuration is the configuration's fault: say so. */
function missing(url: string, err: NotFoundError): SystemStateError {
  return new SystemStateError(`cannot fetch ${url}: ${err.message}; check the repository's baseurl`, { cause: err });
}

/** The whole (small) resource, or undefined when it does not exist (for optional files like repomd.xml.asc). */
export async function fetchOptional(url: string): Promise<Buffer | undefined> {
  try {
    return await readUrl(url);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** The whole (small) resource: repomd.xml, a key. */
export async function fetchBuffer(url: string): Promise<Buffer> {
  try {
    return await readUrl(url);
  } catch (err) {
    if (err instanceof NotFoundError) throw missing(url, err);
    throw err;
  }
}

/** rpm-md checksum type names → node:crypto names. "sha" is SHA-1 in old createrepo output. */
const HASHES: Record<string, string> = { sha: 'sha1', sha1: 'sha1', sha224: 'sha224', sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

export function hashName(type: string, what: string): string {
  const name = HASHES[type.toLowerCase()];
  if (!name) throw new VerificationError(`${what}: unsupported checksum type "${type}"; the repository metadata cannot be verified`);
  return name;
}

/**
 * Streams `url` into `dest` (atomically: a temp name renamed once the digest matches). `size` is what repomd.xml
 * states: more bytes are refused as they come, fewer after the end; without it the body may be at most
 * {@link INDEX_MAX_BYTES}.
 */
export async function downloadVerified(url: string, dest: string, checksum: { type: string; value: string }, size?: number): Promise<void> {
  const hash = createHash(hashName(checksum.type, url));
  const tmp = `${dest}.part-${process.pid}`;
  let received = 0;
  let stream;
  try {
    stream = (await openUrl(url)).stream;
  } catch (err) {
    if (err instanceof NotFoundError) throw missing(url, err);
    throw err;
  }
  try {
    await pipeline(stream, byteLimit(url, size ?? INDEX_MAX_BYTES), async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk);
        received += chunk.length;
        yield chunk;
      }
    }, createWriteStream(tmp));
    if (size !== undefined && received !== size) {
      throw new VerificationError(`${url}: ${received} bytes, but repomd.xml says ${size}; the repository metadata is truncated (refresh the mirror)`);
    }
    const got = hash.digest('hex');
    if (got !== checksum.value.toLowerCase()) {
      throw new VerificationError(`${url}: ${checksum.type} is ${got} but repomd.xml says ${checksum.value}; the repository metadata is corrupt or was tampered with (refresh the mirror)`);
    }
    await rename(tmp, dest);
  } finally {
    await rm(tmp, { force: true });
  }
}
