/**
 * `ostree-layer frontend apt|apt-get|dnf ARGS…`: what scripts/shims/apt, apt-get and dnf run. Errors are printed the
 * way each tool prints them ("E: …" for apt, "Error: …" for dnf) with ostree-layer's exit codes.
 */
import { UsageError } from '@ostree-layer/core/errors';
import { reportError } from '../output.js';

export async function runFrontend(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const prefix = name === 'dnf' ? 'Error: ' : 'E: ';
  try {
    if (name === 'apt' || name === 'apt-get') await (await import('./apt.js')).runApt(name, args);
    else if (name === 'dnf') await (await import('./dnf.js')).runDnf(args);
    else throw new UsageError(`frontend: unknown front end "${name ?? ''}"; use apt, apt-get or dnf`);
    return Number(process.exitCode ?? 0);
  } catch (err) {
    return reportError(err, false, prefix);
  }
}
