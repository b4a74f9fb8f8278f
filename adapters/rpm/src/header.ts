/**
 * rpm header structure: the binary index + data store used by the signature header, the main header and every
 * rpmdb row. Parsed into an {@link RpmHeader} once at the edge; every bound is checked before it is trusted, because
 * a header is attacker-controlled input (a downloaded package, a base image's database).
 */
import { isUtf8 } from 'node:buffer';
import { PackageFormatError } from '@ostree-layer/core';

export const HEADER_MAGIC = Buffer.from([0x8e, 0xad, 0xe8, 0x01]);

/** Tag data types as the format numbers them. */
export enum TagType {
  Null = 0, Char = 1, Int8 = 2, Int16 = 3, Int32 = 4, Int64 = 5, String = 6, Bin = 7, StringArray = 8, I18nString = 9,
}

/** The tags this adapter reads or writes. Numbers are the format's; names follow rpmtag.h. */
export const Tag = {
  HeaderSignatures: 62, HeaderImmutable: 63, I18nTable: 100,
  SigSize: 257, SigPgp: 259, SigMd5: 261, SigGpg: 262, Dsa: 267, Rsa: 268, Sha1Header: 269, LongSigSize: 270,
  LongArchiveSize: 271, Sha256Header: 273,
  Name: 1000, Version: 1001, Release: 1002, Epoch: 1003, Summary: 1004, Description: 1005, BuildTime: 1006,
  Size: 1009, License: 1014, Group: 1016, Url: 1020, Os: 1021, Arch: 1022,
  PreIn: 1023, PostIn: 1024, PreUn: 1025, PostUn: 1026,
  FileSizes: 1028, FileStates: 1029, FileModes: 1030, FileRdevs: 1033, FileMtimes: 1034, FileDigests: 1035,
  FileLinkTos: 1036, FileFlags: 1037, FileUserName: 1039, FileGroupName: 1040, SourceRpm: 1044,
  ProvideName: 1047, RequireFlags: 1048, RequireName: 1049, RequireVersion: 1050,
  ConflictFlags: 1053, ConflictName: 1054, ConflictVersion: 1055, InstallTime: 1008, ArchiveSize: 1046,
  TriggerScripts: 1065, TriggerName: 1066, PreInProg: 1085, PostInProg: 1086, PreUnProg: 1087, PostUnProg: 1088,
  ObsoleteName: 1090, FileDevices: 1095, FileInodes: 1096, ProvideFlags: 1112, ProvideVersion: 1113,
  ObsoleteFlags: 1114, ObsoleteVersion: 1115, DirIndexes: 1116, BaseNames: 1117, DirNames: 1118,
  PayloadFormat: 1124, PayloadCompressor: 1125, FileColors: 1140, InstallColor: 1127, InstallTid: 1128,
  OldFileNames: 1027, PreTrans: 1151, PostTrans: 1152, LongFileSizes: 5008, LongSize: 5009,
  RecommendName: 5046, RecommendVersion: 5047, RecommendFlags: 5048,
  SuggestName: 5049, SuggestVersion: 5050, SuggestFlags: 5051,
  SupplementName: 5052, SupplementVersion: 5053, SupplementFlags: 5054,
  EnhanceName: 5055, EnhanceVersion: 5056, EnhanceFlags: 5057,
  TriggerFlags: 1068, Prefixes: 1098, InstPrefixes: 1099, PreTransProg: 1153, PostTransProg: 1154,
  PreInFlags: 5020, PostInFlags: 5021, PostTransFlags: 5025,
  FileTriggerScripts: 5066, FileTriggerScriptProg: 5067, FileTriggerScriptFlags: 5068, FileTriggerName: 5069,
  FileTriggerIndex: 5070, FileTriggerFlags: 5072, TransFileTriggerScripts: 5076, TransFileTriggerScriptProg: 5077,
  TransFileTriggerScriptFlags: 5078, TransFileTriggerName: 5079, TransFileTriggerIndex: 5080,
  TransFileTriggerFlags: 5082, FileTriggerPriorities: 5084, TransFileTriggerPriorities: 5085,
  FileSignatures: 5090, FileSignatureLength: 5091, PayloadDigest: 5092, PayloadDigestAlgo: 5093,
  PayloadDigestAlt: 5097, VeritySignatures: 5099, VeritySignatureAlgo: 5100,
} as const;

