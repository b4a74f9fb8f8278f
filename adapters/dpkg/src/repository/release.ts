/**
 * The signed Release file of one suite: fetched as InRelease (clear-signed) or Release + Release.gpg (detached),
 * verified with OpenPGP against the source's keyring, checked for expiry (Valid-Until), and parsed into the list of
 * index files with their sizes and SHA256 digests. Only the verified text is ever parsed.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as OpenPGP from 'openpgp';
import { describeAge, fetchKeepingCopy, NotFoundError, readUrl, VerificationError, type TreeReader } from '@ostree-layer/core';
import { parseParagraphs } from '../control.js';
import type { SourceEntry } from './sources.js';
import { keptVerification, type SignedInput } from './verified-release.js';

/** openpgp costs ~50 ms and ~35 MB to load and run: only a Release not verified before (verified-release.ts) needs it. */
const loadOpenpgp = (): Promise<typeof OpenPGP> => import('openpgp');

export interface ReleaseFile {
  size: number;
  sha256: string;
}

export interface Release {
  /** URL of the directory the Release paths are relative to ("…/dists/bookworm/" or the flat directory). */
  base: string;
  suite: string;
  codename?: string;
  architectures: string[];
  components: string[];
  acquireByHash: boolean;
  /** Pin priority apt gives the suite: 500, 100 (NotAutomatic + ButAutomaticUpgrades) or 1 (NotAutomatic). */
  priority: number;
  /** Path relative to `base` → size and SHA256. */
  files: Map<string, ReleaseFile>;
  /** Key id that made the accepted signature; undefined when unauthenticated input was allowed. */
  signedBy?: string;
}

export interface ReleaseOptions {
  tree: TreeReader;
  allowUnauthenticated?: boolean;
  now?: Date;
  warn?: (line: string) => void;
  /** Keeps a copy of every Release piece fetched, used (and verified again) when the mirror cannot be reached. */
  cacheDir?: string;
}

async function readUrlText(url: string): Promise<string> {
  return (await readUrl(url)).toString('utf8');
}

