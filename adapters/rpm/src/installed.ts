/**
 * The header rpm stores for an installed package: the package's main header untouched (its immutable region
 * included), plus the signature tags rpm copies over and the tags an install adds, appended after the region.
 * Checked against rpm 4.18's `rpm -i --justdb`: SIGSIZE, SIGMD5, SHA1HEADER, SHA256HEADER, ARCHIVESIZE (+RSA/DSA/…
 * when signed), INSTALLTIME, FILESTATES, INSTALLCOLOR, INSTALLTID.
 */
import { endianness } from 'node:os';
import { PackageFormatError } from '@ostree-layer/core';
import { SigTag, Tag, appendEntries, charEntry, copyEntry, int32Entry, type NewEntry, type RpmHeader } from './header.js';

/** Signature-header tags whose number changes when rpm merges them into the main header. */
const SIG_TO_HEADER: Record<number, number> = {
  [SigTag.Size]: Tag.SigSize, [SigTag.Pgp]: Tag.SigPgp, [SigTag.Md5]: Tag.SigMd5, [SigTag.Gpg]: Tag.SigGpg,
  [SigTag.Pgp5]: 263, [SigTag.PayloadSize]: Tag.ArchiveSize,
  [SigTag.FileSignatures]: Tag.FileSignatures, [SigTag.FileSignatureLength]: Tag.FileSignatureLength,
  [SigTag.VeritySignatures]: Tag.VeritySignatures, [SigTag.VeritySignatureAlgo]: Tag.VeritySignatureAlgo,
};

export interface InstallStamp {
  /** Seconds since the epoch, used for INSTALLTIME and INSTALLTID (one transaction). */
  time: number;
  /** The transaction colour rpm records (3 on multilib x86_64 systems). */
  color: number;
}

/** The blob to store in rpmdb's Packages table for a package being layered. */
export function installedBlob(header: RpmHeader, signature: RpmHeader, fileCount: number, stamp: InstallStamp, file: string): Buffer {
  if (!header.has(Tag.HeaderImmutable)) {
    throw new PackageFormatError(file, 'header has no immutable region (a pre-rpm-4 package); rpm 4.18 rewrites such headers on install, this tool does not: rebuild the package');
  }
  const added: NewEntry[] = [];
  const taken = new Set<number>();
  for (const e of signature.entries) {
    let tag = SIG_TO_HEADER[e.tag];
    if (tag === undefined) {
      if (e.tag < 256 || e.tag >= 1000) continue;
      tag = e.tag;
    }
    if (header.has(tag) || taken.has(tag)) continue;
    taken.add(tag);
    added.push(copyEntry(signature, e, tag));
  }
  added.push(int32Entry(Tag.InstallTime, [stamp.time]));
  if (fileCount > 0) added.push(charEntry(Tag.FileStates, new Array(fileCount).fill(0)));
  added.push(int32Entry(Tag.InstallColor, [stamp.color]));
  added.push(int32Entry(Tag.InstallTid, [stamp.time]));
  return appendEntries(header, added);
}

/** INSTALLTID as the Installtid index stores it: the int32 in host byte order. */
export function tidKey(tid: number): Buffer {
  const b = Buffer.alloc(4);
  if (endianness() === 'LE') b.writeUInt32LE(tid >>> 0);
  else b.writeUInt32BE(tid >>> 0);
  return b;
}
