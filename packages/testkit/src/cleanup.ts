/** Removing throwaway trees safely: nothing mounted below them, no immutable directories left. */
import { readFile, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { run } from './run.js';

/** Mount points at or below `dir`, deepest first (mountinfo escapes blanks as octal). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const prefix = resolve(dir);
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))))
    .filter((point) => point === prefix || point.startsWith(prefix + '/'));
  return points.sort((a, b) => b.length - a.length);
}

export async function unmountUnder(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    // Lazy: a test that left a process inside must not make cleanup fail; the mount is gone from the tree at once.
    await run('umount', ['--lazy', point]);
  }
}

/** Clears the immutable bit ostree puts on each deployment root so the sysroot can be deleted. */
async function clearDeploymentImmutability(sysroot: string): Promise<void> {
  const deployRoot = join(sysroot, 'ostree', 'deploy');
  let osNames: string[];
  try {
    osNames = await readdir(deployRoot);
  } catch {
    return;
  }
  const dirs: string[] = [];
  for (const os of osNames) {
    const entries = await readdir(join(deployRoot, os, 'deploy')).catch(() => [] as string[]);
    for (const entry of entries) if (!entry.endsWith('.origin')) dirs.push(join(deployRoot, os, 'deploy', entry));
  }
  if (dirs.length > 0) await run('chattr', ['-i', ...dirs]);
}

/**
 * Deletes `dir` after unmounting whatever is below it, never crossing into a mounted file system. For a sysroot it
 * first clears the deployments' immutable bit; anything else still immutable is cleared recursively as a last resort.
 */
export async function removeTree(dir: string, options: { sysroot?: boolean } = {}): Promise<void> {
  await unmountUnder(dir);
  if (options.sysroot) await clearDeploymentImmutability(dir);
  try {
    await rm(dir, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EACCES') throw err;
    await run('chattr', ['-R', '-f', '-i', dir]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
