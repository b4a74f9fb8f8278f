/**
 * Fault-injection points for the crash tests: with OSTREE_LAYER_FAULT_PAUSE=<point> the process announces the point on
 * stderr and waits there, so a test can SIGKILL it at a known phase. Unset, this is a no-op.
 */
import { stopping } from './interrupt.js';

/**
 * The phase boundaries of a transaction, in order: before resolving names, before the downloads, inside the imports,
 * before the database layer, before the script phase, before composing, before the deploy, inside `ostree admin deploy`
 * (signals deferred), and after it, before the cleanup of what no deployment needs.
 */
export type FaultPoint = 'resolve' | 'fetch' | 'import' | 'database' | 'scripts' | 'compose' | 'deploy' | 'deploying' | 'deployed';

export async function faultPoint(point: FaultPoint): Promise<void> {
  if (process.env.OSTREE_LAYER_FAULT_PAUSE !== point) return;
  process.stderr.write(`ostree-layer: paused at ${point}\n`);
  // A pending timer keeps the event loop (and so the process) alive until the test kills it, or, at a point where
  // signals are deferred, until the signal the test sends (the interrupt handler decides what happens next).
  await new Promise<void>((resume) => {
    const timer = setInterval(() => undefined, 60_000);
    const go = () => {
      // A signal that stops the transaction leaves it paused here until the process exits; one that is deferred
      // (during or after the deploy) lets it go on.
      if (stopping()) return;
      clearInterval(timer);
      resume();
    };
    process.once('SIGINT', go);
    process.once('SIGTERM', go);
  });
}
