/**
 * Fault-injection points for the crash tests: with OSTREE_LAYER_FAULT_PAUSE=<point> the process announces the point on
 * stderr and waits there, so a test can SIGKILL it at a known phase. Unset, this is a no-op.
 */
export type FaultPoint = 'import' | 'scripts' | 'compose' | 'deploy';

export async function faultPoint(point: FaultPoint): Promise<void> {
  if (process.env.OSTREE_LAYER_FAULT_PAUSE !== point) return;
  process.stderr.write(`ostree-layer: paused at ${point}\n`);
  // A pending timer keeps the event loop (and so the process) alive until the test kills it.
  await new Promise(() => setInterval(() => undefined, 60_000));
}
