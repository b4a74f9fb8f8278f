/**
 * OpenPGP header signatures (RSAHEADER / DSAHEADER, which also carry EdDSA and ECDSA): a detached signature over
 * the main header, magic included. Checked with openpgp 6 against keys the caller trusts.
 */
import type * as openpgp from 'openpgp';
import { loadOpenpgp } from './lazy.js';
import { VerificationError } from '@ostree-layer/core';
import { HEADER_MAGIC, Tag } from './header.js';
import type { RpmArchive } from './archive.js';

export interface SignatureResult {
  /** Hex key id of the key that made the signature. */
  keyId: string;
}

/** Reads armored or binary OpenPGP public keys (a keyring file's contents). */
export async function readKeys(data: string | Uint8Array): Promise<openpgp.PublicKey[]> {
  const pgp = await loadOpenpgp();
  return typeof data === 'string'
    ? pgp.readKeys({ armoredKeys: data })
    : pgp.readKeys({ binaryKeys: data });
}

/**
 * Verifies the package's header signature against `keys`. Throws VerificationError when the package is unsigned,
 * signed by an unknown key, or the signature does not verify.
 */
export async function verifyHeaderSignature(a: RpmArchive, keys: openpgp.PublicKey[]): Promise<SignatureResult> {
  const pgp = await loadOpenpgp();
  const sig = a.signature.bin(Tag.Rsa) ?? a.signature.bin(Tag.Dsa);
  if (!sig) throw new VerificationError(`${a.file}: the package has no header signature; fetch it from a signed repository or sign it with rpmsign`);
  const headerBytes = Buffer.concat([HEADER_MAGIC, Buffer.alloc(4), a.header.blob]);
  let signature: openpgp.Signature;
  try {
    signature = await pgp.readSignature({ binarySignature: sig });
  } catch (err) {
    throw new VerificationError(`${a.file}: the header signature cannot be parsed (${(err as Error).message})`, { cause: err });
  }
  const message = await pgp.createMessage({ binary: headerBytes });
  const result = await pgp.verify({ message, signature, verificationKeys: keys, format: 'binary' });
  const first = result.signatures[0];
  const keyId = first ? first.keyID.toHex() : 'unknown';
  try {
    await first.verified;
  } catch (err) {
    throw new VerificationError(`${a.file}: header signature by key ${keyId} does not verify against the trusted keys (${(err as Error).message}); import the vendor's key or do not trust this package`, { cause: err });
  }
  return { keyId };
}
