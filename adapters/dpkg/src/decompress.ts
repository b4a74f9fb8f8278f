/** Which compression a .deb member uses, by its name's suffix; the decompression itself is core's. */
import type { Compression } from '@ostree-layer/core';

export { decompress, type Compression } from '@ostree-layer/core';

const SUFFIXES: Record<string, Compression> = {
  '': 'none', '.gz': 'gzip', '.xz': 'xz', '.lzma': 'lzma', '.zst': 'zstd', '.bz2': 'bzip2',
};

/** The compression of a member named `<base>.tar<suffix>`, or null when it is not such a member. */
export function memberCompression(member: string, base: 'control' | 'data'): Compression | null {
  if (!member.startsWith(`${base}.tar`)) return null;
  return SUFFIXES[member.slice(base.length + 4)] ?? null;
}
