/**
 * Runs a backend's script plan on a plain directory, for backend tests that compare it with the real package tool
 * before and apart from the engine: the steps run in bubblewrap with the directory as `/`, the plan's files read-only
 * at SCRIPT_DIR, no network, and an environment as small as the engine's. Never the host as `/`.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SCRIPT_DIR, type ScriptPlan, type ScriptStep } from '@ostree-layer/core';

/** Writes the plan's files into a new directory under `work` and returns it (to bind at SCRIPT_DIR). */
export async function writePlanFiles(work: string, plan: ScriptPlan): Promise<string> {
  const dir = await mkdtemp(join(work, 'script-files-'));
  await mkdir(dir, { recursive: true });
  for (const file of plan.files) await writeFile(join(dir, file.name), file.content, { mode: file.mode });
  return dir;
}

/** Runs one step over `root`; throws with the step's output when it exits non-zero. */
export function runScriptStep(root: string, planFiles: string, step: ScriptStep): string {
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', ...step.env };
  return execFileSync('bwrap', [
    '--bind', root, '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', '--ro-bind', planFiles, SCRIPT_DIR,
    '--unshare-net', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent', '--chdir', '/', '--clearenv',
    ...Object.entries(env).flatMap(([name, value]) => ['--setenv', name, value]), '--', ...step.argv,
  ], { input: step.stdin ?? '', encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
}
