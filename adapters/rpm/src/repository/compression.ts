/** Decompression of repodata files by their magic bytes (createrepo_c writes gz, xz, zstd or bz2). */
import { open } from 'node:fs/promises';
import { decompress } from '../payload.js';
import type { Compressor } from '../archive.js';

export async function sniffMetadata(file: string): Promise<AsyncIterable<Buffer>> {
  const fd = await open(file, 'r');
  const magic = Buffer.alloc(6);
  try {
    await fd.read(magic, 0, 6, 0);
  } finally {
    await fd.close();
  }
  let kind: Compressor = 'none';
  if (magic[0] === 0x1f && magic[1] === 0x8b) kind = 'gzip';
  else if (magic.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) kind = 'xz';
  else if (magic.readUInt32LE(0) === 0xfd2fb528) kind = 'zstd';
  else if (magic.subarray(0, 3).toString('latin1') === 'BZh') kind = 'bzip2';
  return decompress(file, 0, kind);
}
