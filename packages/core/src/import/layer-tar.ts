/**
 * Builds the tar stream `ostree commit --tree=tar=-` reads (on stdin) for one layer. Every ancestor directory is written
 * explicitly (ostree refuses a member whose parent is missing), carrying the base's metadata when the base has that
 * directory, so a layer never changes the mode or owner of an existing directory.
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { ancestors } from '../paths.js';

export interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
}

export const DEFAULT_DIR: DirMeta = { mode: 0o755, uid: 0, gid: 0 };

export class LayerTar {
  private readonly pack: tar.Pack = tar.pack();
  /** The tar bytes as a Node stream (tar-stream's own streams are streamx, which execa does not take as input). */
  readonly stream: Readable = Readable.from(this.pack);
  private readonly written = new Set<string>();

  /** `dirMeta` says what an implicit ancestor directory looks like (the base's metadata, or the default). */
  constructor(private readonly dirMeta: (path: string) => Promise<DirMeta>) {}

  private async header(header: Partial<tar.Header> & { name: string }, body?: Readable | Buffer | string): Promise<void> {
    if (body instanceof Readable) {
      await pipeline(body, this.pack.entry(header as tar.Header));
      return;
    }
    await new Promise<void>((resolve, reject) => {
      this.pack.entry(header as tar.Header, body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }

  private async ensureParents(path: string): Promise<void> {
    for (const dir of ['/', ...ancestors(path)]) {
      if (this.written.has(dir)) continue;
      this.written.add(dir);
      const meta = await this.dirMeta(dir);
      await this.header({ name: tarName(dir), type: 'directory', mode: meta.mode, uid: meta.uid, gid: meta.gid, mtime: new Date(0) });
    }
  }

  async directory(path: string, meta: DirMeta): Promise<void> {
    await this.ensureParents(path);
    if (this.written.has(path)) return;
    this.written.add(path);
    await this.header({ name: tarName(path), type: 'directory', mode: meta.mode, uid: meta.uid, gid: meta.gid, mtime: new Date(0) });
  }

  async file(path: string, meta: DirMeta, size: number, body: Readable | Buffer | string): Promise<void> {
    await this.ensureParents(path);
    this.written.add(path);
    await this.header({ name: tarName(path), type: 'file', size, mode: meta.mode, uid: meta.uid, gid: meta.gid, mtime: new Date(0) }, body);
  }

  async symlink(path: string, meta: DirMeta, target: string): Promise<void> {
    await this.ensureParents(path);
    this.written.add(path);
    await this.header({ name: tarName(path), type: 'symlink', linkname: target, mode: 0o777, uid: meta.uid, gid: meta.gid, mtime: new Date(0) });
  }

  async hardlink(path: string, meta: DirMeta, target: string): Promise<void> {
    await this.ensureParents(path);
    this.written.add(path);
    await this.header({ name: tarName(path), type: 'link', linkname: tarName(target), mode: meta.mode, uid: meta.uid, gid: meta.gid, mtime: new Date(0) });
  }

  finalize(): void {
    this.pack.finalize();
  }

  /** Stops the stream after a failure, so the reader (ostree) sees an error rather than a complete tar. */
  destroy(err: Error): void {
    this.pack.destroy(err);
    this.stream.destroy(err);
  }
}

function tarName(path: string): string {
  return path === '/' ? './' : '.' + path;
}
