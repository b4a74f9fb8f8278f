/**
 * Streaming reader for the Unix `ar` archives that wrap a .deb (common/GNU format, as `dpkg-deb` writes it).
 * Members are yielded one at a time with a body stream; nothing is buffered beyond the current chunk.
 */
import { Readable } from 'node:stream';
import { PackageFormatError } from '@ostree-layer/core';

const MAGIC = '!<arch>\n';
const HEADER_SIZE = 60;

export interface ArMember {
  name: string;
  size: number;
  mode: number;
  mtime: number;
  /** The member's bytes. Reading past its end is impossible; an unread body is skipped when iteration continues. */
  body: Readable;
}

/** Pulls exact byte counts out of a Readable, keeping at most one unread chunk. */
class ByteSource {
  private pending: Buffer | null = null;
  private readonly chunks: AsyncIterator<Buffer>;
  offset = 0;

  constructor(input: Readable) {
    this.chunks = input[Symbol.asyncIterator]();
  }

  /** Up to `max` bytes (at least one), or null at the end of the input. */
  async chunk(max: number): Promise<Buffer | null> {
    if (!this.pending || this.pending.length === 0) {
      const next = await this.chunks.next();
      if (next.done) return null;
      this.pending = next.value;
    }
    const buf = this.pending!;
    const take = buf.length <= max ? buf : buf.subarray(0, max);
    this.pending = buf.length <= max ? null : buf.subarray(max);
    this.offset += take.length;
    return take;
  }

  /** Exactly `n` bytes, or fewer when the input ends first. */
  async exact(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const c = await this.chunk(n - got);
      if (!c) break;
      parts.push(c);
      got += c.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, got);
  }

  async skip(n: number): Promise<number> {
    let skipped = 0;
    while (skipped < n) {
      const c = await this.chunk(n - skipped);
      if (!c) break;
      skipped += c.length;
    }
    return skipped;
  }

  async close(): Promise<void> {
    await this.chunks.return?.();
  }
}

function decimalField(header: Buffer, start: number, length: number, radix: number): number | null {
  const text = header.toString('latin1', start, start + length).trimEnd();
  if (text === '') return 0;
  const re = radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  return re.test(text) ? parseInt(text, radix) : null;
}

/**
 * Iterates the members of an ar archive read from `input`. `file` names the archive in errors.
 * Throws {@link PackageFormatError} on a bad magic, a malformed header or a truncated member.
 */
export async function* readAr(input: Readable, file: string): AsyncGenerator<ArMember> {
  const src = new ByteSource(input);
  try {
    const magic = await src.exact(MAGIC.length);
    if (magic.length < MAGIC.length && MAGIC.startsWith(magic.toString('latin1'))) {
      throw new PackageFormatError(file, `truncated after ${magic.length} bytes; the file is incomplete: download it again`);
    }
    if (magic.toString('latin1') !== MAGIC) {
      throw new PackageFormatError(file, 'not an ar archive (bad magic); a .deb starts with "!<arch>\\n"');
    }
    let unread = 0;
    let padding = 0;
    for (;;) {
      const toSkip = unread + padding;
      if (toSkip > 0 && (await src.skip(toSkip)) < unread) {
        throw new PackageFormatError(file, 'truncated ar member; the file is incomplete: download it again');
      }
      const header = await src.exact(HEADER_SIZE);
      if (header.length === 0) return;
      const at = src.offset - header.length;
      if (header.length < HEADER_SIZE) {
        throw new PackageFormatError(file, `truncated ar header at byte ${at}; the file is incomplete: download it again`);
      }
      if (header[58] !== 0x60 || header[59] !== 0x0a) {
        throw new PackageFormatError(file, `corrupt ar header at byte ${at} (bad terminator)`);
      }
      const size = decimalField(header, 48, 10, 10);
      const mode = decimalField(header, 40, 8, 8);
      const mtime = decimalField(header, 16, 12, 10);
      if (size === null || mode === null || mtime === null) {
        throw new PackageFormatError(file, `corrupt ar header at byte ${at} (non-numeric size, mode or date)`);
      }
      // GNU ar ends short names with "/"; dpkg accepts both spellings.
      let name = header.toString('latin1', 0, 16).trimEnd();
      if (name.endsWith('/') && name !== '/' && name !== '//') name = name.slice(0, -1);

      let remaining = size;
      // A read the body started must settle before the reader skips ahead, or two readers would share the input.
      let inflight: Promise<unknown> = Promise.resolve();
      const body = Readable.from(
        (async function* () {
          while (remaining > 0) {
            const read = src.chunk(Math.min(remaining, 1 << 20));
            inflight = read;
            const c = await read;
            if (!c) {
              throw new PackageFormatError(file, `truncated ar member "${name}": ${remaining} of ${size} bytes missing; download the file again`);
            }
            remaining -= c.length;
            yield c;
          }
        })(),
        { objectMode: false, highWaterMark: 1 << 16 },
      );
      padding = size % 2;
      yield { name, size, mode, mtime, body };
      if (remaining > 0 && !body.destroyed) body.destroy();
      await inflight.catch(() => undefined);
      unread = remaining;
    }
  } finally {
    await src.close();
  }
}
