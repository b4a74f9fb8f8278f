/**
 * Boots a raw disk image under qemu with TCG (the nested /dev/kvm on the test machines hangs a stock Debian kernel)
 * and collects the serial console into a log file while it runs.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { ToolError } from '@ostree-layer/core';

export interface QemuBoot {
  disk: string;
  kernel: string;
  /** Without one the kernel mounts `root=` itself. */
  initrd?: string;
  /** The kernel command line. */
  append: string;
  /** Every byte of the serial console goes here as it arrives. */
  serialLog: string;
  /** The VM is killed after this long, report or not. */
  timeoutMs: number;
  /** Seen on the console: the guest has said what it had to; it gets `shutdownGraceMs` to power off, then is killed. */
  doneMarker: string;
  shutdownGraceMs?: number;
  memoryMiB?: number;
  cpus?: number;
}

export interface QemuOutcome {
  serial: string;
  /** qemu's exit code, or null when it was killed. */
  exitCode: number | null;
  timedOut: boolean;
  /** The guest printed `doneMarker`. */
  done: boolean;
  elapsedMs: number;
}

export function qemuArgs(boot: QemuBoot): string[] {
  return [
    '-accel', 'tcg',
    '-cpu', 'max',
    '-m', String(boot.memoryMiB ?? 1024),
    '-smp', String(boot.cpus ?? 2),
    // The guest needs its disk and a serial console only: no VGA, floppy, CD-ROM or network card to probe under TCG.
    '-nodefaults',
    '-nographic',
    '-serial', 'stdio',
    '-no-reboot',
    '-drive', `file=${boot.disk},format=raw,if=virtio`,
    '-kernel', boot.kernel,
    ...(boot.initrd ? ['-initrd', boot.initrd] : []),
    '-append', boot.append,
  ];
}

/** Runs the VM to power-off (or the timeout) and returns what it printed. Never leaves qemu running. */
export async function runQemu(boot: QemuBoot): Promise<QemuOutcome> {
  const started = performance.now();
  const seconds = Math.ceil(boot.timeoutMs / 1000);
  // coreutils timeout is the backstop should this process die first (a killed test worker): qemu still ends.
  const child = spawn('timeout', ['--signal=KILL', String(seconds + 30), 'qemu-system-x86_64', ...qemuArgs(boot)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(boot.serialLog);
  let serial = '';
  let stderr = '';
  let done = false;
  let timedOut = false;
  let graceTimer: NodeJS.Timeout | undefined;
  // timeout(1) makes itself a process group leader, so the group id is its pid: this ends timeout and qemu together.
  const kill = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const hardTimer = setTimeout(() => {
    timedOut = true;
    kill();
  }, boot.timeoutMs);
  child.stdout.on('data', (chunk: Buffer) => {
    log.write(chunk);
    serial += chunk.toString('utf8');
    if (!done && serial.includes(boot.doneMarker)) {
      done = true;
      graceTimer = setTimeout(kill, boot.shutdownGraceMs ?? 60_000);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  }).finally(() => {
    clearTimeout(hardTimer);
    clearTimeout(graceTimer);
  });
  await new Promise<void>((resolve) => log.end(resolve));
  if (!done && !timedOut && exitCode !== 0) {
    throw new ToolError(
      `qemu-system-x86_64 exited with status ${exitCode} before the guest reported${stderr ? `:\n${stderr.trim()}` : ''}\n` +
        `serial log: ${boot.serialLog}; is qemu-system-x86 installed (scripts/setup)?`,
    );
  }
  return { serial, exitCode, timedOut, done, elapsedMs: performance.now() - started };
}
