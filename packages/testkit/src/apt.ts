/**
 * Real packages for end-to-end tests: apt itself decides which .debs a request needs on top of a given dpkg status
 * (the base's), then downloads them. apt runs with the host's configured sources but a private state and cache under
 * the test cache, so tests neither depend on nor disturb the host's apt lists.
 */
import { execa } from 'execa';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveCacheDir, withFileLock } from './cache.js';

const APT_DIR = join(resolveCacheDir(), 'apt');

function aptOptions(statusFile: string): string[] {
  return [
    '-o', `Dir::State::Lists=${APT_DIR}/lists`,
    '-o', `Dir::Cache=${APT_DIR}/cache`,
    '-o', `Dir::State::status=${statusFile}`,
    '-o', 'APT::Architecture=amd64',
    '-o', 'Debug::NoLocking=1',
    '-o', 'APT::Sandbox::User=root',
  ];
}

/**
 * Runs `fn` holding the private apt state's lock: test files run in parallel, and apt is told not to lock (it would
 * want the host's lock files), so two updates, or a query during an update, would read half-written lists.
 */
function withAptState<T>(fn: () => Promise<T>): Promise<T> {
  return withFileLock(join(APT_DIR, '.lock'), fn);
}

/** Refreshes the private package lists at most once a day. Call with the state lock held. */
async function update(statusFile: string): Promise<void> {
  const stamp = join(APT_DIR, 'updated');
  if (existsSync(stamp) && Date.now() - statSync(stamp).mtimeMs < 24 * 3600 * 1000) return;
  await mkdir(join(APT_DIR, 'lists/partial'), { recursive: true });
  await mkdir(join(APT_DIR, 'cache/archives/partial'), { recursive: true });
  await execa('apt-get', [...aptOptions(statusFile), '-q', 'update']);
  await writeFile(stamp, `${new Date().toISOString()}\n`);
}

/** What `apt-get install NAMES` would add on top of `statusFile`, as apt resolves it (apt is the oracle). */
export async function aptPlan(names: string[], statusFile: string, extra: string[] = []): Promise<Array<{ name: string; version: string; arch: string }>> {
  const { stdout } = await withAptState(async () => {
    await update(statusFile);
    return execa('apt-get', [...aptOptions(statusFile), ...extra, '-s', 'install', ...names]);
  });
  const plan = [];
  for (const line of stdout.split('\n')) {
    const m = /^Inst (\S+?)(?::(\S+))? (?:\[\S+\] )?\((\S+) .*\[(\S+)\]\)/.exec(line);
    if (m) plan.push({ name: m[1], version: m[3], arch: m[2] ?? m[4] });
  }
  return plan;
}

/** Downloads `names` and whatever they need beyond `statusFile` into `dest`; returns the .deb paths. */
export async function aptDownloadClosure(names: string[], statusFile: string, dest: string, extra: string[] = ['--no-install-recommends']): Promise<string[]> {
  const plan = await aptPlan(names, statusFile, extra);
  if (plan.length === 0) throw new Error(`apt plans nothing for ${names.join(' ')} on ${statusFile}`);
  await mkdir(dest, { recursive: true });
  const wanted = plan.map((p) => (p.arch === 'all' ? `${p.name}=${p.version}` : `${p.name}:${p.arch}=${p.version}`));
  await withAptState(() => execa('apt-get', [...aptOptions(statusFile), 'download', ...wanted], { cwd: dest }));
  const files = (await readdir(dest)).filter((f) => f.endsWith('.deb'));
  return plan.map((p) => {
    const match = files.find((f) => f.startsWith(`${p.name}_`) && f.endsWith(`_${p.arch}.deb`));
    if (!match) throw new Error(`apt-get download did not produce ${p.name} ${p.version}`);
    return join(dest, match);
  });
}
