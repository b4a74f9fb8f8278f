/**
 * Opening a .deb: the ar wrapper, `debian-binary`, control.tar (metadata and maintainer scripts, held in memory: they
 * are small) and data.tar (the payload, streamed on demand).
 */
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import {
  LayerError,
  PackageFormatError,
  normalizeArchivePath,
  tarEntryBody,
  tarHeaderEntry,
  type EntryType,
  type PackageEntry,
  type PackageFile,
  type PackageId,
  type PayloadItem,
} from '@ostree-layer/core';
import { readAr, type ArMember } from './ar.js';
import { ControlSyntaxError, architectureProblem, packageNameProblem, parseParagraphs, type Paragraph } from './control.js';
import { decompress, memberCompression, type Compression } from './decompress.js';
import { buildMetadata } from './inspect.js';
import { DebVersionError, parseDebVersion } from './version.js';

/** Control members that only describe the package; every other one is a script or data dpkg copies into info/. */
const NOT_INFO = new Set(['control', 'md5sums', 'conffiles']);
/** Scripts whose presence means a real install would have run something we did not. */
const INSTALL_SCRIPTS = ['preinst', 'postinst', 'config'];
/**
 * control.tar is held in memory (it becomes the database's info/ files), so what it may hold is bounded, per member and
 * in total: real packages carry a few MiB at most (a kernel's md5sums, libc's symbols).
 */
const MAX_CONTROL_MEMBER = 64 << 20;
const MAX_CONTROL_TOTAL = 64 << 20;

export interface ControlMember {
  name: string;
  mode: number;
  content: Buffer;
}

/** A .deb opened by {@link openDeb}. */
export class DebPackage implements PackageFile {
  readonly id: PackageId;
  readonly hasScripts: boolean;
  private metadataCache?: Record<string, unknown>;

  constructor(
    readonly file: string,
    /** The parsed `control` paragraph. */
    readonly control: Paragraph,
    /** Every member of control.tar other than `control` itself, by name ("postinst", "md5sums", "conffiles"…). */
    readonly controlMembers: Map<string, ControlMember>,
    /** Absolute paths listed in `conffiles` (flags such as "remove-on-upgrade" stripped). */
    readonly conffiles: string[],
    readonly dataMember: string,
    readonly dataCompression: Compression,
  ) {
    const get = (f: string) => control.get(f);
    this.id = { name: get('Package')!, version: get('Version')!, arch: get('Architecture')! };
    this.hasScripts = INSTALL_SCRIPTS.some((s) => controlMembers.has(s));
  }

  /**
   * dpkg records an md5 for each conffile (in status) and, for a package that ships no md5sums, for every file: the
   * engine computes those while importing, so the payload is read once.
   */
  get fileDigest(): PackageFile['fileDigest'] {
    if (this.controlMembers.has('md5sums') && this.conffiles.length === 0) return undefined;
    const conffiles = new Set(this.conffiles);
    const all = !this.controlMembers.has('md5sums');
    return { algorithm: 'md5', wanted: (path) => all || conffiles.has(path) };
  }

  get metadata(): Record<string, unknown> {
    this.metadataCache ??= buildMetadata(this.control, this.conffiles);
    return this.metadataCache;
  }

  /** Control members dpkg copies into info/ as `<pkg>.<name>` (maintainer scripts, triggers, shlibs, symbols…). */
  infoMembers(): ControlMember[] {
    return [...this.controlMembers.values()].filter((m) => !NOT_INFO.has(m.name));
  }

