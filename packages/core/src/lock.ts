/**
 * One transaction per sysroot (or repo). The lock is a file created with O_EXCL holding the owner's pid; a lock whose
 * owner is dead (SIGKILL) is taken over, so a killed run never blocks the next one.
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { LockedError } from './errors.js';

export class TransactionLock {
  private constructor(readonly path: string) {}

  static async acquire(path: string): Promise<TransactionLock> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(path, 'wx', 0o644);
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        return new TransactionLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
        if (pid > 0 && pid !== process.pid && isAlive(pid)) {
          throw new LockedError(`another ostree-layer transaction (pid ${pid}) is running on this system (lock ${path}); wait for it to finish`);
        }
        await unlink(path).catch(() => undefined);
      }
    }
    throw new LockedError(`could not take the lock ${path}; remove it if no ostree-layer is running`);
  }

  async release(): Promise<void> {
    await unlink(this.path).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
