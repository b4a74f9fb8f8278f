/**
 * Streaming reader for rpm payloads: SVR4 "newc" cpio (magic 070701/070702) and rpm's stripped variant "07070X",
 * which rpm writes for packages with files of 4 GiB or more (RPMTAG_LONGFILESIZES): those entries carry only a file
 * index into the header, and the header supplies name, mode and size.
 */
import { Readable } from 'node:stream';
import { PackageFormatError } from '@ostree-layer/core';

/** One cpio member as the archive states it. `index` is set for stripped entries, `name` for newc ones. */
export interface CpioEntry {
  name?: string;
  index?: number;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  size: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
}

export interface CpioItem {
  entry: CpioEntry;
  /** Exactly `entry.size` bytes (stripped entries: the size the header gives). Consumed or skipped before the next. */
  body: Readable;
}

const NEWC_HEADER = 110;
const MAX_NAME = 4096;

/** Pulls exact byte counts out of an async stream of chunks without buffering more than one chunk. */
export class ChunkReader {
  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;
  private done = false;
  private readonly it: AsyncIterator<Buffer>;
  /** Bytes consumed so far (for 4-byte cpio alignment). */
  offset = 0;

  constructor(source: AsyncIterable<Buffer | string>, private readonly file: string) {
    this.it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.chunk.length) {
      if (this.done) return false;
      const next = await this.it.next();
      if (next.done) {
        this.done = true;
        return false;
      }
      this.chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
      this.pos = 0;
    }
    return true;
  }

  /** Up to `max` bytes (at least one), or null at the end of the stream. */
  async some(max: number): Promise<Buffer | null> {
    if (!(await this.fill())) return null;
    const n = Math.min(max, this.chunk.length - this.pos);
    const out = this.chunk.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.offset += n;
    return out;
  }

  async exact(n: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const part = await this.some(n - got);
      if (!part) throw new PackageFormatError(this.file, `payload is truncated inside ${what}; download the package again`);
      parts.push(part);
      got += part.length;
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  async skip(n: number, what: string): Promise<void> {
    let left = n;
    while (left > 0) {
      const part = await this.some(left);
      if (!part) throw new PackageFormatError(this.file, `payload is truncated inside ${what}; download the package again`);
      left -= part.length;
    }
  }

  async align4(what: string): Promise<void> {
    const pad = (4 - (this.offset % 4)) % 4;
    if (pad) await this.skip(pad, what);
  }

  /**
   * A stream of the next `n` bytes. After the consumer is done (or gave up), `finish()` waits for a pending pull and
   * skips what was left unread, so the next header lines up.
   */
  body(n: number, what: string): { stream: Readable; finish: () => Promise<void> } {
    let left = n;
    let inflight: Promise<void> | null = null;
    const stream = new Readable({
      highWaterMark: 1 << 20,
      read: () => {
        if (inflight) return;
        if (left === 0) {
          stream.push(null);
          return;
        }
        inflight = (async () => {
          const part = await this.some(Math.min(left, 1 << 20));
          if (!part) {
            inflight = null;
            stream.destroy(new PackageFormatError(this.file, `payload is truncated inside ${what}; download the package again`));
            return;
          }
          left -= part.length;
          // Cleared before push: push may re-enter read() synchronously and must start the next pull.
          inflight = null;
          stream.push(part);
        })().catch((err: unknown) => {
          inflight = null;
          stream.destroy(err as Error);
        });
      },
    });
    const finish = async () => {
      while (inflight) await inflight;
      if (!stream.destroyed) stream.destroy();
      await this.skip(left, what);
      left = 0;
    };
    return { stream, finish };
  }
}

function hex(buf: Buffer, field: number, file: string): number {
  const text = buf.toString('latin1', 6 + field * 8, 14 + field * 8);
  if (!/^[0-9a-fA-F]{8}$/.test(text)) throw new PackageFormatError(file, `cpio header field ${field} is not hexadecimal: ${JSON.stringify(text)}`);
  return parseInt(text, 16);
}

/**
 * Yields every member up to the "TRAILER!!!" entry. `strippedSize(index)` gives the body size of a stripped
 * ("07070X") entry from the header; the reader refuses stripped entries when it is absent.
 */
export async function* readCpio(
  source: AsyncIterable<Buffer | string>,
  file: string,
  strippedSize?: (index: number) => number,
): AsyncGenerator<CpioItem> {
  const reader = new ChunkReader(source, file);
  for (;;) {
    const magic = await reader.exact(6, 'a cpio header');
    const text = magic.toString('latin1');
    let entry: CpioEntry;
    if (text === '07070X') {
      if (!strippedSize) throw new PackageFormatError(file, 'payload has a stripped cpio entry (07070X) but the header has no file list');
      const idx = await reader.exact(8, 'a stripped cpio header');
      const index = parseInt(idx.toString('latin1'), 16);
      if (!/^[0-9a-fA-F]{8}$/.test(idx.toString('latin1'))) throw new PackageFormatError(file, 'stripped cpio entry has a bad file index');
      const size = strippedSize(index);
      entry = { index, ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, size, devMajor: 0, devMinor: 0, rdevMajor: 0, rdevMinor: 0 };
      await reader.align4('a stripped cpio header');
    } else if (text === '070701' || text === '070702') {
      const rest = await reader.exact(NEWC_HEADER - 6, 'a cpio header');
      const head = Buffer.concat([magic, rest]);
      const f = (n: number) => hex(head, n, file);
      const nameSize = f(11);
      if (nameSize === 0 || nameSize > MAX_NAME) throw new PackageFormatError(file, `cpio entry name length ${nameSize} is impossible; the payload is corrupt or hostile`);
      const nameBuf = await reader.exact(nameSize, 'a cpio file name');
      if (nameBuf[nameSize - 1] !== 0) throw new PackageFormatError(file, 'cpio entry name is not NUL-terminated; the payload is corrupt');
      const name = nameBuf.toString('utf8', 0, nameSize - 1);
      await reader.align4('a cpio file name');
      entry = {
        name, ino: f(0), mode: f(1), uid: f(2), gid: f(3), nlink: f(4), mtime: f(5), size: f(6),
        devMajor: f(7), devMinor: f(8), rdevMajor: f(9), rdevMinor: f(10),
      };
      if (name === 'TRAILER!!!') return;
    } else {
      throw new PackageFormatError(file, `payload is not a cpio archive rpm can write (magic ${JSON.stringify(text)})`);
    }
    const what = `the body of ${entry.name ?? `file #${entry.index}`}`;
    const body = reader.body(entry.size, what);
    yield { entry, body: body.stream };
    await body.finish();
    await reader.align4(what);
  }
}