  /** `md5sums` as a map from absolute path to hash, or an empty map when the package ships none. */
  md5sums(): Map<string, string> {
    const out = new Map<string, string>();
    const m = this.controlMembers.get('md5sums');
    if (!m) return out;
    for (const line of m.content.toString('utf8').split('\n')) {
      const match = /^([0-9a-f]{32})\s+\*?(.+)$/.exec(line.trim());
      if (match) out.set(normalizeArchivePath(match[2]!.replace(/^\//, ''), this.file), match[1]!);
    }
    return out;
  }

  payload(): AsyncIterable<PayloadItem> {
    return readPayload(this);
  }
}

/** Opens the ar archive and finds a member, leaving the iterator positioned on it. */
async function* members(file: string): AsyncGenerator<ArMember> {
  const input = createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    yield* readAr(input, file);
  } finally {
    input.destroy();
  }
}

function wrap(file: string, what: string, err: unknown): LayerError {
  if (err instanceof LayerError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new PackageFormatError(file, `${what}: ${msg}; the package is corrupt or truncated`, { cause: err });
}

/** Reads the ar members up to control.tar and returns the opened package. Throws {@link PackageFormatError}. */
export async function openDeb(file: string): Promise<DebPackage> {
  const it = members(file);
  try {
    const first = await it.next();
    if (first.done || first.value.name !== 'debian-binary') {
      throw new PackageFormatError(file, 'not a Debian package: the first ar member must be "debian-binary"');
    }
    const version = (await readAll(first.value.body, 64)).toString('latin1');
    if (!/^2\.\d+\n/.test(version)) {
      throw new PackageFormatError(file, `unsupported .deb format version ${JSON.stringify(version.trim())} (expected 2.x)`);
    }
    let control: Map<string, ControlMember> | undefined;
    for (;;) {
      const next = await it.next();
      if (next.done) break;
      const m = next.value;
      if (m.name.startsWith('_')) continue; // dpkg ignores members starting with "_"
      const cc = memberCompression(m.name, 'control');
      if (cc && !control) {
        control = await readControlTar(decompress(m.body, cc, file, m.name, { size: m.size }), file, m.name);
        continue;
      }
      const dc = memberCompression(m.name, 'data');
      if (dc) {
        if (!control) throw new PackageFormatError(file, `${m.name} comes before control.tar; the member order is wrong`);
        return finishOpen(file, control, m.name, dc);
      }
      throw new PackageFormatError(file, `unexpected ar member "${m.name}" (expected control.tar* and data.tar*)`);
    }
    throw new PackageFormatError(file, control ? 'no data.tar member; the file is truncated' : 'no control.tar member; the file is truncated');
  } catch (err) {
    throw wrap(file, 'reading the package', err);
  } finally {
    await it.return(undefined);
  }
}

function finishOpen(file: string, members: Map<string, ControlMember>, dataMember: string, dc: Compression): DebPackage {
  const controlFile = members.get('control');
  if (!controlFile) throw new PackageFormatError(file, 'control.tar has no "control" file');
  members.delete('control');
  let paragraphs: Paragraph[];
  try {
    paragraphs = parseParagraphs(controlFile.content.toString('utf8'));
  } catch (err) {
    if (err instanceof ControlSyntaxError) throw new PackageFormatError(file, `control file: ${err.message}`);
    throw err;
  }
  if (paragraphs.length !== 1) throw new PackageFormatError(file, `control file has ${paragraphs.length} paragraphs (expected 1)`);
  const control = paragraphs[0]!;
  for (const f of ['Package', 'Version', 'Architecture']) {
    if (!control.get(f)) throw new PackageFormatError(file, `control file lacks the mandatory "${f}" field`);
  }
  checkIdentity(file, control);
  const conffiles: string[] = [];
  const cf = members.get('conffiles');
  if (cf) {
    for (const line of cf.content.toString('utf8').split('\n')) {
      const words = line.trim().split(/\s+/).filter(Boolean);
      const path = words.at(-1);
      if (!path) continue;
      if (!path.startsWith('/')) throw new PackageFormatError(file, `conffiles names "${path}", which is not absolute`);
      conffiles.push(normalizeArchivePath(path, file, true));
    }
  }
  return new DebPackage(file, control, members, conffiles, dataMember, dc);
}

/**
 * The fields that name the package are checked with dpkg's own rules before anything uses them: they become refs,
 * database file names and tmpfiles.d names, and a status file dpkg cannot parse back is worse than a refusal.
 */
function checkIdentity(file: string, control: Paragraph): void {
  const refuse = (field: string, value: string, problem: string) => {
    throw new PackageFormatError(file, `control field ${field}: ${JSON.stringify(value)} ${problem}; dpkg refuses it too, so the package must be rebuilt`);
  };
  const name = control.get('Package')!;
  const nameProblem = packageNameProblem(name);
  if (nameProblem) refuse('Package', name, nameProblem);
  const arch = control.get('Architecture')!;
  const archProblem = architectureProblem(arch);
  if (archProblem) refuse('Architecture', arch, archProblem);
  const version = control.get('Version')!;
  try {
    parseDebVersion(version);
  } catch (err) {
    if (!(err instanceof DebVersionError)) throw err;
    refuse('Version', version, `is not a valid version (${err.message})`);
  }
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > limit) throw new Error(`member larger than ${limit} bytes`);
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts, n);
}

async function readControlTar(input: Readable, file: string, member: string): Promise<Map<string, ControlMember>> {
  const out = new Map<string, ControlMember>();
  let total = 0;
  const extract = tar.extract();
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const h = entry.header;
    const path = normalizeArchivePath(h.name, file);
    if (h.type !== 'file' && h.type !== 'contiguous-file') {
      entry.resume();
      continue;
    }
    if (path.lastIndexOf('/') !== 0) {
      throw new PackageFormatError(file, `${member}: unexpected nested member "${h.name}"`);
    }
    if (total + h.size > MAX_CONTROL_TOTAL) {
      throw new PackageFormatError(file, `${member} holds more than ${MAX_CONTROL_TOTAL >> 20} MiB of control files (at "${h.name}"); no real package needs that much, refusing it`);
    }
    const content = await readAll(entry as unknown as Readable, Math.min(MAX_CONTROL_MEMBER, MAX_CONTROL_TOTAL - total));
    total += content.length;
    out.set(path.slice(1), { name: path.slice(1), mode: h.mode & 0o7777, content });
  }
  return out;
}

