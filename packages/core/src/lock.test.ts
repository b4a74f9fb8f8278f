import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LockedError, ToolError } from './errors.js';
import { TransactionLock, yieldOstreeLock } from './lock.js';

/** Temp directories of these tests, removed once they are all done. */
const made: string[] = [];
function temp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe('TransactionLock', () => {
  it('excludes a second holder of the same directory, not of another one', async () => {
    const dir = temp('lock-');
    const first = await TransactionLock.acquire(dir);
    await expect(TransactionLock.acquire(dir)).rejects.toThrow(LockedError);
    await expect(TransactionLock.acquire(dir)).rejects.toThrow(new RegExp(`pid ${process.pid}`));
    const other = await TransactionLock.acquire(temp('lock-'));
    await other.release();
    await first.release();
    await (await TransactionLock.acquire(dir)).release();
  });

  it('is free again as soon as its SIGKILLed holder is gone (its helper ends with the pipe)', async () => {
    const dir = temp('lock-');
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
    // The lock helper notices its pipe closed and exits a few milliseconds after the holder; the lock goes with it.
    const deadline = Date.now() + 2000;
    for (;;) {
      try {
        await (await TransactionLock.acquire(dir)).release();
        break;
      } catch (err) {
        if (!(err instanceof LockedError) || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  });
});

/** A holder in another process (optionally wrapped, e.g. in `unshare -n`), running the built module. */
async function holdInAnotherProcess(dir: string, wrapper: string[] = []) {
  const lockModule = new URL('../dist/lock.js', import.meta.url).pathname;
  const script = `import(${JSON.stringify(lockModule)}).then(async ({ TransactionLock }) => {
    await TransactionLock.acquire(${JSON.stringify(dir)});
    console.log('held');
    setInterval(() => {}, 1000);
  });`;
  const [cmd, ...args] = [...wrapper, process.execPath, '--input-type=module', '-e', script];
  const holder = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
    holder.on('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
  return {
    kill: async () => {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.on('exit', resolve));
    },
  };
}

function sysrootDir(): string {
  const dir = temp('lock-sysroot-');
  execFileSync('ostree', ['admin', 'init-fs', dir], { stdio: 'ignore' });
  return dir;
}

describe('TransactionLock on a sysroot', () => {
  it('is the same lock through a bind mount (the inode, not the path)', async () => {
    const dir = sysrootDir();
    const alias = temp('lock-alias-');
    execFileSync('mount', ['--bind', dir, alias]);
    try {
      const first = await TransactionLock.acquire(dir);
      await expect(TransactionLock.acquire(alias)).rejects.toThrow(LockedError);
      await first.release();
      await (await TransactionLock.acquire(alias)).release();
    } finally {
      execFileSync('umount', [alias]);
    }
  });

  it('holds across network namespaces (a holder under unshare -n excludes us)', async () => {
    const dir = sysrootDir();
    const holder = await holdInAnotherProcess(dir, ['unshare', '-n']);
    await expect(TransactionLock.acquire(dir)).rejects.toThrow(/another ostree-layer transaction \(pid \d+\)/);
    await holder.kill();
    await (await TransactionLock.acquire(dir)).release();
  });

  it("takes OSTree's own sysroot lock: ostree admin cleanup waits until it is released or yielded", async () => {
    const dir = sysrootDir();
    const lock = await TransactionLock.acquire(dir);
    const blocked = spawnSync('timeout', ['3', 'ostree', 'admin', 'cleanup', `--sysroot=${dir}`], { encoding: 'utf8' });
    expect(blocked.status).toBe(124);
    expect(blocked.stdout + blocked.stderr).toMatch(/Waiting for sysroot lock/);
    await yieldOstreeLock(dir);
    const free = spawnSync('timeout', ['10', 'ostree', 'admin', 'cleanup', `--sysroot=${dir}`], { encoding: 'utf8' });
    expect(free.status, free.stderr).toBe(0);
    // Our own lock is still held after yielding OSTree's.
    await expect(TransactionLock.acquire(dir)).rejects.toThrow(LockedError);
    await lock.release();
  });

  it('refuses while an ostree admin operation holds the sysroot lock', async () => {
    const dir = sysrootDir();
    const ours = await TransactionLock.acquire(dir);
    await ours.release();
    // A process holding only OSTree's lock, the way ostree admin does (an OFD lock on ostree/lock).
    const holder = spawn('perl', ['-e', 'use Fcntl; sysopen(my $f, $ARGV[0], O_RDWR|O_CREAT) or die; my $l = pack("s s x4 q q i x4", 1, 0, 0, 0, 0); fcntl($f, 37, $l) or die; $|=1; print "held\\n"; <STDIN>;', join(dir, 'ostree/lock')], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.on('data', () => resolve());
      holder.on('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
    });
    await expect(TransactionLock.acquire(dir)).rejects.toThrow(/an ostree admin operation .* holds OSTree's sysroot lock/);
    holder.stdin!.end();
    await new Promise((resolve) => holder.on('exit', resolve));
    await (await TransactionLock.acquire(dir)).release();
  });
});

/** A directory to use as PATH holding only `tools` (linked from the host), so that perl cannot be found. */
function pathWith(tools: string[]): string {
  const bin = temp('lock-path-');
  for (const tool of tools) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
  return bin;
}

/** Runs `take` with PATH set to `path` (the helper is spawned with the environment of the moment). */
async function withPath<T>(path: string, take: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = path;
  try {
    return await take();
  } finally {
    process.env.PATH = saved;
  }
}

describe('TransactionLock without perl', () => {
  it('util-linux flock holds our lock: it and a perl holder exclude each other, through a bind mount too', async () => {
    const dir = sysrootDir();
    const alias = temp('lock-alias-');
    execFileSync('mount', ['--bind', dir, alias]);
    const noPerl = pathWith(['flock', 'sh', 'cat']);
    try {
      const fallback = await withPath(noPerl, () => TransactionLock.acquire(dir));
      // The holder is flock, not perl: OSTree's lock stays free (ostree admin cleanup does not wait).
      const cleanup = spawnSync('timeout', ['10', 'ostree', 'admin', 'cleanup', `--sysroot=${dir}`], { encoding: 'utf8' });
      expect(cleanup.status, cleanup.stderr).toBe(0);
      await expect(TransactionLock.acquire(alias)).rejects.toThrow(new RegExp(`another ostree-layer transaction \\(pid ${process.pid}\\)`));
      await expect(withPath(noPerl, () => TransactionLock.acquire(alias))).rejects.toThrow(LockedError);
      await fallback.release();

      const withPerl = await TransactionLock.acquire(alias);
      await expect(withPath(noPerl, () => TransactionLock.acquire(dir))).rejects.toThrow(LockedError);
      await withPerl.release();
      await (await withPath(noPerl, () => TransactionLock.acquire(dir))).release();
    } finally {
      execFileSync('umount', [alias]);
    }
  });

  it('is free again when its holder is SIGKILLed', async () => {
    const dir = sysrootDir();
    const holder = await holdInAnotherProcess(dir, ['env', `PATH=${pathWith(['flock', 'sh', 'cat'])}`]);
    await expect(TransactionLock.acquire(dir)).rejects.toThrow(LockedError);
    await holder.kill();
    await (await TransactionLock.acquire(dir)).release();
  });

  it('without perl and flock, refuses with a ToolError saying what to install', async () => {
    const dir = sysrootDir();
    const nothing = pathWith([]);
    await expect(withPath(nothing, () => TransactionLock.acquire(dir))).rejects.toThrow(ToolError);
    await expect(withPath(nothing, () => TransactionLock.acquire(dir))).rejects.toThrow(/neither perl nor flock \(util-linux\).*install perl/);
    await (await TransactionLock.acquire(dir)).release();
  });
});
