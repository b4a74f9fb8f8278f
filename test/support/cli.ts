/** Runs the built `ostree-layer` command the way a user does, and reads what the system looks like afterwards. */
import { execa, type ResultPromise } from 'execa';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// The bin users run: the bundle when it is current (scripts/bundle-cli.mjs), dist/ otherwise.
export const CLI = join(import.meta.dirname, '../../packages/cli/bin/ostree-layer.js');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await execa('node', [CLI, ...args], { reject: false, env });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export function cliProcess(args: string[], env: Record<string, string> = {}): ResultPromise {
  return execa('node', [CLI, ...args], { reject: false, env, buffer: true });
}

export async function cliJson<T = any>(args: string[]): Promise<T> {
  const r = await cli([...args, '--json']);
  if (r.exitCode !== 0) throw new Error(`ostree-layer ${args.join(' ')} exited ${r.exitCode}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Everything a failed transaction must leave alone: refs, deployments, and the origin files. */
export async function systemSnapshot(sysroot: string): Promise<string> {
  const refs = (await execa('ostree', [`--repo=${sysroot}/ostree/repo`, 'refs'])).stdout
    .split('\n')
    .filter((r) => !r.startsWith('ostree-layer/pkg/'))
    .sort()
    .join('\n');
  const status = (await execa('ostree', ['admin', 'status', `--sysroot=${sysroot}`])).stdout;
  return `${refs}\n--\n${status}`;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
