/**
 * Draws a transaction's events on stderr. On a terminal: one redrawn line while downloading (bytes so far, total,
 * speed, ETA) and while a phase runs, then a line per phase with its time. On a pipe or a file: the same lines without
 * redrawing, download progress at most every 2 s. With --json: nothing (stdout holds the one JSON document).
 */
import { formatBytes, type Phase, type Report, type ReportEvent } from '@ostree-layer/core';

const LABELS: Record<Phase, string> = {
  discover: 'Discover', pull: 'Pull', resolve: 'Resolve', fetch: 'Download', open: 'Open', import: 'Import', scripts: 'Scripts',
  conflicts: 'Conflicts', database: 'Database', compose: 'Compose', deploy: 'Deploy',
};
const TTY_INTERVAL_MS = 100;
const PLAIN_INTERVAL_MS = 2000;

export interface RendererOptions {
  json: boolean;
  /** Default: process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Put before a warning's text: "warning: " (the default, ostree-layer's own voice) or apt's "W: ". */
  warningPrefix?: string;
}

export function renderer(options: RendererOptions): Report {
  if (options.json) return { emit: () => undefined };
  const out = options.stream ?? process.stderr;
  const tty = Boolean(out.isTTY);
  let status = '';
  let lastDraw = 0;
  let download: { started: number; total: number; cached: number } | undefined;

  const write = (text: string) => out.write(text);
  /** A finished line; on a terminal it replaces the status line, which is drawn again below it. */
  const line = (text: string) => {
    if (tty && status) write('\r\x1b[K');
    write(`${text}\n`);
    if (tty && status) write(status);
  };
  const setStatus = (text: string) => {
    status = text;
    if (tty) write(`\r\x1b[K${text}`);
  };
  const clearStatus = () => {
    if (tty && status) write('\r\x1b[K');
    status = '';
  };

  return {
    emit(event: ReportEvent) {
      switch (event.type) {
        case 'message':
          return line(event.text);
        case 'warning':
          return line(`${options.warningPrefix ?? 'warning: '}${event.text}`);
        case 'phase-start':
          if (event.phase !== 'fetch') setStatus(`${LABELS[event.phase]}…`);
          return;
        case 'phase-end':
          clearStatus();
          return line(`${LABELS[event.phase].padEnd(10)} ${seconds(event.ms)}`);
        case 'download-start':
          download = { started: performance.now(), total: event.totalBytes, cached: event.cachedBytes };
          lastDraw = performance.now();
          if (tty) setStatus(downloadLine(event.cachedBytes, download));
          else line(`Downloading ${formatBytes(event.totalBytes - event.cachedBytes)} (${event.files} files, ${formatBytes(event.cachedBytes)} already in the cache)`);
          return;
        case 'download-progress': {
          if (!download) return;
          const now = performance.now();
          if (now - lastDraw < (tty ? TTY_INTERVAL_MS : PLAIN_INTERVAL_MS)) return;
          lastDraw = now;
          if (tty) setStatus(downloadLine(event.doneBytes, download));
          else line(downloadLine(event.doneBytes, download));
          return;
        }
        case 'download-end': {
          clearStatus();
          const secs = event.ms / 1000;
          line(`Fetched ${formatBytes(event.fetchedBytes)} in ${seconds(event.ms)} (${formatBytes(Math.round(event.fetchedBytes / Math.max(secs, 0.001)))}/s)`);
          download = undefined;
          return;
        }
      }
    },
  };
}

/** "Downloading 1.2 MB of 6.1 MB (20%), 1.1 MB/s, ETA 0:04" — speed and ETA from the bytes actually transferred. */
function downloadLine(done: number, d: { started: number; total: number; cached: number }): string {
  const elapsed = (performance.now() - d.started) / 1000;
  const moved = done - d.cached;
  const speed = elapsed > 0 ? moved / elapsed : 0;
  const left = d.total - done;
  const eta = speed > 0 ? clock(left / speed) : '--:--';
  const percent = d.total > 0 ? Math.floor((done / d.total) * 100) : 100;
  return `Downloading ${formatBytes(done)} of ${formatBytes(d.total)} (${percent}%), ${formatBytes(Math.round(speed))}/s, ETA ${eta}`;
}

function clock(secs: number): string {
  const s = Math.ceil(secs);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
