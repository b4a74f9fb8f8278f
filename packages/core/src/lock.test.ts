import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LockedError } from './errors.js';
import { TransactionLock } from './lock.js';

describe('TransactionLock', () => {
  it('excludes a second holder of the same directory, not of another one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lock-'));
    const first = await TransactionLock.acquire(dir);
    await expect(TransactionLock.acquire(dir)).rejects.toThrow(LockedError);
    await expect(TransactionLock.acquire(dir)).rejects.toThrow(new RegExp(`pid ${process.pid}`));
    const other = await TransactionLock.acquire(mkdtempSync(join(tmpdir(), 'lock-')));
    await other.release();
    await first.release();
    await (await TransactionLock.acquire(dir)).release();
  });

  it('is free again the moment its holder is SIGKILLed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lock-'));
    // The holder is another process running the built module (Node 20 cannot run .ts itself).
    const lockModule = new URL('../dist/lock.js', import.meta.url).pathname;
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      import(${JSON.stringify(lockModule)}).then(async ({ TransactionLock }) => {
        await TransactionLock.acquire(${JSON.stringify(dir)});
        console.log('held');
        setInterval(() => {}, 1000);
      });`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && resolve()));
    await expect(TransactionLock.acquire(dir)).rejects.toThrow(LockedError);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.on('exit', resolve));
    await (await TransactionLock.acquire(dir)).release();
  });
});