/** Signature-header tag numbers that differ from the main header's (rpmSigTag). */
export const SigTag = {
  Size: 1000, LeMd5a: 1001, Pgp: 1002, LeMd5b: 1003, Md5: 1004, Gpg: 1005, Pgp5: 1006, PayloadSize: 1007,
  ReservedSpace: 1008, FileSignatures: 274, FileSignatureLength: 275, VeritySignatures: 276, VeritySignatureAlgo: 277,
} as const;

/** Refusal limits. rpm itself caps a header at 64 Ki tags and 256 MiB of data. */
export const MAX_INDEX_COUNT = 0xffff;
export const MAX_DATA_LENGTH = 256 * 1024 * 1024;

export type TagValue = string | string[] | number[] | bigint[] | Buffer;

export interface HeaderEntry {
  tag: number;
  type: TagType;
  offset: number;
  count: number;
  /** Byte length of the entry's data in the store (computed, bounds-checked). */
  length: number;
}

/** A parsed header. `blob` is the header without its 8-byte magic, exactly as the rpmdb stores it. */
export class RpmHeader {
  private readonly byTag = new Map<number, HeaderEntry>();

  constructor(readonly blob: Buffer, readonly entries: HeaderEntry[], private readonly file: string) {
    for (const e of entries) if (!this.byTag.has(e.tag)) this.byTag.set(e.tag, e);
  }

  /** Offset of the data store inside `blob`. */
  get storeOffset(): number {
    return 8 + this.entries.length * 16;
  }

  has(tag: number): boolean {
    return this.byTag.has(tag);
  }

  entry(tag: number): HeaderEntry | undefined {
    return this.byTag.get(tag);
  }

  /** The raw value: strings for STRING, string[] for arrays and I18N, numbers for integers, a Buffer for BIN. */
  get(tag: number): TagValue | undefined {
    const e = this.byTag.get(tag);
    return e ? decodeEntry(this.blob, this.storeOffset, e) : undefined;
  }

  /** A single string (STRING, first element of an array, or the C-locale text of an I18N string). */
  string(tag: number): string | undefined {
    const v = this.get(tag);
    if (v === undefined) return undefined;
    if (typeof v === 'string') return v;
    if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
    throw this.typeError(tag, 'a string');
  }

  strings(tag: number): string[] {
    const v = this.get(tag);
    if (v === undefined) return [];
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && (v.length === 0 || typeof v[0] === 'string')) return v as string[];
    throw this.typeError(tag, 'a string array');
  }

  /**
   * Strings that name files, users or link targets. They must be valid UTF-8: read any other way, two different
   * byte strings could become one name (and the commit would hold other bytes than the package).
   */
  names(tag: number): string[] {
    const e = this.byTag.get(tag);
    if (!e) return [];
    if (e.type !== TagType.StringArray && e.type !== TagType.String) throw this.typeError(tag, 'a string array');
    const slices = e.type === TagType.String ? [this.blob.subarray(this.storeOffset + e.offset, this.storeOffset + e.offset + e.length - 1)] : stringSlices(this.blob, this.storeOffset + e.offset, e.count);
    return slices.map((bytes) => {
      if (!isUtf8(bytes)) {
        throw new PackageFormatError(this.file, `header tag ${tag} holds the name ${JSON.stringify(bytes.toString('latin1'))}, which is not valid UTF-8; ostree-layer keeps names byte for byte or refuses them, so rebuild the package with UTF-8 names`);
      }
      return bytes.toString('utf8');
    });
  }

  /** Integer array; INT64 values are converted to numbers (file sizes stay below 2^53). */
  numbers(tag: number): number[] {
    const v = this.get(tag);
    if (v === undefined) return [];
    if (Array.isArray(v) && (v.length === 0 || typeof v[0] !== 'string')) return (v as Array<number | bigint>).map(Number);
    throw this.typeError(tag, 'an integer array');
  }

  number(tag: number): number | undefined {
    return this.has(tag) ? this.numbers(tag)[0] : undefined;
  }

  bin(tag: number): Buffer | undefined {
    const v = this.get(tag);
    if (v === undefined || Buffer.isBuffer(v)) return v;
    throw this.typeError(tag, 'binary data');
  }

  private typeError(tag: number, wanted: string): PackageFormatError {
    return new PackageFormatError(this.file, `header tag ${tag} is not ${wanted}; the package is corrupt`);
  }
}

