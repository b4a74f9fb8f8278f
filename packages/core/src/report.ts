/**
 * What a transaction tells whoever watches it. Core emits these events and never draws: the CLI renders them (a
 * progress line on a terminal, quiet lines otherwise, nothing with --json), so that what happened and how it is shown
 * never mix.
 */

/** Phases of a transaction, in the order they run (a transaction skips those it does not need). */
export type Phase = 'discover' | 'pull' | 'resolve' | 'fetch' | 'open' | 'import' | 'scripts' | 'conflicts' | 'database' | 'compose' | 'deploy';

export type ReportEvent =
  /** A phase starts (its end is the matching `phase-end`). */
  | { type: 'phase-start'; phase: Phase }
  | { type: 'phase-end'; phase: Phase; ms: number }
  /** Downloads: the total once, then bytes as they arrive, then the end with what was fetched and how fast. */
  | { type: 'download-start'; files: number; totalBytes: number; cachedBytes: number }
  | { type: 'download-progress'; doneBytes: number; totalBytes: number }
  | { type: 'download-end'; fetchedBytes: number; ms: number; files: number }
  /** A line for a human (what was imported, composed, deployed…). */
  | { type: 'message'; text: string }
  /** Something went wrong that the transaction could go on without (an unreachable source, a stale index). */
  | { type: 'warning'; text: string };

export interface Report {
  emit(event: ReportEvent): void;
}

/** A Report that turns messages and warnings into lines for a `progress` callback and drops the rest. */
export function lineReport(progress?: (line: string) => void): Report {
  return {
    emit(event) {
      if (!progress) return;
      if (event.type === 'message') progress(event.text);
      else if (event.type === 'warning') progress(`warning: ${event.text}`);
    },
  };
}

/** Times each phase from the end of the previous one and reports it: `lap(phase)` closes `phase`. */
export function phaseClock(report: Report): { timings: Record<string, number>; lap: (phase: Phase) => void } {
  const timings: Record<string, number> = {};
  let clock = performance.now();
  const lap = (phase: Phase) => {
    const now = performance.now();
    timings[phase] = Math.round((now - clock) * 10) / 10;
    report.emit({ type: 'phase-end', phase, ms: timings[phase]! });
    clock = now;
  };
  return { timings, lap };
}