/**
 * The header with its name and link target as UTF-8 text, or a refusal: a name that is not valid UTF-8 read any
 * other way could turn two different byte strings into one path. Ustar and GNU long names arrive as latin1 (the raw
 * bytes); pax names were decoded as UTF-8 by the parser, where a U+FFFD is all that is left of a bad byte.
 */
function exactNames(h: tar.Header, file: string): tar.Header {
  const pax = (h.pax ?? {}) as Record<string, string>;
  const decode = (value: string, fromPax: boolean): string => {
    if (fromPax) {
      if (value.includes('\uFFFD')) throw new PackageFormatError(file, `data.tar entry ${JSON.stringify(value)} has a name that is not valid UTF-8 (or holds U+FFFD); rebuild the package with UTF-8 names`);
      return value;
    }
    const bytes = Buffer.from(value, 'latin1');
    if (!isUtf8(bytes)) throw new PackageFormatError(file, `data.tar entry ${JSON.stringify(value)} (as ISO-8859-1) has a name that is not valid UTF-8; ostree-layer keeps names byte for byte or refuses them, so rebuild the package with UTF-8 names`);
    return bytes.toString('utf8');
  };
  return {
    ...h,
    name: decode(h.name, pax.path !== undefined),
    linkname: h.linkname == null ? h.linkname : decode(h.linkname, pax.linkpath !== undefined),
  };
}

/** A data.tar header as a contract entry (core's tar rules); conffiles are marked as configuration. */
function toEntry(h: tar.Header, pkg: DebPackage, path: string, seen: Map<string, EntryType>, conffiles: Set<string>): PackageEntry {
  const entry = tarHeaderEntry(h, { file: pkg.file, path, seen, what: 'data.tar entry', builder: 'dpkg-deb' });
  if (conffiles.has(path)) entry.config = true;
  return entry;
}


async function* readPayload(pkg: DebPackage): AsyncGenerator<PayloadItem> {
  const file = pkg.file;
  const it = members(file);
  let input: Readable | undefined;
  try {
    let data: ArMember | undefined;
    // Manual stepping: a for-await "break" would close the ar reader and with it the data member's body.
    for (let next = await it.next(); !next.done; next = await it.next()) {
      if (next.value.name === pkg.dataMember) {
        data = next.value;
        break;
      }
    }
    if (!data) throw new PackageFormatError(file, `${pkg.dataMember} disappeared: the file changed since it was opened`);
    // Names are read as bytes (latin1 is byte-for-byte) and then checked to be UTF-8, never replaced by U+FFFD.
    const extract = tar.extract({ filenameEncoding: 'latin1' } as Parameters<typeof tar.extract>[0]);
    input = decompress(data.body, pkg.dataCompression, file, data.name, { size: data.size });
    input.on('error', (err) => extract.destroy(err));
    input.pipe(extract as unknown as NodeJS.WritableStream);
    const seen = new Map<string, EntryType>();
    const conffiles = new Set(pkg.conffiles);
    for await (const source of extract) {
      const h = exactNames(source.header, file);
      const path = normalizeArchivePath(h.name, file);
      if (path === '/') {
        source.resume();
        continue;
      }
      const entry = toEntry(h, pkg, path, seen, conffiles);
      seen.set(path, entry.type);
      if (entry.type !== 'file' || h.size === 0) {
        source.resume();
        yield { entry, body: entry.type === 'file' ? Readable.from([]) : undefined };
        continue;
      }
      const { body, ended } = tarEntryBody(source, (err) => wrap(file, `reading ${pkg.dataMember}`, err));
      yield { entry, body };
      // The consumer may have left the body unread or destroyed it: drain what remains so the tar parser moves on.
      if (!body.readableEnded) {
        source.removeAllListeners('data');
        source.on('data', () => undefined);
        source.resume();
      }
      await ended;
    }
  } catch (err) {
    throw wrap(file, `reading ${pkg.dataMember}`, err);
  } finally {
    // A consumer that stops early must not leave a decompressor waiting on its stdin.
    input?.destroy();
    await it.return(undefined);
  }
}
