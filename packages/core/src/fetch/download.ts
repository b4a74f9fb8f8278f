/**
 * One verified download: the bytes stream from a `file://` or `http(s)://` URL into `<cache>/partial/<name>` while
 * sha256/sha512 are computed on the way, and only a file whose size and digests match is renamed into place. A
 * partial file is never visible under the final name, so an interrupted run leaves nothing a later run could trust.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import type { Agent, IncomingMessage } from 'node:http';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform, pipeline as pipeStreams } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { SystemStateError, VerificationError } from '../errors.js';

export interface Expected {
  /** Exact size in bytes; undefined when the metadata does not say (signed metadata itself). */
  size?: number;
  sha256?: string;
  sha512?: string;
}

/** Raised for a URL that does not exist (HTTP 404/410, missing file): callers may try another name. */
export class NotFoundError extends SystemStateError {}

/**
 * Raised when the server could not be reached at all (no route, DNS failure, connection refused or reset): unlike
 * an HTTP error, a copy fetched earlier may stand in for the answer.
 */
export class UnreachableError extends SystemStateError {}

/** Seconds without a single byte after which a download counts as stalled: OSTREE_LAYER_DOWNLOAD_TIMEOUT, default 60. */
export function downloadIdleTimeoutMs(): number {
  const seconds = Number(process.env.OSTREE_LAYER_DOWNLOAD_TIMEOUT);
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : 60) * 1000;
}

function stalled(url: string, ms: number, phase: string): VerificationError {
  return new VerificationError(`${url}: the server sent no data for ${ms / 1000} s ${phase}; the mirror is stalling (try again later or use another mirror; OSTREE_LAYER_DOWNLOAD_TIMEOUT sets the limit in seconds)`);
}

/**
 * Opens a URL as a byte stream; `length` is the announced size when known. An http(s) server that sends nothing for
 * `idleTimeoutMs` (before the headers or between two chunks of the body) fails the stream with a
 * {@link VerificationError} naming the URL, instead of hanging the transaction forever.
 */
