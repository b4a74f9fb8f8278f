/**
 * A bootable OSTree disk: a raw ext4 image (no partition table, the kernel mounts /dev/vda as the sysroot) holding a
 * sysroot with one deployment of a bootable base. Between boots it is loop-mounted, so a test runs the real CLI on
 * `disk.sysroot` with `--sysroot`/`--os`; `boot()` unmounts it, boots the default deployment under qemu, mounts it
 * again and returns what the booted system reported.
 */
import { copyFile, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SystemStateError, UsageError } from '@ostree-layer/core';
import { resolveCacheDir, type BaseImage, type CacheOptions } from '../cache.js';
import { removeTree } from '../cleanup.js';
import { isRoot, run } from '../run.js';
import { defaultDeployment, initSysroot, listDeployments, readLoaderEntries, type InitializedSysroot, type LoaderEntry } from '../sysroot.js';
import { runQemu } from './qemu.js';
import { installReport, parseReport, REPORT_END, type BootFacts } from './report.js';

/** What `ostree admin deploy` gets first; later deploys inherit them from the deployment they start from. */
export const BOOT_KERNEL_ARGS = ['root=/dev/vda', 'console=ttyS0', 'rw'];
/**
 * Added for the test boot only, never to the deployment: a getty on the serial port would hang up the report's
 * handle, and checking the freshly made file system costs up to a minute under TCG on a loaded machine.
 */
const TEST_BOOT_ARGS = 'systemd.mask=serial-getty@ttyS0.service fsck.mode=skip';

export interface BootDiskOptions extends CacheOptions {
  /** A bootable base (what ensureBootableDebian returns). */
  base: BaseImage;
  osName?: string;
  /** Size of the sparse image; the base takes about 1 GiB and every deployment shares its files. */
  sizeGiB?: number;
}

export interface BootOptions<K extends string> {
  /** Shell command lines the booted system runs as root once boot has finished; their results come back by name. */
  commands: Record<K, string>;
  /** Names the serial log file (default "boot"). */
  label?: string;
  /** The VM is killed after this long (default 15 minutes: TCG on a loaded two-core machine is slow). */
  timeoutMs?: number;
  /** How long the guest waits for systemd to finish booting before reporting anyway (default 600 s). */
  settleSeconds?: number;
}

export interface BootReport<K extends string> extends BootFacts<K> {
  /** The boot entry that was booted. */
  entry: LoaderEntry;
  /** The whole serial console output; kept after the disk is gone. */
  serialLog: string;
  /** qemu start to power-off. */
  bootMs: number;
  /** One line for assertion messages: the state, failed units and where the serial log is. */
  summary: string;
}

export interface BootDisk extends InitializedSysroot {
  /** The raw ext4 image file. */
  readonly image: string;
  /** The default deployment's checkout (on the mounted image). */
  deploymentDir(): string;
  /** Every deployment's checkout in boot order. */
  deployments(): string[];
  /** Boots the default deployment and returns what it reported; the disk is mounted again afterwards. */
  boot<K extends string>(options: BootOptions<K>): Promise<BootReport<K>>;
  /** Unmounts, detaches the loop device and deletes the image. */
  dispose(): Promise<void>;
}

/** Makes the image, mounts it and deploys `base` with {@link BOOT_KERNEL_ARGS}. Needs root (losetup, mount). */
export async function makeBootDisk(options: BootDiskOptions): Promise<BootDisk> {
  if (!isRoot()) throw new UsageError('makeBootDisk needs root: losetup, mount and ostree admin deploy');
  const work = await mkdtemp(join(tmpdir(), 'ostree-layer-boot-'));
  const image = join(work, 'disk.img');
  const mountPoint = join(work, 'sysroot');
  const logsDir = join(resolveCacheDir(options), 'boot-logs');
  const mount = new LoopMount(image, mountPoint);
  try {
    await run('truncate', ['-s', `${options.sizeGiB ?? 4}G`, image]);
    // Inode tables and journal zeroed now, on the host, instead of by ext4lazyinit inside the slow guest.
    await run('mkfs.ext4', ['-q', '-F', '-L', 'sysroot', '-E', 'lazy_itable_init=0,lazy_journal_init=0', image]);
    await mkdir(mountPoint);
    await mount.attach();
    const made = await initSysroot(mountPoint, { base: options.base, osName: options.osName, kernelArgs: BOOT_KERNEL_ARGS });
    return {
      ...made,
      image,
      deploymentDir: () => defaultDeployment(mountPoint),
      deployments: () => listDeployments(mountPoint),
      boot: (bootOptions) => bootDisk(mount, logsDir, bootOptions),
      dispose: async () => {
        await mount.detach().catch(() => undefined);
        // removeTree unmounts (lazily) whatever a failed detach left, so rm never descends into the image.
        await removeTree(work);
      },
    };
  } catch (err) {
    await mount.detach().catch(() => undefined);
    await removeTree(work);
    throw err;
  }
}