const ALIGN: Record<number, number> = { [TagType.Int16]: 2, [TagType.Int32]: 4, [TagType.Int64]: 8 };
const WIDTH: Record<number, number> = {
  [TagType.Null]: 0, [TagType.Char]: 1, [TagType.Int8]: 1, [TagType.Int16]: 2, [TagType.Int32]: 4, [TagType.Int64]: 8,
  [TagType.Bin]: 1,
};

/** Byte length of `count` NUL-terminated strings starting at `start`, or -1 when they run past `end`. */
function stringsLength(buf: Buffer, start: number, end: number, count: number): number {
  let pos = start;
  for (let i = 0; i < count; i++) {
    const nul = buf.indexOf(0, pos);
    if (nul === -1 || nul >= end) return -1;
    pos = nul + 1;
  }
  return pos - start;
}

/**
 * Parses the index and store of one header. `blob` starts at the index count (no magic). Refuses absurd counts and
 * lengths before allocating anything, entries pointing outside the store, misaligned integers, and unknown types.
 */
export function parseHeaderBlob(blob: Buffer, file: string, what = 'header'): RpmHeader {
  if (blob.length < 8) throw new PackageFormatError(file, `${what} is truncated (${blob.length} bytes)`);
  const il = blob.readUInt32BE(0);
  const dl = blob.readUInt32BE(4);
  checkCounts(il, dl, file, what);
  const storeStart = 8 + il * 16;
  if (blob.length < storeStart + dl) {
    throw new PackageFormatError(file, `${what} is truncated: needs ${storeStart + dl} bytes, has ${blob.length}`);
  }
  const storeEnd = storeStart + dl;
  const entries: HeaderEntry[] = [];
  for (let i = 0; i < il; i++) {
    const at = 8 + i * 16;
    const tag = blob.readUInt32BE(at);
    const type = blob.readUInt32BE(at + 4) as TagType;
    const offset = blob.readInt32BE(at + 8);
    const count = blob.readUInt32BE(at + 12);
    const bad = (why: string) =>
      new PackageFormatError(file, `${what} entry ${i} (tag ${tag}) ${why}; the package is corrupt or hostile`);
    if (type > TagType.I18nString) throw bad(`has unknown type ${type}`);
    if (offset < 0 || offset > dl) throw bad(`points outside the data store (offset ${offset}, store ${dl} bytes)`);
    if (count === 0 || count > dl + 1) throw bad(`has an impossible count ${count}`);
    const align = ALIGN[type] ?? 1;
    if (offset % align !== 0) throw bad(`is misaligned (offset ${offset} for ${align}-byte integers)`);
    let length: number;
    if (type === TagType.String || type === TagType.StringArray || type === TagType.I18nString) {
      if (type === TagType.String && count !== 1) throw bad(`is a STRING with count ${count}`);
      length = stringsLength(blob, storeStart + offset, storeEnd, count);
      if (length < 0) throw bad('has a string running past the end of the data store');
    } else {
      length = WIDTH[type] * count;
      if (offset + length > dl) throw bad(`runs past the end of the data store (${offset}+${length} > ${dl})`);
    }
    entries.push({ tag, type, offset, count, length });
  }
  return new RpmHeader(blob.subarray(0, storeEnd), entries, file);
}

export function checkCounts(il: number, dl: number, file: string, what: string): void {
  if (il === 0 || il > MAX_INDEX_COUNT) {
    throw new PackageFormatError(file, `${what} claims ${il} index entries (limit ${MAX_INDEX_COUNT}); the package is corrupt or hostile`);
  }
  if (dl > MAX_DATA_LENGTH) {
    throw new PackageFormatError(file, `${what} claims ${dl} bytes of data (limit ${MAX_DATA_LENGTH}); the package is corrupt or hostile`);
  }
}