export async function openUrl(url: string, signal?: AbortSignal, idleTimeoutMs = downloadIdleTimeoutMs()): Promise<{ stream: Readable; length?: number }> {
  if (url.startsWith('file:')) {
    const path = fileURLToPath(url);
    try {
      const st = await stat(path);
      return { stream: createReadStream(path, { highWaterMark: 1 << 20 }), length: st.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${url}: no such file`);
      throw err;
    }
  }
  if (!/^https?:/.test(url)) throw new SystemStateError(`${url}: only file://, http:// and https:// URLs are supported`);
  const abort = new AbortController();
  const onCallerAbort = () => abort.abort(signal?.reason);
  signal?.addEventListener('abort', onCallerAbort, { once: true });
  let timer = setTimeout(() => abort.abort(stalled(url, idleTimeoutMs, 'before answering')), idleTimeoutMs);
  let res: IncomingMessage;
  try {
    res = await get(url, abort.signal);
  } catch (err) {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onCallerAbort);
    if (abort.signal.reason instanceof VerificationError) throw abort.signal.reason;
    if (err instanceof SystemStateError) throw err;
    throw new UnreachableError(`${url}: ${(err as Error).message}`, { cause: err });
  }
  clearTimeout(timer);
  const status = res.statusCode ?? 0;
  if (status === 404 || status === 410 || status < 200 || status > 299) {
    res.resume();
    signal?.removeEventListener('abort', onCallerAbort);
    if (status === 404 || status === 410) throw new NotFoundError(`${url}: HTTP ${status}`);
    throw new SystemStateError(`${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd());
  }
  const length = Number(res.headers['content-length'] ?? NaN);
  // A watchdog between the socket and the consumer: every chunk re-arms it; silence fails the stream.
  const watchdog = new Transform({
    transform(chunk: Buffer, _enc, done) {
      timer.refresh();
      done(null, chunk);
    },
  });
  const stop = () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onCallerAbort);
  };
  timer = setTimeout(() => {
    const err = stalled(url, idleTimeoutMs, 'in the middle of the file');
    abort.abort(err);
    watchdog.destroy(err);
  }, idleTimeoutMs);
  watchdog.on('close', stop);
  pipeStreams(res, watchdog, () => undefined);
  return { stream: watchdog, length: Number.isFinite(length) ? length : undefined };
}

/**
 * Node's http/https client rather than the global fetch: fetch (undici) costs about 40 MiB of resident memory once
 * used, measured on Node 20.20, where node:http costs 5; one metadata check would double what `install --dry-run`
 * needs. Keep-alive agents reuse connections across the downloads of one transaction (idle sockets do not hold the
 * process open). Redirects are followed, at most 20 as fetch does; no Accept-Encoding is sent, so bodies come as
 * stored.
 */
const agents = new Map<string, Agent>();

async function get(url: string, signal: AbortSignal, redirects = 0): Promise<IncomingMessage> {
  const https = url.startsWith('https:');
  const client = https ? await import('node:https') : await import('node:http');
  let agent = agents.get(https ? 'https' : 'http');
  if (!agent) agents.set(https ? 'https' : 'http', (agent = new client.Agent({ keepAlive: true })));
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = client.get(url, { agent, signal, headers: { 'user-agent': 'ostree-layer' } }, resolve);
    req.once('error', reject);
  });
  const location = res.headers.location;
  if (location && [301, 302, 303, 307, 308].includes(res.statusCode ?? 0)) {
    res.resume();
    if (redirects >= 20) throw new SystemStateError(`${url}: more than 20 redirects; the mirror is misconfigured`);
    const next = new URL(location, url).href;
    if (!/^https?:/.test(next)) throw new SystemStateError(`${url}: redirected to ${next}, which is not an http(s) URL`);
    return get(next, signal, redirects + 1);
  }
  return res;
}

/**
 * The most a metadata file read whole may hold (Release, InRelease, repomd.xml and its signature, a key): real ones
 * are kilobytes to a few megabytes; a server sending more is refused before it fills the memory.
 */
export const METADATA_MAX_BYTES = 32 * 1024 * 1024;

/** The most an index file whose size the signed metadata does not state may hold (streamed to disk, not to memory). */
export const INDEX_MAX_BYTES = 2 * 1024 * 1024 * 1024;

function tooLarge(url: string, maxBytes: number): VerificationError {
  return new VerificationError(`${url}: the server sends more than ${maxBytes} bytes, more than such a file can hold; refusing it (a broken or hostile mirror)`);
}

/** Passes bytes through and fails with a {@link VerificationError} naming `url` once more than `maxBytes` went by. */
export function byteLimit(url: string, maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      done(seen > maxBytes ? tooLarge(url, maxBytes) : null, chunk);
    },
  });
}

/**
 * The whole body of a small resource (signed metadata, a key) through {@link openUrl}: the same idle timeout and HTTP
 * checks, and refused past `maxBytes` (announced or sent). Throws {@link NotFoundError} for a missing file.
 */
export async function readUrl(url: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? METADATA_MAX_BYTES;
  const { stream, length } = await openUrl(url, options.signal);
  if (length !== undefined && length > maxBytes) {
    stream.destroy();
    throw tooLarge(url, maxBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      stream.destroy();
      throw tooLarge(url, maxBytes);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export interface DownloadFileOptions {
  url: string;
  /** Final path; the partial file goes to `<dirname(dest)>/partial/<basename>` unless `partialDir` is given. */
  dest: string;
  partialDir?: string;
  expected: Expected;
  /** Name in error messages ("htop 3.2.2-2", "bookworm/main Packages"). */
  what: string;
  /** Called with the number of bytes received so far. */
  onBytes?: (received: number, total: number | undefined) => void;
  signal?: AbortSignal;
}

/** Whether an existing file already has the expected size and digests (a cache hit). */
export async function verifyExisting(path: string, expected: Expected): Promise<boolean> {
  try {
    const st = await stat(path);
    if (expected.size !== undefined && st.size !== expected.size) return false;
    if (!expected.sha256 && !expected.sha512) return false;
    const hashes = makeHashes(expected);
    await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), async function* (src) {
      for await (const chunk of src) for (const h of Object.values(hashes)) h.update(chunk as Buffer);
    });
    return Object.entries(hashes).every(([alg, h]) => h.digest('hex') === expected[alg as 'sha256' | 'sha512']);
  } catch {
    return false;
  }
}

function makeHashes(expected: Expected): Partial<Record<'sha256' | 'sha512', Hash>> {
  const out: Partial<Record<'sha256' | 'sha512', Hash>> = {};
  if (expected.sha256) out.sha256 = createHash('sha256');
  if (expected.sha512) out.sha512 = createHash('sha512');
  return out;
}

/**
 * Downloads `url` to `dest`, refusing a body whose size or digest differs from `expected` (a truncated, padded or
 * tampered file) with a {@link VerificationError} that names the package, the URL and both values.
 */
export async function downloadFile(options: DownloadFileOptions): Promise<{ path: string; size: number; sha256: string }> {
  const { url, dest, expected, what } = options;
  const partialDir = options.partialDir ?? join(dirname(dest), 'partial');
  await mkdir(partialDir, { recursive: true });
  const partial = join(partialDir, `${dest.split('/').pop()}.${process.pid}.${Math.random().toString(36).slice(2, 8)}`);
  const hashes = makeHashes(expected);
  // sha256 is always computed: callers key caches by it even when the metadata gave only sha512.
  const sha256 = hashes.sha256 ?? createHash('sha256');
  let received = 0;
  const { stream, length } = await openUrl(url, options.signal);
  const total = expected.size ?? length;
  const limit = expected.size;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      if (limit !== undefined && received > limit) {
        done(new VerificationError(`${what}: ${url} is larger than the ${limit} bytes the signed metadata states; refusing it`));
        return;
      }
      sha256.update(chunk);
      if (hashes.sha512) hashes.sha512.update(chunk);
      options.onBytes?.(received, total);
      done(null, chunk);
    },
  });
  try {
    await pipeline(stream, meter, createWriteStream(partial));
    if (limit !== undefined && received !== limit) {
      throw new VerificationError(
        `${what}: ${url} is truncated or incomplete: expected ${limit} bytes, got ${received}; refusing it (try again, or check the mirror)`,
      );
    }
    const actual256 = sha256.digest('hex');
    if (expected.sha256 && actual256 !== expected.sha256) {
      throw new VerificationError(`${what}: ${url} has SHA256 ${actual256}, but the signed metadata expects ${expected.sha256}; refusing it (mirror out of sync or tampered)`);
    }
    if (expected.sha512) {
      const actual = hashes.sha512!.digest('hex');
      if (actual !== expected.sha512) {
        throw new VerificationError(`${what}: ${url} has SHA512 ${actual}, but the signed metadata expects ${expected.sha512}; refusing it (mirror out of sync or tampered)`);
      }
    }
    await mkdir(dirname(dest), { recursive: true });
    await rename(partial, dest);
    return { path: dest, size: received, sha256: actual256 };
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}
