/**
 * Repository metadata that must be fresh when the network answers and may be old when it does not (as apt keeps its
 * lists): every successful fetch keeps a copy of the bytes; when the server cannot be reached, that copy comes back
 * with its age. The caller verifies it again exactly as a fresh answer (signatures, Valid-Until), so an old copy is
 * only ever used if it is still valid.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UnreachableError } from './download.js';

export interface KeptFetch {
  /** The bytes, or undefined when the server said the file does not exist. */
  data?: Buffer;
  /** Set when `data` is the copy kept from an earlier fetch: how old it is, and why the server was not asked. */
  stale?: { ageMs: number; reason: string };
}

/**
 * Runs `fetch` (undefined for "no such file") and keeps its answer under `copyDir`; on an {@link UnreachableError}
 * answers with the copy instead, or rethrows when there is none.
 */
export async function fetchKeepingCopy(url: string, copyDir: string, fetch: () => Promise<Buffer | undefined>): Promise<KeptFetch> {
  const copy = join(copyDir, createHash('sha256').update(url).digest('hex').slice(0, 32));
  try {
    const data = await fetch();
    if (data === undefined) await rm(copy, { force: true });
    else {
      await mkdir(dirname(copy), { recursive: true });
      const tmp = `${copy}.${process.pid}.tmp`;
      await writeFile(tmp, data);
      await rename(tmp, copy);
    }
    return { data };
  } catch (err) {
    if (!(err instanceof UnreachableError)) throw err;
    const st = await stat(copy).catch(() => undefined);
    if (!st) throw err;
    return { data: await readFile(copy), stale: { ageMs: Date.now() - st.mtimeMs, reason: err.message } };
  }
}

/** "40 seconds", "3 hours", "2 days". */
export function describeAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} seconds`;
  if (s < 7200) return `${Math.round(s / 60)} minutes`;
  if (s < 172800) return `${Math.round(s / 3600)} hours`;
  return `${Math.round(s / 86400)} days`;
}
