/**
 * Builds the tar stream `ostree commit --tree=tar=-` reads (on stdin) for one layer. Every ancestor directory is written
 * explicitly (ostree refuses a member whose parent is missing), carrying the base's metadata when the base has that
 * directory, so a layer never changes the mode or owner of an existing directory.
 *
 * The encoder is our own (ustar, with pax records for what ustar cannot hold): headers and small bodies are gathered
 * into large writes and body chunks are passed on as they come, with no stream or promise per entry, which is what
 * kept a many-file package from keeping up with `ostree commit` (a pipeline per file cost more than the data).
 */
import { Readable } from 'node:stream';
import { ancestors } from '../paths.js';

export interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
}

export const DEFAULT_DIR: DirMeta = { mode: 0o755, uid: 0, gid: 0 };

/** Where a layer's entries go: a tar stream for `ostree commit`, or a bare repo's objects (object-writer.ts). */
export interface LayerSink {
  directory(path: string, meta: DirMeta): Promise<void>;
  file(path: string, meta: DirMeta, size: number, body: Readable | Buffer | string): Promise<void>;
  beginFile(path: string, meta: DirMeta, size: number): Promise<void>;
  /** A promise when the consumer is behind and the caller should wait. */
  write(chunk: Buffer): Promise<void> | undefined;
  endFile(): Promise<void>;
  symlink(path: string, meta: DirMeta, target: string): Promise<void>;
  hardlink(path: string, meta: DirMeta, target: string): Promise<void>;
}

/** Headers and small bodies are gathered up to this size and go out as one chunk. */
const GATHER = 256 << 10;
const SMALL_CHUNK = 4 << 10;
const BLOCK = 512;
const ZERO_BLOCKS = Buffer.alloc(BLOCK * 2);

type TarType = 'file' | 'hardlink' | 'symlink' | 'directory';
const TYPE_FLAG: Record<TarType, string> = { file: '0', hardlink: '1', symlink: '2', directory: '5' };

export class LayerTar implements LayerSink {
  /** The tar bytes, fed to the stdin of `ostree commit --tree=tar=-`. */
  readonly stream: Readable;
  private readonly written = new Set<string>();
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;
  /** Set while the reader has enough: resolves when it asks for more, rejects when the stream is gone. */
  private demand?: { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void };
  /** The regular file being written: bytes still expected. */
  private bodyLeft = 0;
  private bodyPad = 0;

  /** `dirMeta` says what an implicit ancestor directory looks like (the base's metadata, or the default). */
  constructor(private readonly dirMeta: (path: string) => Promise<DirMeta>) {
    this.stream = new Readable({
      highWaterMark: 1 << 20,
      read: () => this.demand?.resolve(),
    });
    this.stream.on('close', () => this.demand?.reject(new Error('the layer stream was closed before the layer was complete')));
  }

  private async ensureParents(path: string): Promise<void> {
    for (const dir of ['/', ...ancestors(path)]) {
      if (this.written.has(dir)) continue;
      this.written.add(dir);
      this.header(dir, 'directory', await this.dirMeta(dir), 0);
    }
  }

  async directory(path: string, meta: DirMeta): Promise<void> {
    await this.ensureParents(path);
    if (this.written.has(path)) return;
    this.written.add(path);
    this.header(path, 'directory', meta, 0);
  }

  /** A whole regular file, its content given at once or as a stream. */
  async file(path: string, meta: DirMeta, size: number, body: Readable | Buffer | string): Promise<void> {
    await this.beginFile(path, meta, size);
    if (body instanceof Readable) {
      for await (const chunk of body) await this.write(chunk as Buffer);
    } else {
      await this.write(typeof body === 'string' ? Buffer.from(body) : body);
    }
    await this.endFile();
  }

  /** Starts a regular file of `size` bytes; its content follows through {@link write}, then {@link endFile}. */
  async beginFile(path: string, meta: DirMeta, size: number): Promise<void> {
    await this.ensureParents(path);
    this.written.add(path);
    this.header(path, 'file', meta, size);
    this.bodyLeft = size;
    this.bodyPad = (BLOCK - (size % BLOCK)) % BLOCK;
  }

  /** Content of the file begun last. Resolves at once unless the reader (ostree) is behind. */
  write(chunk: Buffer): Promise<void> | undefined {
    if (chunk.length > this.bodyLeft) throw new Error(`layer tar: ${chunk.length} bytes written where ${this.bodyLeft} were left`);
    this.bodyLeft -= chunk.length;
    // Content is passed on as it came: a copy is a new external allocation, and those are what make V8 collect garbage
    // here. Headers, padding and tiny files are gathered.
    if (chunk.length < SMALL_CHUNK) this.gather(chunk);
    else {
      this.flush();
      this.stream.push(chunk);
    }
    return this.backpressure();
  }

