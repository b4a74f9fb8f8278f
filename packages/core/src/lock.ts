/**
 * One transaction per sysroot (or repo). The lock is a Unix socket in Linux's abstract namespace, named after the
 * sysroot's real path: the kernel drops it the moment its process dies, SIGKILL included, so there is no lock file to
 * go stale or be left behind. A second transaction that finds it taken asks the holder for its pid, for the message.
 */
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { LockedError } from './errors.js';

export class TransactionLock {
  private constructor(private readonly server: Server) {}

  /** Takes the lock for `target` (a sysroot or repo directory) or throws {@link LockedError}. */
  static async acquire(target: string): Promise<TransactionLock> {
    const name = socketName(target);
    const server = createServer((socket) => socket.end(`${process.pid}\n`));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ path: name, exclusive: true }, () => resolve());
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      const pid = await holderPid(name);
      throw new LockedError(
        `another ostree-layer transaction${pid ? ` (pid ${pid})` : ''} is running on ${target}; wait for it to finish`,
      );
    }
    server.unref();
    return new TransactionLock(server);
  }

  async release(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function socketName(target: string): string {
  let real = target;
  try {
    real = realpathSync(target);
  } catch {
    // A path that does not exist yet still names a lock of its own.
  }
  return `\0ostree-layer-lock-${createHash('sha256').update(real).digest('hex').slice(0, 32)}`;
}

async function holderPid(name: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ path: name });
    let data = '';
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('close', () => resolve(Number(data.trim()) || undefined));
    socket.on('error', () => resolve(undefined));
  });
}
