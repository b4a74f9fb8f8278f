/** repomd.xml: the repository's table of contents (where primary and filelists are, with their checksums). */
import type * as openpgp from 'openpgp';
import { loadOpenpgp } from '../lazy.js';
import { VerificationError } from '@ostree-layer/core';
import { once, parseXml } from './xml.js';

export interface RepomdEntry {
  type: string;
  href: string;
  checksum: { type: string; value: string };
  size?: number;
}

export interface Repomd {
  revision?: string;
  data: Map<string, RepomdEntry>;
}

export async function parseRepomd(xml: Buffer, what: string): Promise<Repomd> {
  const data = new Map<string, RepomdEntry>();
  let revision: string | undefined;
  let current: Partial<RepomdEntry> | undefined;
  let checksumType = '';
  await parseXml(once(xml), what, {
    open(name, attrs) {
      if (name === 'data') current = { type: attrs.type };
      else if (current && name === 'checksum') checksumType = attrs.type ?? '';
      else if (current && name === 'location') current.href = attrs.href;
    },
    close(name, text) {
      if (name === 'revision' && !current) revision = text.trim();
      else if (current && name === 'checksum') current.checksum = { type: checksumType, value: text.trim() };
      else if (current && name === 'size') current.size = Number(text.trim());
      else if (name === 'data' && current) {
        if (current.type && current.href && current.checksum) data.set(current.type, current as RepomdEntry);
        current = undefined;
      }
    },
  });
  return { revision, data };
}

/** Checks repomd.xml.asc (an armored detached signature) against the repository's keys. */
export async function verifyRepomdSignature(xml: Buffer, armored: string, keys: openpgp.PublicKey[], what: string): Promise<string> {
  const pgp = await loadOpenpgp();
  let signature: openpgp.Signature;
  try {
    signature = await pgp.readSignature({ armoredSignature: armored });
  } catch (err) {
    throw new VerificationError(`${what}.asc cannot be parsed (${(err as Error).message}); the repository signature is corrupt`, { cause: err });
  }
  const message = await pgp.createMessage({ binary: xml });
  const result = await pgp.verify({ message, signature, verificationKeys: keys, format: 'binary' });
  const first = result.signatures[0];
  const keyId = first ? first.keyID.toHex() : 'unknown';
  try {
    if (!first) throw new Error('no signature packet');
    await first.verified;
  } catch (err) {
    throw new VerificationError(`${what}: signature by key ${keyId} does not verify against the repository's gpgkey (${(err as Error).message}); the metadata was tampered with or the key is wrong`, { cause: err });
  }
  return keyId;
}
