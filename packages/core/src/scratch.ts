/**
 * Scratch space for a transaction lives in the repo's own tmp directory (same file system, never shared with other
 * programs), named with the owning pid. A killed run cannot clean up after itself, so every transaction first removes
 * the scratch directories of pids that are gone.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noteScratchRepo } from './interrupt.js';

const PREFIX = 'ostree-layer-';

/** A new scratch directory under `<repo>/tmp`, removed by the caller when done. `purpose`: lower-case letters. */
export function scratchDir(repoPath: string, purpose: string): Promise<string> {
  noteScratchRepo(repoPath);
  return mkdtemp(join(repoPath, 'tmp', `${PREFIX}${purpose}-${process.pid}-`));
}

/** The repo of the transaction that holds the lock in this process, whose scratch takes backends' temp files. */
let transactionRepo: string | undefined;

/** Called by the transaction that takes the lock (with its repo) and when it ends (with undefined). */
export function setTransactionScratch(repoPath: string | undefined): void {
  transactionRepo = repoPath;
}

/**
 * A temp directory for a backend's own files (a database copy to query or write): under the running transaction's
 * scratch, so that an interrupt or the next transaction after a kill removes it, or in the system's temp directory
 * when no transaction runs (a read-only command, a test). The caller removes it when done. `purpose`: lower-case
 * letters ("rpmdb").
 */
export async function tempDir(purpose: string): Promise<string> {
  if (!/^[a-z]+$/.test(purpose)) throw new TypeError(`tempDir: purpose "${purpose}" must be lower-case letters`);
  return transactionRepo ? scratchDir(transactionRepo, purpose) : mkdtemp(join(tmpdir(), `${PREFIX}${purpose}-`));
}

/** Removals {@link discardLater} started that have not finished. */
const discarding = new Set<Promise<void>>();

/**
 * Starts removing the scratch directory `dir` and returns at once: what is left of a finished step goes while the
 * transaction goes on (the deploy mostly waits on ostree). The transaction waits for it before it ends
 * ({@link discarded}); a directory a kill left behind goes with the next transaction's {@link removeStaleScratch}.
 */
export function discardLater(dir: string): void {
  const removal: Promise<void> = rm(dir, { recursive: true, force: true })
    .catch(() => undefined)
    .finally(() => discarding.delete(removal));
  discarding.add(removal);
}

/** Waits for every removal {@link discardLater} started. */
export async function discarded(): Promise<void> {
  await Promise.all(discarding);
}

/** Removes scratch directories whose process no longer runs. */
export async function removeStaleScratch(repoPath: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(join(repoPath, 'tmp'));
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^ostree-layer-[a-z]+-(\d+)-/.exec(name);
    if (m && !isAlive(Number(m[1]))) await rm(join(repoPath, 'tmp', name), { recursive: true, force: true });
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
