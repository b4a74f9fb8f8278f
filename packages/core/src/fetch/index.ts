/**
 * The downloader: package files fetched in parallel with a bound, retried on transient failures, verified by size
 * and digest, and renamed into `<cacheDir>/archives/` only when correct (so a later run reuses them). Progress is a
 * bar per file on a terminal and a throttled plain line otherwise.
 */
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { LayerError, VerificationError } from '../errors.js';
import type { Download } from '../repository.js';
import { downloadFile, verifyExisting } from './download.js';

export { downloadFile, NotFoundError, openUrl, verifyExisting, type DownloadFileOptions, type Expected } from './download.js';

export interface FetchOptions {
  /** Files go to `<cacheDir>/archives/<fileName>`. */
  cacheDir: string;
  /** Downloads in flight at once (default 4). */
  concurrency?: number;
  /** Extra attempts after a failed one (default 2). A digest mismatch is retried too: a proxy may have mangled it. */
  retries?: number;
  /** Plain progress lines (non-TTY). */
  progress?: (line: string) => void;
  /** Draw bars on this terminal stream instead of plain lines. Default: stderr when it is a TTY. */
  tty?: NodeJS.WriteStream | false;
  /** Label for messages, per download ("htop 3.2.2-2"). Default: the file name. */
  label?: (d: Download) => string;
}

export interface Fetched {
  download: Download;
  path: string;
  /** Already in the cache with the right digest: nothing was transferred. */
  cached: boolean;
}

const PLAIN_INTERVAL_MS = 2000;

/** Fetches every download; rejects with the first failure once the in-flight ones have settled. */
export async function fetchAll(downloads: Download[], options: FetchOptions): Promise<Fetched[]> {
  const dir = join(options.cacheDir, 'archives');
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const retries = options.retries ?? 2;
  const label = options.label ?? ((d: Download) => d.fileName);
  const say = options.progress ?? (() => undefined);
  const tty = options.tty === undefined ? (process.stderr.isTTY ? process.stderr : false) : options.tty;
  const bars = tty
    ? new cliProgress.MultiBar(
        { stream: tty, clearOnComplete: true, hideCursor: true, format: ' {bar} {percentage}% | {name} | {value}/{total} B' },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const totalBytes = downloads.reduce((n, d) => n + d.size, 0);
  let doneBytes = 0;
  let lastLine = 0;
  const plain = (force: boolean): void => {
    if (bars) return;
    const now = Date.now();
    if (!force && now - lastLine < PLAIN_INTERVAL_MS) return;
    lastLine = now;
    say(`downloaded ${formatBytes(doneBytes)} of ${formatBytes(totalBytes)}`);
  };

  const results = new Array<Fetched>(downloads.length);
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < downloads.length) {
      const i = next++;
      const d = downloads[i];
      const dest = join(dir, d.fileName);
      const expected = { size: d.size, sha256: d.sha256, sha512: d.sha512 };
      if (!d.sha256 && !d.sha512) {
        failure = new VerificationError(`${label(d)}: ${d.url} has no digest in the repository metadata; refusing an unverifiable download`);
        return;
      }
      if (await verifyExisting(dest, expected)) {
        results[i] = { download: d, path: dest, cached: true };
        doneBytes += d.size;
        continue;
      }
      const bar = bars?.create(d.size, 0, { name: label(d) });
      let counted = 0;
      for (let attempt = 0; ; attempt++) {
        try {
          await downloadFile({
            url: d.url,
            dest,
            expected,
            what: label(d),
            onBytes: (received) => {
              doneBytes += received - counted;
              counted = received;
              bar?.update(Math.min(received, d.size));
              plain(false);
            },
          });
          if (!bars) say(`Get: ${d.url} [${formatBytes(d.size)}]`);
          results[i] = { download: d, path: dest, cached: false };
          break;
        } catch (err) {
          doneBytes -= counted;
          counted = 0;
          const retryable = !(err instanceof LayerError) || err instanceof VerificationError || /HTTP 5\d\d|ECONN|ETIMEDOUT|socket/i.test(err.message);
          if (attempt >= retries || !retryable || d.url.startsWith('file:')) {
            failure ??= err;
            break;
          }
          say(`retrying ${label(d)} (${(err as Error).message})`);
          await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
        }
      }
      bar && bars?.remove(bar);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, downloads.length) }, worker));
  } finally {
    bars?.stop();
  }
  if (failure !== undefined) throw failure;
  plain(true);
  return results;
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}
