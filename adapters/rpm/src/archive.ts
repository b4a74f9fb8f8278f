/**
 * Opening an .rpm: the 96-byte lead, the signature header (padded to 8 bytes), the main header, and the compressed
 * cpio payload after it. Metadata is parsed and digests are checked at open; the payload is streamed on demand.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { LayerError, PackageFormatError, type Compression } from '@ostree-layer/core';
import { HEADER_MAGIC, SigTag, Tag, checkCounts, parseHeaderBlob, type RpmHeader } from './header.js';

export const LEAD_MAGIC = Buffer.from([0xed, 0xab, 0xee, 0xdb]);
const LEAD_SIZE = 96;

/** The payload compressors rpm writes: the ones core decompresses. */
export type Compressor = Compression;

/** The structure of an .rpm file: both headers and where each part starts. */
export interface RpmArchive {
  file: string;
  /** Lead format version (3 or 4) and whether the lead says "source package". */
  leadMajor: number;
  source: boolean;
  signature: RpmHeader;
  header: RpmHeader;
  /** Byte offsets of the main header (its magic) and the payload. */
  headerOffset: number;
  payloadOffset: number;
  fileSize: number;
}

async function readAt(fd: import('node:fs/promises').FileHandle, position: number, length: number, file: string, what: string): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fd.read(buf, 0, length, position);
  if (bytesRead !== length) throw new PackageFormatError(file, `file is truncated inside ${what} (wanted ${length} bytes at ${position}, got ${bytesRead}); download it again`);
  return buf;
}

async function readHeaderAt(fd: import('node:fs/promises').FileHandle, position: number, file: string, what: string, fileSize: number): Promise<{ header: RpmHeader; end: number }> {
  const intro = await readAt(fd, position, 16, file, what);
  if (!intro.subarray(0, 4).equals(HEADER_MAGIC)) throw new PackageFormatError(file, `${what} has no header magic at byte ${position}; not an rpm package or corrupt`);
  const il = intro.readUInt32BE(8);
  const dl = intro.readUInt32BE(12);
  checkCounts(il, dl, file, what);
  const size = il * 16 + dl;
  if (position + 16 + size > fileSize) throw new PackageFormatError(file, `${what} claims ${size} bytes but the file ends first; it is truncated or hostile`);
  const rest = await readAt(fd, position + 16, size, file, what);
  const header = parseHeaderBlob(Buffer.concat([intro.subarray(8), rest]), file, what);
  return { header, end: position + 16 + size };
}

/** Reads lead and headers; no payload bytes are read. */
export async function readArchive(file: string): Promise<RpmArchive> {
  const fd = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new PackageFormatError(file, `cannot open the package: ${err.message}`, { cause: err });
  });
  try {
    const fileSize = (await fd.stat()).size;
    const lead = await readAt(fd, 0, LEAD_SIZE, file, 'the lead');
    if (!lead.subarray(0, 4).equals(LEAD_MAGIC)) throw new PackageFormatError(file, 'not an rpm package (no lead magic ed ab ee db)');
    const leadMajor = lead[4];
    if (leadMajor !== 3 && leadMajor !== 4) throw new PackageFormatError(file, `unsupported rpm lead version ${leadMajor}`);
    const sigType = lead.readUInt16BE(78);
    if (sigType !== 5) throw new PackageFormatError(file, `unsupported signature type ${sigType} (only header-style signatures exist since rpm 3)`);
    const sig = await readHeaderAt(fd, LEAD_SIZE, file, 'the signature header', fileSize);
    const headerOffset = sig.end + ((8 - (sig.end % 8)) % 8);
    const main = await readHeaderAt(fd, headerOffset, file, 'the main header', fileSize);
    return {
      file, leadMajor, source: lead.readUInt16BE(6) === 1, signature: sig.header, header: main.header,
      headerOffset, payloadOffset: main.end, fileSize,
    };
  } finally {
    await fd.close();
  }
}

const DIGEST_ALGOS: Record<number, string> = { 1: 'md5', 2: 'sha1', 8: 'sha256', 9: 'sha384', 10: 'sha512', 11: 'sha224' };

function mainHeaderBytes(a: RpmArchive): Buffer {
  return Buffer.concat([HEADER_MAGIC, Buffer.alloc(4), a.header.blob]);
}

/**
 * Checks what rpm checks before trusting a package: header digests (SHA256/SHA1 from the signature header), the
 * declared size, and the payload digest (or, for old packages, the MD5 over header + payload). Streams the payload once.
 */
export async function verifyDigests(a: RpmArchive): Promise<void> {
  const fail = (what: string) => new PackageFormatError(a.file, `${what} does not match: the package is corrupt or was tampered with; download it again`);
  const headerBytes = mainHeaderBytes(a);
  const sha256 = a.signature.string(Tag.Sha256Header);
  if (sha256 && createHash('sha256').update(headerBytes).digest('hex') !== sha256) throw fail('the header SHA-256 digest');
  const sha1 = a.signature.string(Tag.Sha1Header);
  if (sha1 && createHash('sha1').update(headerBytes).digest('hex') !== sha1) throw fail('the header SHA-1 digest');
  const declared = a.signature.number(Tag.LongSigSize) ?? a.signature.number(SigTag.Size);
  if (declared !== undefined && declared !== a.fileSize - a.headerOffset) {
    throw new PackageFormatError(a.file, `the signature header says header + payload are ${declared} bytes but the file has ${a.fileSize - a.headerOffset}; it is truncated or corrupt`);
  }
  const digest = a.header.strings(Tag.PayloadDigest)[0];
  const algo = DIGEST_ALGOS[a.header.number(Tag.PayloadDigestAlgo) ?? 8];
  const md5 = a.signature.bin(SigTag.Md5);
  if (digest && algo) {
    if ((await hashRange(a.file, a.payloadOffset, algo)) !== digest) throw fail('the payload digest');
  } else if (md5) {
    const got = await hashRange(a.file, a.headerOffset, 'md5');
    if (got !== md5.toString('hex')) throw fail('the MD5 digest over header and payload');
  }
}

async function hashRange(file: string, start: number, algo: string): Promise<string> {
  const hash = createHash(algo);
  for await (const chunk of createReadStream(file, { start, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Identifies the payload compression by its magic bytes; the PAYLOADCOMPRESSOR tag is not reliable (ufdio). */
export async function sniffCompressor(a: RpmArchive): Promise<Compressor> {
  const fd = await open(a.file, 'r');
  try {
    const buf = Buffer.alloc(6);
    const { bytesRead } = await fd.read(buf, 0, 6, a.payloadOffset);
    const b = buf.subarray(0, bytesRead);
    if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b.length >= 3 && b.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
    if (b.length >= 6 && b.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    if (b.length >= 6 && b.toString('latin1', 0, 5) === '07070') return 'none';
    if (b.length >= 1 && b[0] === 0x5d) return 'lzma';
    const tag = a.header.string(Tag.PayloadCompressor);
    throw new PackageFormatError(a.file, `payload compression not recognised (tag says ${JSON.stringify(tag ?? 'gzip')}, first bytes ${b.toString('hex')}); the package is truncated or uses an unsupported compressor`);
  } finally {
    await fd.close();
  }
}

export async function fileSize(file: string): Promise<number> {
  return (await stat(file)).size;
}

/** Rethrows anything that is not already one of ours as a PackageFormatError naming the file. */
export function asFormatError(file: string, err: unknown, what: string): LayerError {
  if (err instanceof LayerError) return err;
  return new PackageFormatError(file, `${what}: ${(err as Error).message}`, { cause: err });
}
