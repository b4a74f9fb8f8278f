/**
 * SIGINT and SIGTERM during a transaction. Before the deploy, a signal stops everything cleanly: running ostree
 * writers are killed, this process's scratch directories are removed, and the process exits 130 (SIGINT) or 143
 * (SIGTERM) saying that nothing changed, which is true: only unreferenced objects and cache refs were written. Once
 * `ostree admin deploy` runs, stopping would leave the caller guessing, so the signal is noted and the deploy finishes;
 * the result then reports what really happened (deployed). After an `ostree admin` operation has run, "nothing changed"
 * would be a lie, so signals are noted and the rest (pruning what no deployment needs) finishes too.
 */
import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Aborted when a signal stops the transaction; long-running writers (ostree commit) are spawned with it. */
const interrupted = new AbortController();
export const interruptSignal: AbortSignal = interrupted.signal;

/** What changes the sysroot right now (`ostree admin deploy`…), while it runs; signals wait for it. */
const running: string[] = [];
/** Repos whose `tmp` may hold this process's scratch directories. */
const scratchRepos = new Set<string>();

export function noteScratchRepo(repoPath: string): void {
  scratchRepos.add(repoPath);
}

/** Refs the running transaction created (cache and script-layer refs), by repo: a stop takes them back. */
const createdRefs = new Map<string, readonly string[]>();

/** `refs` is the transaction's own list, read when a signal stops it; an empty list once it is over. */
export function noteCreatedRefs(repoPath: string, refs: readonly string[]): void {
  createdRefs.set(repoPath, refs);
}

/** The first `ostree admin` operation that has run to its end in this process, if any: from then on, signals wait. */
let changedBy: string | undefined;

/** Runs `change` (an `ostree admin` operation) with signals deferred: what it does is reported, not abandoned halfway. */
export async function whileDeploying<T>(what: string, change: () => Promise<T>): Promise<T> {
  // A stop under way has said "nothing changed" or is about to: nothing may change the sysroot any more.
  if (stopping()) await new Promise<never>(() => undefined);
  running.push(what);
  try {
    const result = await change();
    changedBy ??= what;
    return result;
  } finally {
    running.splice(running.indexOf(what), 1);
  }
}

/**
 * True once a signal is stopping the transaction: the rest of it may still be unwinding (its ostree writers were
 * killed), but it must neither change anything nor report its errors; the stop reports and sets the exit status.
 */
export function stopping(): boolean {
  return interrupted.signal.aborted;
}

export interface InterruptReport {
  signal: NodeJS.Signals;
  /** True when the signal arrived during the deploy, which was left to finish. */
  deferred: boolean;
  message: string;
}

/**
 * Installs the handlers (the CLI calls this once). `report` prints the message; when the transaction is stopped, the
 * process exits with 128 + the signal number after cleaning up.
 */
export function handleInterrupts(report: (event: InterruptReport) => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (running.length > 0) {
        report({ signal, deferred: true, message: `${signal} received while ${running[0]} runs; letting it finish so that the result is known` });
        return;
      }
      if (changedBy) {
        report({ signal, deferred: true, message: `${signal} received after ${changedBy} changed the sysroot; finishing so that the result is known` });
        return;
      }
      void stop(signal, report);
    });
  }
}

async function stop(signal: NodeJS.Signals, report: (event: InterruptReport) => void): Promise<void> {
  interrupted.abort(new Error(`interrupted by ${signal}`));
  await removeOwnScratch();
  await takeBackCreatedRefs();
  report({ signal, deferred: false, message: `interrupted by ${signal} before the deploy: nothing changed (no deployment made, no ref moved); run the command again` });
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

async function removeOwnScratch(): Promise<void> {
  const mine = new RegExp(`^ostree-layer-[a-z]+-${process.pid}-`);
  for (const repo of scratchRepos) {
    const names = await readdir(join(repo, 'tmp')).catch(() => [] as string[]);
    for (const name of names) if (mine.test(name)) await rm(join(repo, 'tmp', name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Deletes the refs this transaction created, so that "no ref moved" holds (exact names, never prefixes). */
async function takeBackCreatedRefs(): Promise<void> {
  for (const [repo, refs] of createdRefs) {
    if (refs.length === 0) continue;
    await new Promise<void>((done) => execFile('ostree', [`--repo=${repo}`, 'refs', '--delete', ...refs], () => done()));
  }
}
