/**
 * Signature checks of sync databases and packages, the way pacman decides them but without a GnuPG home: the trusted
 * keys are those `pacman-key --populate` would trust, read straight from the keyrings the tree ships in
 * /usr/share/pacman/keyrings (`<name>.gpg` keys, `<name>-trusted` "FINGERPRINT:LEVEL" lines, `<name>-revoked`
 * fingerprints). `SigLevel` says when to check (Never, Optional, Required; Package… and Database… prefixes) and which
 * keys count (TrustedOnly, the default, or TrustAll: every key of the keyrings).
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type * as openpgp from 'openpgp';
import { loadOpenpgp } from '../lazy.js';
import { SystemStateError, VerificationError, type TreeReader } from '@ostree-layer/core';

export const KEYRING_DIR = '/usr/share/pacman/keyrings';

export type CheckLevel = 'never' | 'optional' | 'required';

export interface SigPolicy {
  database: CheckLevel;
  package: CheckLevel;
  trustAll: { database: boolean; package: boolean };
}

/** Applies SigLevel words left to right over pacman's built-in default ("Optional TrustedOnly"). */
export function sigPolicy(words: string[]): SigPolicy {
  const policy: SigPolicy = { database: 'optional', package: 'optional', trustAll: { database: false, package: false } };
  for (const word of words) {
    const m = /^(Package|Database)?(Never|Optional|Required|TrustedOnly|TrustAll)$/.exec(word);
    if (!m) throw new VerificationError(`SigLevel "${word}" is not one pacman knows (Never, Optional, Required, TrustedOnly, TrustAll, with a Package or Database prefix)`);
    const targets = m[1] ? [m[1].toLowerCase() as 'package' | 'database'] : (['package', 'database'] as const);
    for (const t of targets) {
      if (m[2] === 'TrustAll' || m[2] === 'TrustedOnly') policy.trustAll[t] = m[2] === 'TrustAll';
      else policy[t] = m[2]!.toLowerCase() as CheckLevel;
    }
  }
  return policy;
}

export interface Keyring {
  /** Keys `pacman-key --populate` marks trusted (and not revoked). */
  trusted: openpgp.PublicKey[];
  /** Every key of the keyrings that is not revoked (TrustAll). */
  all: openpgp.PublicKey[];
}

const fingerprints = (text: string) => new Set(text.split('\n').map((l) => l.replace(/#.*/, '').trim().split(':')[0]!.toUpperCase()).filter(Boolean));

/** The keys of the tree's pacman keyrings. A tree without any has an empty keyring. */
export async function readKeyring(tree: TreeReader): Promise<Keyring> {
  const keyring: Keyring = { trusted: [], all: [] };
  if ((await tree.lstat(KEYRING_DIR))?.type !== 'directory') return keyring;
  const pgp = await loadOpenpgp();
  const names = await tree.readdir(KEYRING_DIR);
  const text = async (name: string) => (names.includes(name) ? (await tree.readFile(`${KEYRING_DIR}/${name}`)).toString('utf8') : '');
  for (const file of names.filter((n) => n.endsWith('.gpg')).sort()) {
    const base = file.slice(0, -4);
    const trusted = fingerprints(await text(`${base}-trusted`));
    const revoked = fingerprints(await text(`${base}-revoked`));
    const data = await tree.readFile(`${KEYRING_DIR}/${file}`);
    const keys = await (data.subarray(0, 5).toString() === '-----' ? pgp.readKeys({ armoredKeys: data.toString('utf8') }) : pgp.readKeys({ binaryKeys: data })).catch((err: Error) => {
      throw new SystemStateError(`${tree.description}: the pacman keyring ${KEYRING_DIR}/${file} (${data.length} bytes) cannot be read (${err.message}); reinstall the keyring package`, { cause: err });
    });
    for (const key of keys) {
      const fingerprint = key.getFingerprint().toUpperCase();
      if (revoked.has(fingerprint)) continue;
      keyring.all.push(key);
      if (trusted.has(fingerprint)) keyring.trusted.push(key);
    }
  }
  return keyring;
}

async function readDetached(sig: Uint8Array, what: string): Promise<openpgp.Signature> {
  const pgp = await loadOpenpgp();
  try {
    const armored = Buffer.from(sig.subarray(0, 5)).toString() === '-----';
    return armored ? await pgp.readSignature({ armoredSignature: Buffer.from(sig).toString('utf8') }) : await pgp.readSignature({ binarySignature: sig });
  } catch (err) {
    throw new VerificationError(`${what}: the signature cannot be parsed (${(err as Error).message})`, { cause: err });
  }
}

/**
 * Verifies a detached signature (binary or armored) by one of `keys` over `data`, or over the file at `data.file`
 * streamed (a package is never read whole). Throws a VerificationError naming `what`.
 */
export async function verifyDetached(data: Uint8Array | { file: string }, sig: Uint8Array, keys: openpgp.PublicKey[], what: string): Promise<void> {
  const pgp = await loadOpenpgp();
  if (keys.length === 0) throw new VerificationError(`${what} is signed, but the deployment trusts no pacman key (${KEYRING_DIR} has none marked trusted); install the repository's keyring package first`);
  const signature = await readDetached(sig, what);
  const binary = data instanceof Uint8Array ? data : (Readable.toWeb(createReadStream(data.file)) as unknown as ReadableStream<Uint8Array>);
  let first: openpgp.VerifyMessageResult['signatures'][number] | undefined;
  try {
    const result = await pgp.verify({ message: await pgp.createMessage({ binary }), signature, verificationKeys: keys, format: 'binary' });
    // A streamed message must be read through before the signature is decided.
    if (!(data instanceof Uint8Array)) {
      const reader = (result.data as unknown as ReadableStream<Uint8Array>).getReader();
      while (!(await reader.read()).done);
    }
    first = result.signatures[0];
    if (!first) throw new Error('no signature packet');
    await first.verified;
  } catch (err) {
    throw new VerificationError(`${what}: the signature (key ${first?.keyID.toHex() ?? 'unknown'}) does not verify against the trusted keys (${(err as Error).message}); it is not what the signer made`, { cause: err });
  }
}
