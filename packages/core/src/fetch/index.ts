/**
 * The downloader: package files fetched in parallel with a bound, retried on transient failures, verified by size
 * and digest, and renamed into `<cacheDir>/archives/` only when correct (so a later run reuses them). Progress goes
 * out as {@link ReportEvent}s (totals, bytes so far, the end); drawing them is the caller's business.
 */
import { join } from 'node:path';
import { mapBounded } from '../concurrency.js';
import { LayerError, VerificationError } from '../errors.js';
import type { Report } from '../report.js';
import type { Download } from '../repository.js';
import { downloadFile, verifyExisting } from './download.js';

export {
  byteLimit, downloadFile, INDEX_MAX_BYTES, METADATA_MAX_BYTES, NotFoundError, openUrl, readUrl, UnreachableError, verifyExisting, type DownloadFileOptions,
  type Expected,
} from './download.js';
export { describeAge, fetchKeepingCopy, type KeptFetch } from './offline.js';

export interface FetchOptions {
  /** Files go to `<cacheDir>/archives/<fileName>`. */
  cacheDir: string;
  /** Downloads in flight at once (default 4). */
  concurrency?: number;
  /** Extra attempts after a failed one (default 2). A digest mismatch is retried too: a proxy may have mangled it. */
  retries?: number;
  /** Where progress events go. */
  report?: Report;
  /** Label for messages, per download ("htop 3.2.2-2"). Default: the file name. */
  label?: (d: Download) => string;
}

export interface Fetched {
  download: Download;
  path: string;
  /** Already in the cache with the right digest: nothing was transferred. */
  cached: boolean;
}

/** Fetches every download; rejects with the first failure once the in-flight ones have settled. */
export async function fetchAll(downloads: Download[], options: FetchOptions): Promise<Fetched[]> {
  const started = performance.now();
  const dir = join(options.cacheDir, 'archives');
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const retries = options.retries ?? 2;
  const label = options.label ?? ((d: Download) => d.fileName);
  const emit = (e: Parameters<Report['emit']>[0]) => options.report?.emit(e);
  const say = (text: string) => emit({ type: 'message', text });

  const results = new Array<Fetched>(downloads.length);
  // Cached files count as done before anything is transferred, so the total and the ETA are about real bytes.
  const cached = await Promise.all(downloads.map((d) => verifyExisting(join(dir, d.fileName), { size: d.size, sha256: d.sha256, sha512: d.sha512 })));
  const totalBytes = downloads.reduce((n, d) => n + d.size, 0);
  const cachedBytes = downloads.reduce((n, d, i) => n + (cached[i] ? d.size : 0), 0);
  let doneBytes = cachedBytes;
  emit({ type: 'download-start', files: downloads.length, totalBytes, cachedBytes });

  // One at a time per slot; after the first failure no new download starts, and the failure is thrown once the
  // downloads in flight have settled.
  await mapBounded(downloads.map((_, i) => i), concurrency, async (i) => {
    const d = downloads[i]!;
    const dest = join(dir, d.fileName);
    const expected = { size: d.size, sha256: d.sha256, sha512: d.sha512 };
    if (!d.sha256 && !d.sha512) {
      throw new VerificationError(`${label(d)}: ${d.url} has no digest in the repository metadata; refusing an unverifiable download`);
    }
    if (cached[i]) {
      results[i] = { download: d, path: dest, cached: true };
      return;
    }
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
            emit({ type: 'download-progress', doneBytes, totalBytes });
          },
        });
        say(`Get: ${d.url} [${formatBytes(d.size)}]`);
        results[i] = { download: d, path: dest, cached: false };
        return;
      } catch (err) {
        doneBytes -= counted;
        counted = 0;
        const retryable = !(err instanceof LayerError) || err instanceof VerificationError || /HTTP 5\d\d|ECONN|ETIMEDOUT|socket/i.test(err.message);
        if (attempt >= retries || !retryable || d.url.startsWith('file:')) throw err;
        emit({ type: 'warning', text: `retrying ${label(d)} (${(err as Error).message})` });
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      }
    }
  });
  emit({ type: 'download-end', fetchedBytes: totalBytes - cachedBytes, ms: performance.now() - started, files: downloads.filter((_, i) => !cached[i]).length });
  return results;
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}