async function tryText(url: string): Promise<string | undefined> {
  try {
    return await readUrlText(url);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** {@link tryText}, answered from the copy kept in `cacheDir` when the server cannot be reached (said once via `warn`). */
function keptText(cacheDir: string | undefined, label: string, warn: (line: string) => void): (url: string) => Promise<string | undefined> {
  if (!cacheDir) return tryText;
  let warned = false;
  return async (url) => {
    const kept = await fetchKeepingCopy(url, join(cacheDir, 'dpkg', 'releases'), async () => {
      const text = await tryText(url);
      return text === undefined ? undefined : Buffer.from(text, 'utf8');
    });
    if (kept.stale && !warned) {
      warned = true;
      warn(`${label}: unreachable (${kept.stale.reason}); using the Release verified ${describeAge(kept.stale.ageMs)} ago`);
    }
    return kept.data?.toString('utf8');
  };
}

/** Reads keys from a keyring file's bytes: armored (.asc) or binary (.gpg); undefined when it holds none we can use. */
async function keysFrom(data: Buffer): Promise<OpenPGP.PublicKey[]> {
  const openpgp = await loadOpenpgp();
  const text = data.subarray(0, 64).toString('latin1');
  if (text.includes('-----BEGIN PGP')) return openpgp.readKeys({ armoredKeys: data.toString('utf8') });
  return openpgp.readKeys({ binaryKeys: new Uint8Array(data) });
}

/** The keyring files a source trusts (its Signed-By, else the tree's trusted.gpg and trusted.gpg.d, as apt), read but not parsed. */
async function sourceKeyrings(source: SourceEntry, tree: TreeReader, warn: (l: string) => void): Promise<{ keyrings: Array<{ path: string; data: Buffer }>; from: string }> {
  if (source.signedByInline) return { keyrings: [{ path: '(inline)', data: Buffer.from(source.signedByInline, 'utf8') }], from: `${source.origin} (inline Signed-By)` };
  const read = async (path: string): Promise<Buffer | undefined> => {
    if (source.hostPaths) return readFile(path).catch(() => undefined);
    for (const p of path.startsWith('/etc/') ? [path, `/usr${path}`] : [path]) {
      const st = await tree.lstat(p);
      if (st && st.type !== 'directory') return tree.readFile(p).catch(() => undefined);
    }
    return undefined;
  };
  let paths: string[];
  if (source.signedBy) {
    // Signed-By may also name fingerprints instead of files; only files are supported here.
    paths = source.signedBy.filter((p) => p.startsWith('/'));
  } else {
    paths = [];
    for (const dir of ['/usr/etc/apt', '/etc/apt']) {
      if (await tree.lstat(`${dir}/trusted.gpg`)) paths.push(`${dir}/trusted.gpg`);
      const d = `${dir}/trusted.gpg.d`;
      if ((await tree.lstat(d))?.type === 'directory') {
        for (const n of (await tree.readdir(d)).sort()) if (/\.(gpg|asc)$/.test(n)) paths.push(`${d}/${n}`);
      }
    }
  }
  const keyrings: Array<{ path: string; data: Buffer }> = [];
  for (const path of paths) {
    const data = await read(path);
    if (!data) {
      if (source.signedBy) warn(`${source.origin}: keyring ${path} does not exist${source.hostPaths ? '' : ` in ${tree.description}`}`);
      continue;
    }
    keyrings.push({ path, data });
  }
  return { keyrings, from: paths.join(', ') || '(no keyring configured)' };
}

/** The keys of a source's keyrings (see {@link sourceKeyrings}). */
export async function sourceKeys(source: SourceEntry, tree: TreeReader, warn: (l: string) => void): Promise<{ keys: OpenPGP.PublicKey[]; from: string }> {
  const { keyrings, from } = await sourceKeyrings(source, tree, warn);
  return { keys: await parseKeyrings(source, keyrings, warn), from };
}

async function parseKeyrings(source: SourceEntry, keyrings: Array<{ path: string; data: Buffer }>, warn: (l: string) => void): Promise<OpenPGP.PublicKey[]> {
  if (source.signedByInline) return (await loadOpenpgp()).readKeys({ armoredKeys: source.signedByInline });
  const keys: OpenPGP.PublicKey[] = [];
  for (const { path, data } of keyrings) {
    try {
      keys.push(...(await keysFrom(data)));
    } catch (err) {
      warn(`${path}: not an OpenPGP keyring openpgp can read (${(err as Error).message}); skipped`);
    }
  }
  return keys;
}

/** Checks that at least one signature verifies with a trusted key and that none by a trusted key is bad. */
async function checkSignatures(
  signatures: Awaited<ReturnType<typeof OpenPGP.verify>>['signatures'],
  keys: OpenPGP.PublicKey[],
  what: string,
  keyring: string,
): Promise<string> {
  const trusted = new Set(keys.flatMap((k) => k.getKeys().map((s) => s.getKeyID().toHex())));
  let good: string | undefined;
  const bad: string[] = [];
  for (const sig of signatures) {
    const id = sig.keyID.toHex();
    try {
      await sig.verified;
      good ??= id;
    } catch (err) {
      if (trusted.has(id)) bad.push(`${id}: ${(err as Error).message}`);
    }
  }
  if (bad.length > 0) throw new VerificationError(`${what}: BAD signature (${bad.join('; ')}); the metadata was modified after signing; refusing it`);
  if (!good) {
    const ids = signatures.map((s) => s.keyID.toHex()).join(', ') || 'none';
    throw new VerificationError(
      `${what}: not signed by a trusted key (signature key id(s): ${ids}; keyring: ${keyring}); add the repository's key with signed-by=, or pass --allow-unauthenticated`,
    );
  }
  return good;
}

function releaseBase(source: SourceEntry): string {
  if (source.suite.endsWith('/')) return `${source.uri}/${source.suite === './' ? '' : source.suite}`;
  return `${source.uri}/dists/${source.suite}/`;
}

/** Fetches, verifies and parses the Release of one source. */
export async function fetchRelease(source: SourceEntry, options: ReleaseOptions): Promise<Release> {
  const warn = options.warn ?? (() => undefined);
  const base = releaseBase(source);
  const label = `${source.uri} ${source.suite}`;
  const unauthenticatedOk = options.allowUnauthenticated || source.trusted;
  const fetchText = keptText(options.cacheDir, label, warn);
  const inRelease = await fetchText(`${base}InRelease`);
  let input: SignedInput;
  if (inRelease !== undefined) input = { kind: 'InRelease', signed: inRelease };
  else {
    const release = await fetchText(`${base}Release`);
    if (release === undefined) throw new NotFoundError(`${label}: neither ${base}InRelease nor ${base}Release exists; check the source line`);
    input = { kind: 'Release', signed: release, detached: await fetchText(`${base}Release.gpg`) };
  }
  let text: string;
  let signedBy: string | undefined;
  if (unauthenticatedOk) text = input.kind === 'InRelease' ? await cleartextOf(input.signed, `${base}InRelease`) : input.signed;
  else {
    const { keyrings, from } = await sourceKeyrings(source, options.tree, warn);
    ({ text, signedBy } = await keptVerification(options.cacheDir, input, keyrings, async () =>
      verifySigned(input, await parseKeyrings(source, keyrings, warn), from, base),
    ));
  }
  return parseRelease(text, base, label, { now: options.now, checkExpiry: !unauthenticatedOk, signedBy });
}

/** The text of a clear-signed message, signature unchecked (the user allowed unauthenticated input). */
async function cleartextOf(signed: string, what: string): Promise<string> {
  try {
    return (await (await loadOpenpgp()).readCleartextMessage({ cleartextMessage: signed })).getText();
  } catch (err) {
    throw new VerificationError(`${what}: not a valid clear-signed OpenPGP message (${(err as Error).message}); refusing it`, { cause: err });
  }
}

/** Checks the signature of an InRelease, or of a Release with its Release.gpg, against `keys`; the signed text and signer. */
async function verifySigned(input: SignedInput, keys: OpenPGP.PublicKey[], from: string, base: string): Promise<{ text: string; signedBy: string }> {
  const openpgp = await loadOpenpgp();
  if (input.kind === 'InRelease') {
    const what = `${base}InRelease`;
    try {
      const message = await openpgp.readCleartextMessage({ cleartextMessage: input.signed });
      const result = await openpgp.verify({ message, verificationKeys: keys });
      const signedBy = await checkSignatures(result.signatures, keys, what, from);
      return { text: String(result.data), signedBy };
    } catch (err) {
      if (err instanceof VerificationError) throw err;
      throw new VerificationError(`${what}: not a valid clear-signed OpenPGP message (${(err as Error).message}); refusing it`, { cause: err });
    }
  }
  const what = `${base}Release`;
  if (input.detached === undefined) throw new VerificationError(`${what}: the repository is not signed (no InRelease or Release.gpg); pass --allow-unauthenticated to use it anyway`);
  let signature: OpenPGP.Signature;
  try {
    signature = await openpgp.readSignature({ armoredSignature: input.detached });
  } catch (err) {
    throw new VerificationError(`${base}Release.gpg: not an OpenPGP signature (${(err as Error).message})`, { cause: err });
  }
  const message = await openpgp.createMessage({ binary: Buffer.from(input.signed, 'utf8') });
  const result = await openpgp.verify({ message, signature, verificationKeys: keys, format: 'binary' });
  return { text: input.signed, signedBy: await checkSignatures(result.signatures, keys, what, from) };
}

/** Parses verified Release text. Throws when Valid-Until has passed (unless expiry checks are off). */
export function parseRelease(text: string, base: string, label: string, opts: { now?: Date; checkExpiry?: boolean; signedBy?: string } = {}): Release {
  const [p] = parseParagraphs(text);
  if (!p) throw new VerificationError(`${label}: empty Release file`);
  const validUntil = p.get('Valid-Until');
  if (validUntil && opts.checkExpiry !== false) {
    const until = Date.parse(validUntil.trim());
    const now = (opts.now ?? new Date()).getTime();
    if (Number.isFinite(until) && until < now) {
      throw new VerificationError(`${label}: the Release file expired on ${validUntil.trim()} (Valid-Until); the mirror is stale or replayed. Use a current mirror, or --allow-unauthenticated`);
    }
  }
  const files = new Map<string, ReleaseFile>();
  for (const line of (p.get('SHA256') ?? '').split('\n')) {
    const m = /^\s*([0-9a-f]{64})\s+(\d+)\s+(\S+)\s*$/i.exec(line);
    if (m) files.set(m[3], { sha256: m[1].toLowerCase(), size: Number(m[2]) });
  }
  if (files.size === 0) throw new VerificationError(`${label}: the Release file lists no SHA256 digests; refusing indexes that cannot be verified`);
  const yes = (f: string) => (p.get(f) ?? '').trim().toLowerCase() === 'yes';
  return {
    base,
    suite: (p.get('Suite') ?? '').trim(),
    codename: p.get('Codename')?.trim(),
    architectures: (p.get('Architectures') ?? '').trim().split(/\s+/).filter(Boolean),
    components: (p.get('Components') ?? '').trim().split(/\s+/).filter(Boolean),
    acquireByHash: yes('Acquire-By-Hash'),
    priority: yes('NotAutomatic') ? (yes('ButAutomaticUpgrades') ? 100 : 1) : 500,
    files,
    signedBy: opts.signedBy,
  };
}