  async endFile(): Promise<void> {
    if (this.bodyLeft !== 0) throw new Error(`layer tar: file ended ${this.bodyLeft} bytes short`);
    if (this.bodyPad) this.gather(ZERO_BLOCKS.subarray(0, this.bodyPad));
    this.bodyPad = 0;
    await this.backpressure();
  }

  async symlink(path: string, meta: DirMeta, target: string): Promise<void> {
    await this.ensureParents(path);
    this.written.add(path);
    this.header(path, 'symlink', { mode: 0o777, uid: meta.uid, gid: meta.gid }, 0, target);
  }

  async hardlink(path: string, meta: DirMeta, target: string): Promise<void> {
    await this.ensureParents(path);
    this.written.add(path);
    this.header(path, 'hardlink', meta, 0, tarName(target));
  }

  finalize(): void {
    this.gather(ZERO_BLOCKS);
    this.flush();
    this.stream.push(null);
  }

  /** Stops the stream after a failure, so the reader (ostree) sees an error rather than a complete tar. */
  destroy(err: Error): void {
    this.stream.destroy(err);
  }

  private header(path: string, type: TarType, meta: DirMeta, size: number, linkname = ''): void {
    const name = tarName(path);
    const pax: Array<[string, string]> = [];
    if (Buffer.byteLength(name) > 100) pax.push(['path', name]);
    if (Buffer.byteLength(linkname) > 100) pax.push(['linkpath', linkname]);
    if (size > OCTAL_11) pax.push(['size', String(size)]);
    if (meta.uid > OCTAL_7) pax.push(['uid', String(meta.uid)]);
    if (meta.gid > OCTAL_7) pax.push(['gid', String(meta.gid)]);
    if (pax.length > 0) {
      const records = Buffer.from(pax.map(([k, v]) => paxRecord(k, v)).join(''));
      this.gather(ustarHeader('././@PaxHeader', 'x', DEFAULT_DIR.mode, 0, 0, records.length, ''));
      this.gather(records);
      const pad = (BLOCK - (records.length % BLOCK)) % BLOCK;
      if (pad) this.gather(ZERO_BLOCKS.subarray(0, pad));
    }
    this.gather(ustarHeader(name, TYPE_FLAG[type], meta.mode, meta.uid, meta.gid, size, linkname));
  }

  private gather(bytes: Buffer): void {
    this.gathered.push(bytes);
    this.gatheredBytes += bytes.length;
    if (this.gatheredBytes >= GATHER) this.flush();
  }

  private flush(): void {
    if (this.gatheredBytes === 0) return;
    const out = this.gathered.length === 1 ? this.gathered[0]! : Buffer.concat(this.gathered, this.gatheredBytes);
    this.gathered = [];
    this.gatheredBytes = 0;
    this.stream.push(out);
  }

  /** Waits while the reader is more than the stream's high-water mark behind. */
  private backpressure(): Promise<void> | undefined {
    if (this.stream.destroyed) return Promise.reject(new Error('the layer stream was closed before the layer was complete'));
    if (this.stream.readableLength < this.stream.readableHighWaterMark) return undefined;
    if (!this.demand) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.demand = { promise, resolve, reject };
      promise.then(() => (this.demand = undefined), () => undefined);
    }
    return this.demand.promise;
  }
}

const OCTAL_7 = 0o7777777;
const OCTAL_11 = 0o77777777777;

function tarName(path: string): string {
  return path === '/' ? './' : '.' + path;
}

/** One pax record: "<length> <key>=<value>\n", the length counting itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(body);
  let length = bytes + String(bytes).length;
  if (String(length).length !== String(bytes).length) length = bytes + String(length).length;
  return `${length}${body}`;
}

function ustarHeader(name: string, typeFlag: string, mode: number, uid: number, gid: number, size: number, linkname: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  // Over-long values are carried by a pax record before this header; the fields get what fits.
  h.write(name, 0, 100, 'utf8');
  octal(h, 100, 8, mode & 0o7777);
  octal(h, 108, 8, Math.min(uid, OCTAL_7));
  octal(h, 116, 8, Math.min(gid, OCTAL_7));
  octal(h, 124, 12, Math.min(size, OCTAL_11));
  octal(h, 136, 12, 0);
  h.write(typeFlag, 156, 1, 'latin1');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 8, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'latin1');
  return h;
}

function octal(h: Buffer, offset: number, length: number, value: number): void {
  h.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, length, 'latin1');
}
