/**
 * The sandbox maintainer scripts run in: an overlay (the composed tree read-only below, a private upper directory that
 * catches every change) shown as `/` by bubblewrap, with no network, private /proc, /dev and /tmp, and no host path
 * but the read-only script directory.
 *
 * Debian 12's bubblewrap (0.8) has no overlay options, so the engine mounts the overlay itself, as root, inside a mount
 * namespace of its own (`unshare --mount`): the mount disappears with the namespace even when the process is killed,
 * and the host never sees it. Overlayfs never writes to its lower directories, which is what makes it safe to stack
 * hardlinked checkouts of repo objects there (writing through such a hardlink would corrupt the repo).
 */
import { run } from '../run.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCRIPT_DIR, type ScriptStep } from '../backend.js';
import { ScriptError, ToolError, UsageError } from '../errors.js';

export interface SandboxBind {
  /** A path of the tree (resolved inside the merged view). */
  treePath: string;
  /** Where the sandbox shows it as well. */
  sandboxPath: string;
}

export interface SandboxPass {
  /** Lower directories, topmost first. */
  lowers: string[];
  /** Catches every change the steps make (overlay upperdir), and its work directory on the same file system. */
  upper: string;
  work: string;
  /** Mount point of the merged view (an empty directory). */
  merged: string;
  /** Shown read-only at {@link SCRIPT_DIR}. */
  scriptDir: string;
  binds: SandboxBind[];
  steps: ScriptStep[];
  /** Where each step's output and exit status are written (outside the sandbox). */
  logDir: string;
  /** Per step; a step still running then is killed with everything it started. */
  timeoutSeconds: number;
}

export interface StepResult {
  step: ScriptStep;
  exitCode: number;
  output: string;
}

/** What every step gets; nothing of the host's environment leaks in. */
const BASE_ENV: Record<string, string> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  TERM: 'dumb',
};

/**
 * The capabilities root keeps inside: enough to chown, chmod, setcap and switch users as package scripts do, not
 * enough to mount, load modules, reboot or touch the network stack.
 */
const CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_SETFCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_AUDIT_WRITE',
];

/** Exit status the driver uses when the overlay itself cannot be mounted. */
const MOUNT_FAILED = 90;

/** Runs the steps in order over one overlay mount; stops after the first step that fails and returns what ran. */
export async function runPass(pass: SandboxPass): Promise<StepResult[]> {
  if (pass.steps.length === 0) return [];
  for (const dir of [...pass.lowers, pass.upper, pass.work]) {
    // The overlay option string separates lowers with ':' and options with ','.
    if (/[:,\n]/.test(dir)) throw new UsageError(`${dir}: a scratch path with ':' or ',' cannot be used in an overlay mount; use a repo path without them`);
  }
  mkdirSync(pass.logDir, { recursive: true });
  const stdinFiles = pass.steps.map((step, i) => {
    if (step.stdin === undefined) return '/dev/null';
    const file = join(pass.logDir, `${i}.stdin`);
    writeFileSync(file, step.stdin);
    return file;
  });
  const driver = join(pass.logDir, 'driver.sh');
  writeFileSync(driver, driverScript(pass, stdinFiles), { mode: 0o700 });
  // Every process of the chain dies with its parent (setpriv --pdeathsig, unshare --kill-child, bwrap
  // --die-with-parent): a killed ostree-layer leaves no script running and no overlay mounted.
  const ran = await run('setpriv', ['--pdeathsig', 'KILL', 'unshare', '--mount', '--propagation', 'private', '--kill-child', 'sh', driver], {
    reject: false,
    all: true,
    // Generous: each step has its own time limit inside; this one only catches a driver that hangs.
    timeout: (pass.timeoutSeconds + 30) * pass.steps.length * 1000,
  });
  if (ran.exitCode === MOUNT_FAILED) throw new ToolError(`mounting the overlay for maintainer scripts failed: ${String(ran.all ?? '').trim()}`);
  if (ran.failed && ran.exitCode !== 0) throw new ToolError(`the script sandbox failed (${ran.shortMessage}): ${String(ran.all ?? '').trim()}`);

  const results: StepResult[] = [];
  for (const [i, step] of pass.steps.entries()) {
    const rcText = readIfThere(join(pass.logDir, `${i}.rc`));
    if (rcText === null) break;
    const output = readIfThere(join(pass.logDir, `${i}.out`)) ?? '';
    results.push({ step, exitCode: Number(rcText.trim()), output });
  }
  return results;
}

function readIfThere(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** The first failed step as a {@link ScriptError} naming the package, the script and its output; or nothing. */
export function failedStep(results: StepResult[], timeoutSeconds: number): ScriptError | undefined {
  const failed = results.find((r) => r.exitCode !== 0);
  if (!failed) return undefined;
  const { step, exitCode, output } = failed;
  const blamed = step.failedPackages?.(output) ?? [];
  const who = step.package
    ? `${step.package.name} ${step.package.version} (${step.package.arch}): `
    : blamed.length > 0
      ? `${blamed.join(', ')}: `
      : '';
  // timeout(1) exits 124 (137 once it had to kill) when the limit ran out.
  const why = exitCode === 124 || exitCode === 137 ? `did not finish within ${timeoutSeconds} s and was killed` : `exited with status ${exitCode}`;
  const tail = output.trim().split('\n').slice(-40).join('\n');
  return new ScriptError(
    `${who}${step.label} ${why}; nothing was deployed.${tail ? `\nIts output:\n${tail}` : ''}\n` +
      'Fix the package or its dependencies, or install with --no-scripts to layer it unconfigured.',
    output,
  );
}

function driverScript(pass: SandboxPass, stdinFiles: string[]): string {
  const lines = [
    '#!/bin/sh',
    '# Written by ostree-layer: mounts the overlay in this private mount namespace and runs each step in bubblewrap.',
    'set -u',
    `mount -t overlay overlay -o ${q(`lowerdir=${pass.lowers.join(':')},upperdir=${pass.upper},workdir=${pass.work},redirect_dir=off,metacopy=off,index=off,xino=off`)} ${q(pass.merged)} || exit ${MOUNT_FAILED}`,
  ];
  pass.steps.forEach((step, i) => {
    const argv = ['setpriv', '--pdeathsig', 'KILL', 'timeout', '--kill-after=10', String(pass.timeoutSeconds), ...bwrapArgs(pass, step), '--', ...step.argv];
    lines.push(`${argv.map(q).join(' ')} <${q(stdinFiles[i]!)} >${q(join(pass.logDir, `${i}.out`))} 2>&1`);
    lines.push(`rc=$?; echo $rc >${q(join(pass.logDir, `${i}.rc`))}; [ $rc -eq 0 ] || exit 0`);
  });
  return lines.join('\n') + '\n';
}

function bwrapArgs(pass: SandboxPass, step: ScriptStep): string[] {
  const m = pass.merged;
  const args = ['bwrap', '--bind', m, '/'];
  for (const bind of pass.binds) args.push('--bind', join(m, bind.treePath), bind.sandboxPath);
  args.push('--ro-bind', pass.scriptDir, SCRIPT_DIR, '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  args.push('--unshare-net', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--die-with-parent', '--new-session');
  args.push('--cap-drop', 'ALL', ...CAPABILITIES.flatMap((c) => ['--cap-add', c]));
  args.push('--clearenv', '--chdir', '/');
  for (const [key, value] of Object.entries({ ...BASE_ENV, ...step.env })) args.push('--setenv', key, value);
  return args;
}

/** Single-quotes a word for sh. */
function q(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
