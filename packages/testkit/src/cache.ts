/**
 * The cache shared by every test worker and the demo: one ostree repo holding the built bases, plus a lock file per
 * base so parallel workers build each base once.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LockedError, SystemStateError } from '@ostree-layer/core';
import { removeTree } from './cleanup.js';
import { run } from './run.js';

/** A committed base tree: what makeSysroot pulls and deploys. */
export interface BaseImage {
  /** The cached ostree repo (mode bare) holding the commit. */
  repo: string;
  ref: string;
  /** Commit checksum the ref pointed to when this was returned. */
  commit: string;
  /** Stateroot name a sysroot made from this base uses unless told otherwise. */
  osName: string;
}

export interface CacheOptions {
  /** Where the repo and locks live; default $OSTREE_LAYER_TEST_CACHE or <repo>/.cache/testkit. */
  cacheDir?: string;
}

/** The monorepo root: the nearest ancestor of this module whose package.json declares workspaces. */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).workspaces) return dir;
      } catch {
        // A broken manifest on the way up is not ours; keep climbing.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
    dir = parent;
  }
}

export function resolveCacheDir(options: CacheOptions = {}): string {
  if (options.cacheDir) return resolve(options.cacheDir);
  const fromEnv = process.env.OSTREE_LAYER_TEST_CACHE;
  if (fromEnv) return resolve(fromEnv);
  return join(findRepoRoot(), '.cache', 'testkit');
}

/**
 * Holds an exclusive flock(1) on `lockFile` while `fn` runs. The lock lives in a child `flock … cat` whose stdin is
 * our pipe: if this process dies, even by SIGKILL, the pipe closes, cat exits and the lock is released.
 */
export async function withFileLock<T>(lockFile: string, fn: () => Promise<T>, timeoutSeconds = 1200): Promise<T> {
  await mkdir(dirname(lockFile), { recursive: true });
  const holder = spawn('flock', ['--exclusive', '--wait', String(timeoutSeconds), lockFile, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolveExit) => holder.once('close', (code) => resolveExit(code)));
  let stderr = '';
  holder.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const acquired = await new Promise<boolean>((resolveLock, rejectLock) => {
    holder.once('error', rejectLock);
    holder.stdout.once('data', () => resolveLock(true));
    void exited.then(() => resolveLock(false));
  });
  if (!acquired) {
    throw new LockedError(
      `could not lock ${lockFile} within ${timeoutSeconds} s${stderr ? `: ${stderr.trim()}` : ''}; ` +
        'another test run is building the same base: wait for it, or remove the cache directory if no build is running',
    );
  }
  try {
    return await fn();
  } finally {
    holder.stdin.end();
    await exited;
  }
}

/**
 * Creates the cache repo once. Mode bare: `pull-local` into a sysroot (also bare) hardlinks objects instead of
 * copying 150 MB, 0.4 s instead of 1–3 s under load. The price is that a deployment file written in place changes the
 * cache too; {@link findTamperedObject} catches that.
 */
export async function ensureCacheRepo(cacheDir: string): Promise<string> {
  const repo = join(cacheDir, 'ostree-repo');
  if (existsSync(join(repo, 'config'))) return repo;
  await withFileLock(join(cacheDir, 'repo.lock'), async () => {
    if (existsSync(join(repo, 'config'))) return;
    await mkdir(repo, { recursive: true });
    await run('ostree', ['init', `--repo=${repo}`, '--mode=bare']);
  });
  return repo;
}

/**
 * A content object of `repo` that was modified after ostree wrote it, or null. ostree gives every regular file object
 * mtime 0, so one with a later mtime was written through a hardlink (a deployment file edited in place).
 */
export async function findTamperedObject(repo: string): Promise<string | null> {
  const found = await run('find', [join(repo, 'objects'), '-type', 'f', '-name', '*.file', '-newermt', '@1', '-print', '-quit']);
  return found.trim() || null;
}

/** Key in each cached commit's metadata naming the recipe that built it; a changed recipe rebuilds the base. */
export const RECIPE_KEY = 'testkit.recipe';

/** The commit of `ref` when it was built by `recipe`, else null (missing ref or an older recipe). */
export async function cachedCommit(repo: string, ref: string, recipe: string): Promise<string | null> {
  let commit: string;
  try {
    commit = await run('ostree', ['rev-parse', `--repo=${repo}`, ref]);
  } catch {
    return null;
  }
  try {
    const stored = await run('ostree', ['show', `--repo=${repo}`, `--print-metadata-key=${RECIPE_KEY}`, commit]);
    return stored.trim() === `'${recipe}'` ? commit : null;
  } catch {
    return null;
  }
}

/**
 * Returns the cached base `ref` built by `recipe`, building it with `build` under the base's lock when missing.
 * `build` must commit to `ref` in `repo` with metadata {@link RECIPE_KEY} = recipe.
 */
export async function ensureCached(
  cacheDir: string,
  ref: string,
  recipe: string,
  build: (repo: string) => Promise<void>,
): Promise<{ repo: string; commit: string }> {
  const repo = await ensureCacheRepo(cacheDir);
  const hit = await cachedCommit(repo, ref, recipe);
  if (hit) {
    const tampered = await findTamperedObject(repo);
    if (tampered) {
      throw new SystemStateError(
        `the test cache ${repo} is corrupt: ${tampered} was modified after ostree stored it, so some code wrote into a ` +
          `deployment file in place (deployment files are hardlinks into the repo). Fix that code, then delete ${cacheDir}`,
      );
    }
    return { repo, commit: hit };
  }
  const lockName = ref.replace(/[^A-Za-z0-9_.-]+/g, '_') + '.lock';
  return withFileLock(join(cacheDir, lockName), async () => {
    // Another worker may have built it while we waited for the lock.
    const built = await cachedCommit(repo, ref, recipe);
    if (built) return { repo, commit: built };
    await build(repo);
    const commit = await cachedCommit(repo, ref, recipe);
    if (!commit) throw new SystemStateError(`building ${ref} in ${repo} finished but the ref does not carry recipe ${recipe}`);
    return { repo, commit };
  });
}

/**
 * One build per cache directory and process: concurrent callers in one test worker share the pending promise (the
 * file lock in `ensureCached` covers other processes); a failed build is forgotten so the next call tries again.
 */
export function sharedPerCacheDir<T>(build: (cacheDir: string) => Promise<T>): (options?: CacheOptions) => Promise<T> {
  const inFlight = new Map<string, Promise<T>>();
  return (options = {}) => {
    const cacheDir = resolveCacheDir(options);
    let pending = inFlight.get(cacheDir);
    if (!pending) {
      pending = build(cacheDir);
      inFlight.set(cacheDir, pending);
      pending.catch(() => inFlight.delete(cacheDir));
    }
    return pending;
  };
}


/**
 * A new scratch directory `<cacheDir>/build-<name>-XXXXXX` for building a base. Call it holding the base's lock: any
 * `build-<name>-*` left beside it then belongs to a killed run and is removed first.
 */
export async function freshBuildDir(cacheDir: string, name: string): Promise<string> {
  const prefix = `build-${name}-`;
  for (const stale of (await readdir(cacheDir)).filter((n) => n.startsWith(prefix))) await removeTree(join(cacheDir, stale));
  return mkdtemp(join(cacheDir, prefix));
}
