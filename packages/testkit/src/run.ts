/** Runs the real tools (ostree, dpkg-deb, rpmbuild, mmdebstrap…) and turns a failure into a ToolError with stderr. */
import { ToolError } from '@ostree-layer/core';
import { execa, type Options } from 'execa';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string | Buffer;
  /** Says what the caller can do when the tool fails (appended to the message). */
  hint?: string;
  timeoutMs?: number;
}

/** Runs `cmd args…` and resolves with its stdout (trimmed of the final newline). */
export async function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const execaOptions: Options = {
    cwd: options.cwd,
    env: options.env,
    input: options.input,
    reject: false,
    stripFinalNewline: true,
    timeout: options.timeoutMs,
    // Debian's rpm macros point the database at ~/.rpmdb; the tools get a predictable locale for messages.
    extendEnv: true,
  };
  const result = await execa(cmd, args, execaOptions);
  if (result.failed) {
    const why = result.timedOut
      ? `timed out after ${options.timeoutMs} ms`
      : result.exitCode !== undefined
        ? `exited with status ${result.exitCode}`
        : `failed: ${result.originalMessage ?? result.shortMessage}`;
    const stderr = String(result.stderr ?? '').trim();
    const tail = stderr.length > 4000 ? '…' + stderr.slice(-4000) : stderr;
    throw new ToolError(
      `${cmd} ${args.join(' ')} ${why}${tail ? `:\n${tail}` : ''}${options.hint ? `\n${options.hint}` : ''}`,
    );
  }
  return String(result.stdout ?? '');
}

/** Whether the current process may chown, mknod and run `ostree admin` (every builder here needs root). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
