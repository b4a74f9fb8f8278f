/**
 * One transaction per sysroot (or repo), and no `ostree admin` operation meanwhile. Both are Linux open-file-description
 * locks (fcntl F_OFD_SETLK) on files inside the target:
 * - `<sysroot>/ostree/ostree-layer.lock` (`<repo>/ostree-layer.lock` for --commit-only) excludes other ostree-layer
 *   transactions. A lock on a file follows the file's inode, so the same sysroot reached through a bind mount, another
 *   path or another network namespace is the same lock; the kernel drops it when its holder dies, SIGKILL included.
 * - `<sysroot>/ostree/lock` is OSTree's own sysroot lock (what `ostree admin deploy/upgrade/cleanup` take, also as OFD
 *   locks): while we import and compose, no `ostree admin cleanup` can prune our objects. It is handed back just
 *   before we run `ostree admin deploy`, which takes it itself ({@link yieldOstreeLock}).
 *
 * Node cannot call fcntl, so a small helper process (perl, Essential on Debian) holds the locks and exits when our
 * end of its stdin closes: on release, or when we die. Without perl (rpm-based hosts may lack it), util-linux `flock`
 * holds our own lock alone, with flock(2): equally inode-based, but OSTree's lock is then not taken, so an
 * `ostree admin cleanup` run meanwhile is not held off. flock(2) and fcntl locks ignore each other, so the perl helper
 * takes a flock(2) on our lock file as well: a transaction with perl and one without still exclude each other.
 * Without either tool, taking the lock fails with a {@link ToolError} saying what to install.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LockedError, SystemStateError, ToolError } from './errors.js';

/**
 * Takes the locks named on the command line in order (non-blocking), reports, then holds them until stdin ends. It
 * loads no module (Fcntl and Errno took longer than the rest of perl's start-up): `+>>` opens read-write and creates,
 * and the constants are Linux's numbers on the architectures Debian releases for (F_OFD_SETLK 37, F_WRLCK 1,
 * LOCK_EX|LOCK_NB 6; EAGAIN 11, which is EWOULDBLOCK, and EACCES 13).
 */
const HELPER = String.raw`
use strict;
$SIG{INT} = 'IGNORE';
my @fh;
for my $i (0 .. $#ARGV) {
  open(my $fh, '+>>', $ARGV[$i]) or do { print "error $i $!\n"; exit 2 };
  # struct flock { short l_type = F_WRLCK; short l_whence = SEEK_SET; off_t l_start, l_len = 0 (whole file); pid_t }
  my $lock = pack('s s x4 q q i x4', 1, 0, 0, 0, 0);
  fcntl($fh, 37, $lock) or do { print(($! == 11 || $! == 13 ? "busy $i" : "error $i $!") . "\n"); exit 1 };
  # Our own lock (the first) also as flock(2), which a holder without perl takes (flock and fcntl locks ignore each other).
  $i == 0 and (flock($fh, 6) or do { print(($! == 11 ? "busy $i" : "error $i $!") . "\n"); exit 1 });
  push @fh, $fh;
}
$| = 1;
print "locked\n";
while (my $line = <STDIN>) {
  if ($line =~ /^release (\d+)$/) { close($fh[$1]); print "released $1\n"; }
}
`;

const OWN_LOCK = 'ostree-layer.lock';
/** Held locks by the directory they were taken for, so the deploy step can hand OSTree's lock back. */
const held = new Map<string, TransactionLock>();

export class TransactionLock {
  private released = false;

  private constructor(
    private readonly target: string,
    private readonly helper: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    /** Index of OSTree's sysroot lock among the helper's locks, when it holds it. */
    private ostreeLockIndex: number | undefined,
  ) {}

