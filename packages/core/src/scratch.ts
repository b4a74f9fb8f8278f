/**
 * Scratch space for a transaction lives in the repo's own tmp directory (same file system, never shared with other
 * programs), named with the owning pid. A killed run cannot clean up after itself, so every transaction first removes
 * the scratch directories of pids that are gone.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { noteScratchRepo } from './interrupt.js';

const PREFIX = 'ostree-layer-';

/** A new scratch directory under `<repo>/tmp`, removed by the caller when done. */
export function scratchDir(repoPath: string, purpose: string): Promise<string> {
  noteScratchRepo(repoPath);
  return mkdtemp(join(repoPath, 'tmp', `${PREFIX}${purpose}-${process.pid}-`));
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