/** The NUL-terminated strings of an array entry, as bytes. */
function stringSlices(blob: Buffer, at: number, count: number): Buffer[] {
  const out: Buffer[] = [];
  let pos = at;
  for (let i = 0; i < count; i++) {
    const nul = blob.indexOf(0, pos);
    out.push(blob.subarray(pos, nul));
    pos = nul + 1;
  }
  return out;
}

/**
 * Header text as rpm shows it: rpm keeps the bytes, so older packages carry ISO-8859 summaries and descriptions.
 * Valid UTF-8 is read as such, anything else byte for byte as ISO-8859-1, never replaced by U+FFFD.
 */
function headerText(bytes: Buffer): string {
  return isUtf8(bytes) ? bytes.toString('utf8') : bytes.toString('latin1');
}

function decodeEntry(blob: Buffer, store: number, e: HeaderEntry): TagValue {
  const at = store + e.offset;
  switch (e.type) {
    case TagType.Null: return [];
    case TagType.Char:
    case TagType.Int8: return Array.from(blob.subarray(at, at + e.count));
    case TagType.Int16: return Array.from({ length: e.count }, (_, i) => blob.readUInt16BE(at + 2 * i));
    case TagType.Int32: return Array.from({ length: e.count }, (_, i) => blob.readUInt32BE(at + 4 * i));
    case TagType.Int64: return Array.from({ length: e.count }, (_, i) => blob.readBigUInt64BE(at + 8 * i));
    case TagType.Bin: return Buffer.from(blob.subarray(at, at + e.count));
    case TagType.String: return headerText(blob.subarray(at, at + e.length - 1));
    case TagType.StringArray:
    case TagType.I18nString: return stringSlices(blob, at, e.count).map(headerText);
  }
}

/** A tag to append to a header, already in its wire encoding. */
export interface NewEntry {
  tag: number;
  type: TagType;
  count: number;
  data: Buffer;
}

export function int32Entry(tag: number, values: number[]): NewEntry {
  const data = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => data.writeUInt32BE(v >>> 0, 4 * i));
  return { tag, type: TagType.Int32, count: values.length, data };
}

export function charEntry(tag: number, values: number[]): NewEntry {
  return { tag, type: TagType.Char, count: values.length, data: Buffer.from(values) };
}

/** Copies an entry of another header verbatim under a (possibly different) tag number. */
export function copyEntry(from: RpmHeader, e: HeaderEntry, tag: number): NewEntry {
  const at = from.storeOffset + e.offset;
  return { tag, type: e.type, count: e.count, data: Buffer.from(from.blob.subarray(at, at + e.length)) };
}

/**
 * Appends entries after an existing header's index and store, the way rpm stores an installed header: the original
 * entries (and its immutable region) untouched, the additions sorted by tag with their data after the old store.
 */
export function appendEntries(header: RpmHeader, added: NewEntry[]): Buffer {
  const sorted = [...added].sort((a, b) => a.tag - b.tag);
  const oldIl = header.entries.length;
  const oldDl = header.blob.length - header.storeOffset;
  const il = oldIl + sorted.length;
  const index = Buffer.alloc(sorted.length * 16);
  const chunks: Buffer[] = [];
  let dl = oldDl;
  sorted.forEach((e, i) => {
    const align = ALIGN[e.type] ?? 1;
    const pad = (align - (dl % align)) % align;
    if (pad) chunks.push(Buffer.alloc(pad));
    dl += pad;
    index.writeUInt32BE(e.tag, 16 * i);
    index.writeUInt32BE(e.type, 16 * i + 4);
    index.writeUInt32BE(dl, 16 * i + 8);
    index.writeUInt32BE(e.count, 16 * i + 12);
    chunks.push(e.data);
    dl += e.data.length;
  });
  const head = Buffer.alloc(8);
  head.writeUInt32BE(il, 0);
  head.writeUInt32BE(dl, 4);
  return Buffer.concat([head, header.blob.subarray(8, header.storeOffset), index, header.blob.subarray(header.storeOffset), ...chunks]);
}
