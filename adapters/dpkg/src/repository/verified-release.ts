/**
 * Signature checks of Release files, remembered. apt verifies InRelease at `apt update` and trusts its lists from then
 * on; we fetch the Release on every run, and most runs get the very bytes verified last time. Checking the same
 * signature again with the same keys can only give the same answer, so the answer is kept under
 * `<cache>/dpkg/verified/<digest>.json`, named by the SHA-256 of the signed bytes (and detached signature) together
 * with the bytes of every trusted keyring. A changed file, signature or keyring is a new name and is verified in
 * full; Valid-Until is still checked on every run by the caller, on the kept text. The cache directory is trusted as
 * the index caches beside it are (they are not re-hashed on a warm run either).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What a suite's signature covers: an InRelease, or a Release with its Release.gpg (when there is one). */
export type SignedInput = { kind: 'InRelease'; signed: string } | { kind: 'Release'; signed: string; detached?: string };

/** Bumped when what a record means changes: older records are then ignored. */
const FORMAT = 1;

interface Verified {
  text: string;
  signedBy: string;
}

/** The kept result of verifying `input` with `keyrings`, or `verify()`'s (kept when it succeeds; failures never are). */
export async function keptVerification(
  cacheDir: string | undefined,
  input: SignedInput,
  keyrings: ReadonlyArray<{ data: Buffer }>,
  verify: () => Promise<Verified>,
): Promise<Verified> {
  if (!cacheDir) return verify();
  const record = join(cacheDir, 'dpkg', 'verified', `${verificationKey(input, keyrings)}.json`);
  try {
    const kept = JSON.parse(await readFile(record, 'utf8')) as Partial<Verified> & { format?: number };
    if (kept.format === FORMAT && typeof kept.text === 'string' && typeof kept.signedBy === 'string') return { text: kept.text, signedBy: kept.signedBy };
  } catch {
    // Not verified before (or an unreadable record): verify now.
  }
  const verified = await verify();
  await mkdir(join(cacheDir, 'dpkg', 'verified'), { recursive: true });
  const tmp = `${record}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ format: FORMAT, ...verified }));
  await rename(tmp, record);
  return verified;
}

/** Every byte the answer depends on, each part length-prefixed so that no two inputs share a digest by concatenation. */
export function verificationKey(input: SignedInput, keyrings: ReadonlyArray<{ data: Buffer }>): string {
  const hash = createHash('sha256');
  const part = (bytes: Buffer | string) => {
    const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    hash.update(`${b.length}:`).update(b);
  };
  part(input.kind);
  part(input.signed);
  part(input.kind === 'Release' ? (input.detached ?? '\0none') : '');
  for (const k of keyrings) part(k.data);
  return hash.digest('hex');
}