  /** Takes the lock for `target` (a sysroot or repo directory) or throws {@link LockedError}. */
  static async acquire(target: string): Promise<TransactionLock> {
    const dir = resolve(target);
    const isSysroot = existsSync(join(dir, 'ostree', 'repo'));
    const ownLock = isSysroot ? join(dir, 'ostree', OWN_LOCK) : join(dir, OWN_LOCK);
    const files = isSysroot ? [ownLock, join(dir, 'ostree', 'lock')] : [ownLock];
    const helper = await startHelper(files);
    if (!helper) throw new ToolError(`cannot lock ${target}: neither perl nor flock (util-linux) can be run; install perl (or util-linux) and run it again`);
    const lines = readLines(helper);
    const first = (await lines.next()).value as string | undefined;
    if (first === 'locked') {
      const lock = new TransactionLock(dir, helper, lines, helper.spawnfile === 'perl' && isSysroot ? 1 : undefined);
      // Our pid in our own lock file, for the message a second transaction prints.
      writeFileSync(ownLock, `${process.pid}\n`);
      // Holding the lock must not keep the process alive by itself.
      keepAlive(helper, false);
      held.set(dir, lock);
      return lock;
    }
    helper.stdin.end();
    const exitCode = helper.exitCode ?? (await new Promise<number | null>((resolveExit) => helper.once('exit', resolveExit)));
    if (first === 'busy 0' || (first === undefined && exitCode === FLOCK_BUSY)) {
      const pid = readPid(ownLock);
      throw new LockedError(`another ostree-layer transaction${pid ? ` (pid ${pid})` : ''} is running on ${target}; wait for it to finish`);
    }
    if (first === 'busy 1') {
      throw new LockedError(`an ostree admin operation (deploy, upgrade, cleanup…) holds OSTree's sysroot lock ${files[1]}; wait for it to finish`);
    }
    throw new SystemStateError(`cannot lock ${target}: ${first ?? 'the lock helper exited'}; check that the directory is writable`);
  }

  /** Hands OSTree's sysroot lock back (before `ostree admin deploy`, which takes it itself); our own lock stays. */
  async yieldOstreeLock(): Promise<void> {
    if (this.ostreeLockIndex === undefined || this.released) return;
    const index = this.ostreeLockIndex;
    this.ostreeLockIndex = undefined;
    keepAlive(this.helper, true);
    this.helper.stdin.write(`release ${index}\n`);
    await this.lines.next();
    keepAlive(this.helper, false);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    held.delete(this.target);
    // Waiting for the helper's exit must keep the process alive, or it would end here with its output unwritten.
    keepAlive(this.helper, true);
    const exited = new Promise((resolveExit) => (this.helper.exitCode !== null ? resolveExit(undefined) : this.helper.once('exit', resolveExit)));
    this.helper.stdin.end();
    await exited;
  }
}

/** Before `ostree admin deploy` on `sysroot`: lets it take OSTree's lock that our transaction holds, if any. */
export async function yieldOstreeLock(sysroot: string): Promise<void> {
  await held.get(resolve(sysroot))?.yieldOstreeLock();
}

/** The perl helper, or util-linux flock holding our own lock alone; undefined when neither can be run. */
async function startHelper(files: string[]): Promise<ChildProcessWithoutNullStreams | undefined> {
  const perl = await started('perl', ['-e', HELPER, ...files]);
  if (perl) return perl;
  return started('flock', ['--exclusive', '--nonblock', '--conflict-exit-code', String(FLOCK_BUSY), files[0]!, 'sh', '-c', 'echo locked; exec cat >/dev/null']);
}

async function started(command: string, args: string[]): Promise<ChildProcessWithoutNullStreams | undefined> {
  // Its own process group: a Ctrl-C on the terminal must not kill the holder while we clean up.
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  const ok = await new Promise<boolean>((resolveStart) => {
    child.once('spawn', () => resolveStart(true));
    child.once('error', () => resolveStart(false));
  });
  return ok ? guard(child) : undefined;
}

const FLOCK_BUSY = 75;

function keepAlive(child: ChildProcessWithoutNullStreams, alive: boolean): void {
  for (const handle of [child, child.stdin, child.stdout, child.stderr] as unknown as Array<{ ref?: () => void; unref?: () => void }>) {
    if (alive) handle.ref?.();
    else handle.unref?.();
  }
}

/** The helper's pipes must never crash us (EPIPE when it is gone): its exit is what we watch. */
function guard(child: ChildProcessWithoutNullStreams): ChildProcessWithoutNullStreams {
  child.on('error', () => undefined);
  for (const stream of [child.stdin, child.stdout, child.stderr]) stream.on('error', () => undefined);
  return child;
}

async function* readLines(child: ChildProcessWithoutNullStreams): AsyncGenerator<string> {
  let buffered = '';
  for await (const chunk of child.stdout) {
    buffered += String(chunk);
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
}

function readPid(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}