async function bootDisk<K extends string>(mount: LoopMount, logsDir: string, options: BootOptions<K>): Promise<BootReport<K>> {
  const sysroot = mount.mountPoint;
  const entry = readLoaderEntries(sysroot)[0];
  if (!entry) throw new SystemStateError(`${sysroot} has no boot entry (boot/loader/entries/*.conf): nothing to boot`);
  const settleSeconds = options.settleSeconds ?? 600;
  const timeoutMs = options.timeoutMs ?? 15 * 60_000;
  // Every deployment gets the report: whichever one boots answers, and no commit is touched (each /etc is a copy).
  for (const deployment of listDeployments(sysroot)) {
    await installReport(deployment, { commands: options.commands, settleSeconds, commandSeconds: 120 });
  }
  const kernel = join(dirname(mount.image), 'vmlinuz');
  const initrd = join(dirname(mount.image), 'initramfs.img');
  await copyFile(join(sysroot, 'boot', entry.linux), kernel);
  await copyFile(join(sysroot, 'boot', entry.initrd), initrd);
  await mkdir(logsDir, { recursive: true });
  await pruneLogs(logsDir, 30);
  const serialLog = join(logsDir, `${options.label ?? 'boot'}-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.log`);

  // The guest writes the file system: the host must not have it mounted meanwhile.
  await mount.detach();
  let outcome;
  try {
    outcome = await runQemu({
      disk: mount.image,
      kernel,
      initrd,
      append: `${entry.options} ${TEST_BOOT_ARGS}`,
      serialLog,
      timeoutMs,
      doneMarker: REPORT_END,
    });
  } finally {
    await rm(kernel, { force: true });
    await rm(initrd, { force: true });
    await mount.attach();
  }
  const names = Object.keys(options.commands) as K[];
  const facts = parseReport(outcome.serial, names);
  if (!facts) {
    const why = outcome.timedOut
      ? `did not report within ${Math.round(timeoutMs / 1000)} s and was killed`
      : `stopped (qemu exit ${outcome.exitCode}) without a complete report`;
    const tail = outcome.serial.split('\n').slice(-40).join('\n');
    throw new SystemStateError(`the VM booting ${entry.ostreePath} ${why}; serial log: ${serialLog}\nlast lines:\n${tail}`);
  }
  const failed = facts.failedUnits.length ? facts.failedUnits.join(', ') : 'none';
  return {
    ...facts,
    entry,
    serialLog,
    bootMs: outcome.elapsedMs,
    summary: `booted ${facts.booted ? `${facts.booted.commit}.${facts.booted.serial}` : '(no booted deployment)'}, ` +
      `system ${facts.systemState}, failed units: ${failed}; serial log: ${serialLog}`,
  };
}

/** Keeps the newest `keep` serial logs: each boot adds one, and they are only read after a failure. */
async function pruneLogs(dir: string, keep: number): Promise<void> {
  const logs = await Promise.all(
    (await readdir(dir)).filter((n) => n.endsWith('.log')).map(async (n) => ({ path: join(dir, n), mtime: (await stat(join(dir, n))).mtimeMs })),
  );
  logs.sort((a, b) => b.mtime - a.mtime);
  for (const old of logs.slice(keep)) await rm(old.path, { force: true });
}

/** The image attached to a loop device and mounted; attach and detach pair up, detach is safe to repeat. */
class LoopMount {
  private device: string | null = null;
  constructor(
    readonly image: string,
    readonly mountPoint: string,
  ) {}

  async attach(): Promise<void> {
    if (this.device) return;
    const device = (await run('losetup', ['--find', '--show', this.image])).trim();
    try {
      await run('mount', [device, this.mountPoint]);
    } catch (err) {
      await run('losetup', ['--detach', device]);
      throw err;
    }
    this.device = device;
  }

  async detach(): Promise<void> {
    if (!this.device) return;
    const device = this.device;
    try {
      await run('umount', [this.mountPoint]);
    } finally {
      // Also after a failed umount: detaching a busy device only marks it to go once the last user lets go.
      await run('losetup', ['--detach', device]);
      this.device = null;
    }
  }
}
