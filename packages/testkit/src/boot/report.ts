/**
 * The report a booted test system sends back over its serial console: a systemd unit and a shell script written into
 * the deployment's /etc before boot, and the parser for what they print. Each command's stdout, stderr and exit code
 * travel base64-encoded on tagged lines, so kernel or systemd messages on the same console cannot be mistaken for them.
 */
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '@ostree-layer/core';

/** Where the report lives inside a deployment (its /etc: per deployment, never part of the commit). */
export const REPORT_DIR = 'etc/ostree-layer-boot-report';
export const REPORT_UNIT = 'ostree-layer-boot-report.service';
const TAG = 'OSTREE-LAYER-REPORT';
export const REPORT_BEGIN = `${TAG}-BEGIN`;
export const REPORT_END = `${TAG}-END`;

/** What one command printed and how it exited, inside the booted system. */
export interface CommandFact {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Commands every report runs, before the caller's (names starting with "_" are reserved for them). */
const BUILTIN_COMMANDS = {
  _failedUnits: 'systemctl list-units --failed --plain --no-legend --no-pager',
  _jobs: 'systemctl list-jobs --no-legend --no-pager',
  _ostreeAdminStatus: 'ostree admin status',
  _cmdline: 'cat /proc/cmdline',
} as const;

export interface ReportOptions<K extends string> {
  /** Shell command lines to run as root once boot has finished, by name; run in order with `sh -c`. */
  commands: Record<K, string>;
  /** How long the report waits for `systemctl is-system-running --wait` before reporting anyway. */
  settleSeconds: number;
  /** Per-command limit inside the guest. */
  commandSeconds: number;
}

/**
 * Writes the report unit, its script and the command files into a deployment checkout's /etc. The unit is
 * `Type=simple` so it does not hold up the boot it waits for, and it opens the serial port only after boot has
 * settled: a getty starting meanwhile would hang up an earlier handle.
 */
export async function installReport<K extends string>(deploymentDir: string, options: ReportOptions<K>): Promise<void> {
  const names = Object.keys(options.commands) as K[];
  for (const name of names) {
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) {
      throw new UsageError(`boot report command name "${name}": use letters, digits, "_" and "-", starting with a letter`);
    }
  }
  const dir = join(deploymentDir, REPORT_DIR);
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'commands'), { recursive: true });
  const all: Array<[string, string]> = [...Object.entries(BUILTIN_COMMANDS), ...names.map((n): [string, string] => [n, options.commands[n]])];
  for (const [index, [name, command]] of all.entries()) {
    await writeFile(join(dir, 'commands', `${String(index).padStart(3, '0')}-${name}`), command + '\n');
  }
  await writeFile(join(dir, 'report.sh'), reportScript(options), { mode: 0o755 });
  const unitDir = join(deploymentDir, 'etc/systemd/system');
  await mkdir(join(unitDir, 'multi-user.target.wants'), { recursive: true });
  await writeFile(join(unitDir, REPORT_UNIT), reportUnit());
  const wants = join(unitDir, 'multi-user.target.wants', REPORT_UNIT);
  await rm(wants, { force: true });
  await symlink(`../${REPORT_UNIT}`, wants);
}

function reportUnit(): string {
  return `[Unit]
Description=ostree-layer testkit: report facts on ttyS0 once boot has finished, then power off

[Service]
Type=simple
ExecStart=/bin/sh /${REPORT_DIR}/report.sh
`;
}

function reportScript(options: { settleSeconds: number; commandSeconds: number }): string {
  return `#!/bin/sh
state=$(timeout ${options.settleSeconds} systemctl is-system-running --wait)
[ -n "$state" ] || state="unsettled after ${options.settleSeconds} s"
# Kernel messages on the console would split report lines; the serial log keeps everything up to here.
dmesg --console-off 2>/dev/null
exec >/dev/ttyS0 2>&1
out=/run/ostree-layer-boot-report.out
err=/run/ostree-layer-boot-report.err
echo ${REPORT_BEGIN}
printf '${TAG} _systemState stdout %s\\n' "$(printf '%s' "$state" | base64 -w0)"
for file in /${REPORT_DIR}/commands/*; do
  name=\${file##*/}
  name=\${name#*-}
  timeout ${options.commandSeconds} sh "$file" </dev/null >"$out" 2>"$err"
  code=$?
  printf '${TAG} %s stdout %s\\n' "$name" "$(base64 -w0 <"$out")"
  printf '${TAG} %s stderr %s\\n' "$name" "$(base64 -w0 <"$err")"
  printf '${TAG} %s exit %s\\n' "$name" "$code"
done
echo ${REPORT_END}
systemctl poweroff
`;
}

/** The deployment `ostree admin status` marks as booted (`* OS CHECKSUM.SERIAL`). */
export interface BootedDeployment {
  osName: string;
  commit: string;
  serial: number;
}

export interface BootFacts<K extends string> {
  /** `systemctl is-system-running --wait` (running, degraded, or starting when it did not settle in time). */
  systemState: string;
  /** Units systemd lists as failed. */
  failedUnits: string[];
  /** Jobs still queued when the report started (non-empty only when boot did not settle). */
  pendingJobs: string[];
  ostreeAdminStatus: string;
  booted: BootedDeployment | null;
  /** /proc/cmdline of the booted kernel. */
  cmdline: string;
  commands: Record<K, CommandFact>;
}

/** Reads the report out of a serial log; null when the log holds no complete report. */
export function parseReport<K extends string>(serial: string, commandNames: readonly K[]): BootFacts<K> | null {
  const begin = serial.indexOf(REPORT_BEGIN);
  const end = serial.indexOf(REPORT_END, begin);
  if (begin < 0 || end < 0) return null;
  const facts = new Map<string, Partial<CommandFact>>();
  const line = new RegExp(`${TAG} (\\S+) (stdout|stderr|exit) ?(\\S*)`, 'g');
  for (const m of serial.slice(begin, end).matchAll(line)) {
    const fact = facts.get(m[1]) ?? {};
    if (m[2] === 'exit') fact.exitCode = Number(m[3]);
    else fact[m[2] as 'stdout' | 'stderr'] = Buffer.from(m[3], 'base64').toString('utf8');
    facts.set(m[1], fact);
  }
  const complete = (name: string): CommandFact | null => {
    const f = facts.get(name);
    return f && f.stdout !== undefined && f.stderr !== undefined && f.exitCode !== undefined && !Number.isNaN(f.exitCode)
      ? (f as CommandFact)
      : null;
  };
  const needed = [...Object.keys(BUILTIN_COMMANDS), ...commandNames];
  if (facts.get('_systemState')?.stdout === undefined || needed.some((n) => !complete(n))) return null;
  const lines = (text: string) => text.split('\n').map((l) => l.trim()).filter(Boolean);
  const status = complete('_ostreeAdminStatus')!.stdout;
  const bootedLine = /^\* (\S+) ([0-9a-f]{64})\.(\d+)/m.exec(status);
  return {
    systemState: facts.get('_systemState')!.stdout!.trim(),
    failedUnits: lines(complete('_failedUnits')!.stdout).map((l) => l.split(/\s+/)[0]),
    pendingJobs: lines(complete('_jobs')!.stdout),
    ostreeAdminStatus: status,
    booted: bootedLine ? { osName: bootedLine[1], commit: bootedLine[2], serial: Number(bootedLine[3]) } : null,
    cmdline: complete('_cmdline')!.stdout.trim(),
    commands: Object.fromEntries(commandNames.map((n) => [n, complete(n)!])) as Record<K, CommandFact>,
  };
}
