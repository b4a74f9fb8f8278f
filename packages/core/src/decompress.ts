/**
 * Decompression of package payloads and repository metadata, for every backend: gzip in-process (node:zlib); xz
 * in-process (node-liblzma, on libuv's thread pool) up to a few MiB, where a process start costs more than the
 * decoding (a 1 KB control.tar.xz: 0.3 ms against 10 ms for `xz -dc`), and through `xz -T0` above, which decodes
 * dpkg-deb's multi-block streams on every core (2x on 2 cores for a 21 MB payload); lzma, zstd and bzip2 through
 * the system tools, which are as fast as the native add-ons, need no build step and run beside the importer.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { PassThrough, Readable, type Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { PackageFormatError } from './errors.js';

export type Compression = 'none' | 'gzip' | 'xz' | 'lzma' | 'zstd' | 'bzip2';

const TOOLS: Partial<Record<Compression, [string, string[]]>> = {
  // -T0: xz 5.4 decompresses multi-block streams (what dpkg-deb writes) on every core, twice as fast on 2 cores.
  xz: ['xz', ['-T0', '-dc']],
  lzma: ['xz', ['--format=lzma', '-dc']],
  zstd: ['zstd', ['-dcq']],
  bzip2: ['bzip2', ['-dc']],
};

/**
 * Compressed xz input up to this size decodes in-process. dpkg-deb starts a new xz block every 24 MiB of payload, so
 * below a few MiB compressed there is one block, which `xz -T0` decodes on one core too.
 */
export const IN_PROCESS_XZ_MAX_BYTES = 4 << 20;

interface Liblzma {
  createUnxz(options?: { chunkSize?: number }): Transform;
  parseFileIndex(buffer: Buffer): { uncompressedSize: number; compressedSize: number; streamCount: number };
}
let liblzma: Liblzma | null | undefined;

/** node-liblzma, loaded on first use; null when its add-on cannot load (not built here), and xz is run instead. */
function inProcessXz(): Liblzma | null {
  if (liblzma === undefined) {
    try {
      liblzma = createRequire(import.meta.url)('node-liblzma') as Liblzma;
    } catch {
      liblzma = null;
    }
  }
  return liblzma;
}

/**
 * Loads the in-process decoder now (about 10 ms of module loading) rather than on the first package opened: an install
 * calls this while the lock helper starts, when the process would otherwise wait.
 */
export function preloadDecoders(): void {
  inProcessXz();
}

export interface DecompressOptions {
  /** The compressed size when known (an ar member's, a payload's): small xz input is decoded in-process. */
  size?: number;
}

type Fail = (detail: string, cause?: unknown) => void;

/**
 * A stream of the decompressed bytes of `input`. Errors of the input, of the decompressor and a tool's non-zero exit
 * (a corrupt or truncated stream) surface as an error on the returned stream; destroying it stops the tool.
 */
export function decompress(input: Readable, compression: Compression, file: string, what: string, options: DecompressOptions = {}): Readable {
  if (compression === 'none') return input;
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const fail: Fail = (detail, cause) => {
    if (!out.destroyed) out.destroy(new PackageFormatError(file, `${what}: ${detail}`, { cause }));
  };
  input.on('error', (err) => out.destroy(err));
  out.on('close', () => input.destroy());
  const lzma = compression === 'xz' && options.size !== undefined && options.size <= IN_PROCESS_XZ_MAX_BYTES ? inProcessXz() : null;
  if (lzma) {
    readWhole(input).then((whole) => (whole ? smallXz(lzma, whole, out, fail) : undefined), (err: Error) => out.destroy(err));
  } else if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: 1 << 16 }); // 64 KiB: measured fastest here (the 16 KiB default is ~3x slower)
    gunzip.on('error', (err) => fail(`corrupt gzip data (${err.message}); the file is corrupt or truncated: download it again`, err));
    input.pipe(gunzip).pipe(out);
    out.on('close', () => gunzip.destroy());
  } else {
    throughTool(input, compression, out, fail);
  }
  return out;
}

/** The whole input, or null when it failed (its error is already on the output). */
async function readWhole(input: Readable): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of input) chunks.push(chunk as Buffer);
  } catch {
    return null;
  }
  return Buffer.concat(chunks);
}

/**
 * One small xz stream decoded in-process. node-liblzma's decoder stops quietly where its input stops, so a truncated
 * stream would look complete: the stream is first checked to be whole and alone (its footer and index parse, its
 * blocks, index and both 12-byte headers add up to the input's length) and the output to be as long as its index
 * says. Anything else (concatenated streams, padding, a truncated or damaged file) goes to `xz`, which decodes the
 * forms it allows and names what is wrong with the others.
 */
function smallXz(lzma: Liblzma, whole: Buffer, out: PassThrough, fail: Fail): void {
  let expected: number | null = null;
  try {
    const index = lzma.parseFileIndex(whole);
    const indexBytes = (whole.readUInt32LE(whole.length - 8) + 1) * 4;
    if (index.streamCount === 1 && 24 + index.compressedSize + indexBytes === whole.length) expected = index.uncompressedSize;
  } catch {
    // Not one whole stream: the tool decides.
  }
  if (expected === null) {
    throughTool(Readable.from([whole]), 'xz', out, fail);
    return;
  }
  // 256 KiB output buffers instead of the 8 KiB default: a quarter less time decoding the payloads of small packages,
  // which went into one thread-pool round trip and stream hop per 8 KiB.
  const decoder = lzma.createUnxz({ chunkSize: 1 << 18 });
  let produced = 0;
  decoder.on('data', (chunk: Buffer) => void (produced += chunk.length));
  decoder.pipe(out, { end: false });
  decoder.on('end', () => {
    if (produced === expected) out.end();
    else fail(`xz data ends after ${produced} of ${expected} bytes; the file is corrupt or truncated: download it again`);
  });
  decoder.on('error', (err) => fail(`corrupt xz data (${err.message}); the file is corrupt or truncated: download it again`, err));
  out.on('close', () => decoder.destroy());
  decoder.end(whole);
}

function throughTool(input: Readable, compression: Compression, out: PassThrough, fail: Fail): void {
  const [cmd, args] = TOOLS[compression]!;
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let stdoutEnded = false;
  let exit: number | null | undefined;
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    if (stderr.length < 4000) stderr += s;
  });
  const settle = () => {
    if (!stdoutEnded || exit === undefined) return;
    if (exit === 0) out.end();
    else fail(`${cmd} could not decompress it (${stderr.trim() || `exit ${exit}`}); the package is corrupt or truncated`);
  };
  child.on('error', (err) => fail(`cannot run "${cmd}" (${err.message}); install it (apt-get install ${cmd === 'zstd' ? 'zstd' : cmd === 'bzip2' ? 'bzip2' : 'xz-utils'})`, err));
  child.on('close', (code, signal) => {
    exit = code ?? (signal ? -1 : 0);
    settle();
  });
  // The tool may exit early on corrupt input; its closed stdin must not crash the process.
  child.stdin.on('error', () => undefined);
  input.pipe(child.stdin);
  child.stdout.on('end', () => {
    stdoutEnded = true;
    settle();
  });
  child.stdout.pipe(out, { end: false });
  out.on('close', () => {
    input.destroy();
    if (exit === undefined) child.kill();
  });
}
