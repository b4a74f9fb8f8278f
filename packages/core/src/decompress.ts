/**
 * Decompression of package payloads and repository metadata, for every backend: gzip in-process (node:zlib), xz/lzma,
 * zstd and bzip2 through the system tools, which are as fast as the native add-ons, need no build step and run beside
 * the importer on another core.
 */
import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
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
 * A stream of the decompressed bytes of `input`. Errors of the input, of the decompressor and a tool's non-zero exit
 * (a corrupt or truncated stream) surface as an error on the returned stream; destroying it stops the tool.
 */
export function decompress(input: Readable, compression: Compression, file: string, what: string): Readable {
  if (compression === 'none') return input;
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const fail = (detail: string, cause?: unknown) => {
    if (!out.destroyed) out.destroy(new PackageFormatError(file, `${what}: ${detail}`, { cause }));
  };
  input.on('error', (err) => out.destroy(err));
  if (compression === 'gzip') {
    const gunzip = createGunzip({ chunkSize: 1 << 16 }); // 64 KiB: measured fastest here (the 16 KiB default is ~3x slower)
    gunzip.on('error', (err) => fail(`corrupt gzip data (${err.message}); the file is corrupt or truncated: download it again`, err));
    input.pipe(gunzip).pipe(out);
    out.on('close', () => {
      input.destroy();
      gunzip.destroy();
    });
    return out;
  }
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
  return out;
}
