/**
 * The fake backend's package format: a magic line and a JSON description with the file contents inline. Small and
 * readable, so core's tests can make packages in a line and need neither dpkg-deb nor rpmbuild; parsed at the edge
 * into typed entries like a real format, and refused with a PackageFormatError naming the file like one.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { EntryType, PackageEntry, PackageFile, PackageId, PayloadItem } from '@ostree-layer/core';
import { PackageFormatError } from '@ostree-layer/core';

/** First line of every fake package file: what `supportsFile` looks for. */
export const FAKE_PACKAGE_MAGIC = 'ostree-layer-fake-package 1\n';
export const FAKE_EXTENSION = 'fakepkg';

export interface FakeEntrySpec {
  /** Absolute, normalised path ("/usr/bin/x"). */
  path: string;
  /** Default "file". */
  type?: 'file' | 'directory' | 'symlink';
  /** A regular file's content (UTF-8; default empty). */
  content?: string;
  /** A symlink's target, as written. */
  target?: string;
  /** Permission bits; default 0644 files, 0755 directories, 0777 symlinks. */
  mode?: number;
  /** Default root. */
  user?: string;
  group?: string;
  config?: boolean;
}

export interface FakePackageSpec {
  name: string;
  version: string;
  /** Default "any". */
  arch?: string;
  /** Names of packages whose files this one may overwrite (the fake's dpkg Replaces:). */
  replaces?: string[];
  /** Names of packages it needs (no versions: the fake's relations are plain names). */
  requires?: string[];
  /** Scripts by name ("postinst"), each run by /bin/sh after the payloads are in the tree. */
  scripts?: Record<string, string>;
  entries: FakeEntrySpec[];
}

const NAME = /^[a-z0-9][a-z0-9.+_-]*$/;
const VERSION = /^[A-Za-z0-9.+~:_-]+$/;
const ABSOLUTE_NORMALISED = /^\/(?!.*\/\/)(?!.*\/\.\.?(\/|$))(?!.*\/$).+$/;
const ENTRY_TYPES = new Set<EntryType>(['file', 'directory', 'symlink']);
const DEFAULT_MODES: Record<string, number> = { file: 0o644, directory: 0o755, symlink: 0o777 };

/** Writes `<dir>/<name>_<version>_<arch>.fakepkg` and returns its path. */
export async function writeFakePackage(dir: string, spec: FakePackageSpec): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(resolve(dir), `${spec.name}_${spec.version}_${spec.arch ?? 'any'}.${FAKE_EXTENSION}`);
  await writeFile(file, FAKE_PACKAGE_MAGIC + JSON.stringify(spec, null, 1) + '\n');
  return file;
}

/** A parsed fake package: identity, declarations and entries with their contents. */
interface ParsedFake {
  id: PackageId;
  replaces: string[];
  requires: string[];
  scripts: Map<string, string>;
  entries: Array<{ entry: PackageEntry; content?: Buffer }>;
}

/** Reads and checks a fake package. The whole file is read: fake packages are a few lines of JSON, not archives. */
async function parseFakePackage(file: string): Promise<ParsedFake> {
  const text = (await readFile(file)).toString('utf8');
  if (!text.startsWith(FAKE_PACKAGE_MAGIC)) throw new PackageFormatError(file, 'not a fake package (no magic line)');
  let raw: unknown;
  try {
    raw = JSON.parse(text.slice(FAKE_PACKAGE_MAGIC.length));
  } catch (err) {
    throw new PackageFormatError(file, `truncated or corrupt fake package: ${(err as Error).message}`, { cause: err });
  }
  const spec = raw as Partial<FakePackageSpec>;
  const field = (name: string, value: unknown, shape: RegExp): string => {
    if (typeof value !== 'string' || !shape.test(value)) throw new PackageFormatError(file, `field ${name} is missing or malformed (${JSON.stringify(value)})`);
    return value;
  };
  const id = { name: field('name', spec.name, NAME), version: field('version', spec.version, VERSION), arch: field('arch', spec.arch ?? 'any', NAME) };
  if (!Array.isArray(spec.entries)) throw new PackageFormatError(file, 'field entries is missing');
  const entries = spec.entries.map((e: FakeEntrySpec) => parseEntry(file, e));
  const scripts = new Map(Object.entries(spec.scripts ?? {}).map(([name, body]) => [field('script name', name, NAME), String(body)]));
  const replaces = (spec.replaces ?? []).map((name) => field('replaces', name, NAME));
  const requires = (spec.requires ?? []).map((name) => field('requires', name, NAME));
  return { id, replaces, requires, scripts, entries };
}

function parseEntry(file: string, e: FakeEntrySpec): { entry: PackageEntry; content?: Buffer } {
  if (typeof e?.path !== 'string' || !ABSOLUTE_NORMALISED.test(e.path)) throw new PackageFormatError(file, `entry path ${JSON.stringify(e?.path)} is not absolute and normalised`);
  const type = e.type ?? 'file';
  if (!ENTRY_TYPES.has(type)) throw new PackageFormatError(file, `${e.path}: unknown entry type ${JSON.stringify(type)}`);
  const mode = e.mode ?? DEFAULT_MODES[type]!;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new PackageFormatError(file, `${e.path}: mode ${mode} is outside 0..07777`);
  if (type === 'symlink' && !e.target) throw new PackageFormatError(file, `${e.path}: a symlink needs a target`);
  const content = type === 'file' ? Buffer.from(e.content ?? '', 'utf8') : undefined;
  const entry: PackageEntry = { path: e.path, type, mode, user: e.user ?? 'root', group: e.group ?? 'root', size: content?.length ?? 0, mtime: 0 };
  if (type === 'symlink') entry.linkTarget = e.target;
  if (e.config) entry.config = true;
  return { entry, content };
}

/** A fake package file opened by the fake backend. */
export class FakePackage implements PackageFile {
  private constructor(readonly file: string, private readonly parsed: ParsedFake) {}

  static async open(file: string): Promise<FakePackage> {
    return new FakePackage(file, await parseFakePackage(file));
  }

  get id(): PackageId {
    return this.parsed.id;
  }

  get replaces(): string[] {
    return this.parsed.replaces;
  }

  get requires(): string[] {
    return this.parsed.requires;
  }

  get scripts(): Map<string, string> {
    return this.parsed.scripts;
  }

  get hasScripts(): boolean {
    return this.parsed.scripts.size > 0;
  }

  get metadata(): Record<string, unknown> {
    return { ...this.id, replaces: [...this.replaces], requires: [...this.requires], scripts: [...this.scripts.keys()] };
  }

  /** Re-reads the file on every call, as a real backend streams its archive from the start. */
  async *payload(): AsyncIterable<PayloadItem> {
    const { entries } = await parseFakePackage(this.file);
    for (const { entry, content } of entries) yield content ? { entry: { ...entry }, body: Readable.from([content]) } : { entry: { ...entry } };
  }
}
