/** Finding and reading the dpkg database (`status` + `info/`) inside a deployment tree. */
import { createHash } from 'node:crypto';
import {
  readFiles,
  SystemStateError,
  type InstalledDatabase,
  type InstalledPackage,
  type LayerFile,
  type PackageEntry,
  type PackageId,
  type TreeReader,
  type WriteDatabaseOptions,
} from '@ostree-layer/core';
import { DebPackage } from './archive.js';
import { triggerFiles } from './triggers.js';
import { RELATION_FIELDS, formatRelation, parseRelationField } from './dependencies.js';
import { ControlSyntaxError, formatParagraphs, parseParagraphs, type Paragraph } from './control.js';
import { nativeToolFiles } from './native-tools.js';
import { loadOwnersIndex, type OwnedList, type OwnersIndex } from '@ostree-layer/core';

/** Where an OSTree-ready tree keeps the database, best first; /var/lib/dpkg is the legacy, mutable location. */
export const DATABASE_LOCATIONS = ['/usr/lib/sysimage/dpkg', '/usr/share/dpkg/database', '/var/lib/dpkg'];

/** States in which a package's files are on disk (everything but "not-installed" and "config-files"). */
const PRESENT_STATES = new Set(['installed', 'unpacked', 'half-installed', 'half-configured', 'triggers-awaited', 'triggers-pending']);

function joinPath(dir: string, rel: string): string {
  const parts: string[] = [];
  for (const seg of `${rel.startsWith('/') ? '' : dir}/${rel}`.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return '/' + parts.join('/');
}

/** Resolves every symlink along `path` inside the tree (never escaping its root), like the kernel would in a chroot. */
export async function resolveInTree(tree: TreeReader, path: string): Promise<string> {
  let todo = path.split('/').filter(Boolean);
  let done = '/';
  for (let hops = 0; todo.length > 0; ) {
    const seg = todo.shift()!;
    if (seg === '.') continue;
    if (seg === '..') {
      done = joinPath(done, '..');
      continue;
    }
    const next = joinPath(done, seg);
    const st = await tree.lstat(next);
    if (st?.type === 'symlink') {
      if (++hops > 40) throw new SystemStateError(`${tree.description}: too many symlinks resolving ${path}`);
      const target = await tree.readlink(next);
      todo = [...target.split('/').filter(Boolean), ...todo];
      if (target.startsWith('/')) done = '/';
      continue;
    }
    done = next;
  }
  return done;
}

/** The first location holding a dpkg database (a directory with a `status` file), following symlinks; or null. */
export async function findDatabase(tree: TreeReader): Promise<string | null> {
  for (const candidate of DATABASE_LOCATIONS) {
    const real = await resolveInTree(tree, candidate);
    const st = await tree.lstat(`${real}/status`);
    if (st?.type === 'file') return real;
  }
  return null;
}

/** The installed name of a package: "pkg:arch" for Multi-Arch: same ones, as dpkg names their info/ files. */
export function infoName(p: Paragraph): string {
  const name = p.get('Package')!;
  return p.get('Multi-Arch') === 'same' ? `${name}:${p.get('Architecture')}` : name;
}

export interface StatusRecord extends InstalledPackage {
  paragraph: Paragraph;
  /** "pkg" or "pkg:arch": the file name prefix under info/. */
  infoName: string;
}

/** The dpkg database of a tree, read once and kept: `status` paragraphs and, on demand, the `info/*.list` files. */
export class DpkgDatabase implements InstalledDatabase {
  private index?: Promise<OwnersIndex>;

  constructor(
    readonly tree: TreeReader,
    readonly location: string,
    /** Every paragraph of `status`, in file order. */
    readonly paragraphs: Paragraph[],
  ) {}

  private presentRecords?: StatusRecord[];

  /** Records whose package files are present on disk (worked out once: the paragraphs never change). */
  records(): StatusRecord[] {
    if (this.presentRecords) return this.presentRecords;
    const out: StatusRecord[] = (this.presentRecords = []);
    for (const p of this.paragraphs) {
      const state = p.get('Status');
      const name = p.get('Package');
      if (!state || !name) continue;
      if (!PRESENT_STATES.has(state.split(/\s+/)[2] ?? '')) continue;
      out.push({ name, version: p.get('Version') ?? '', arch: p.get('Architecture') ?? '', state, paragraph: p, infoName: infoName(p) });
    }
    return out;
  }

  /** The tree's native architecture: the dpkg package's own (the host's when the tree has no dpkg). */
  nativeArch(): string {
    const dpkg = this.records().find((r) => r.name === 'dpkg');
    return dpkg && dpkg.arch !== 'all' ? dpkg.arch : process.arch === 'arm64' ? 'arm64' : 'amd64';
  }

  async packages(): Promise<InstalledPackage[]> {
    return this.records().map(({ name, version, arch, state }) => ({ name, version, arch, state }));
  }

  /** Answered from the path index of this database's content (see owners-index.ts): built once, then searched. */
  async owners(paths: string[]): Promise<Map<string, PackageId[]>> {
    return (await this.ownersIndex()).ownersOf(paths);
  }

  async prepareOwners(): Promise<void> {
    await this.ownersIndex();
  }

  private ownersIndex(): Promise<OwnersIndex> {
    this.index ??= this.tree.derivedCachePath?.(this.location, 'dpkg-owners').then(
      (cachePath) => loadOwnersIndex(cachePath, () => this.readLists()),
    ) ?? loadOwnersIndex(null, () => this.readLists());
    return this.index;
  }

  /** The paths of one package's `.list` file, in file order ([] when it has none). */
  async listFile(infoName: string): Promise<string[]> {
    return (await this.listFiles([infoName]))[0]!;
  }

  /** The paths of each package's `.list` file, as {@link listFile}, read in one go. */
  async listFiles(infoNames: readonly string[]): Promise<string[][]> {
    const texts = await readFiles(this.tree, infoNames.map((n) => `${this.location}/info/${n}.list`));
    return texts.map((text) => (text ? text.toString('utf8').split('\n').filter((l) => l !== '') : []));
  }

  /** Every present package's `.list`: what the path index is built from. */
  private async readLists(): Promise<OwnedList[]> {
    const records = this.records();
    // Every list at once: a tree read from the repo checks the directory out rather than reading file by file.
    await this.tree.prefetch?.(`${this.location}/info`);
    const lists = await this.listFiles(records.map((r) => r.infoName));
    return records.map((r, i) => ({ id: { name: r.name, version: r.version, arch: r.arch }, paths: lists[i]! }));
  }
}

/**
 * The fields every status record is asked for (what is installed, under which info/ name): read in the one pass over
 * `status`; the rest of a paragraph (relations, descriptions) only when something asks, as the solver does. A base
 * with thousands of packages costs a scan, not thousands of field maps.
 */
const STATUS_INDEX: ReadonlySet<string> = new Set(['package', 'status', 'version', 'architecture', 'multi-arch']);

/** Reads `status` in one pass. Throws {@link SystemStateError} when it is missing or unparsable. */
export async function openDatabase(tree: TreeReader, location: string): Promise<DpkgDatabase> {
  const statusPath = `${location}/status`;
  let text: string;
  try {
    text = (await tree.readFile(statusPath)).toString('utf8');
  } catch (err) {
    throw new SystemStateError(`${tree.description}: cannot read the dpkg status file ${statusPath} (${(err as Error).message})`, { cause: err });
  }
  try {
    return new DpkgDatabase(tree, location, parseParagraphs(text, { indexed: STATUS_INDEX }));
  } catch (err) {
    if (err instanceof ControlSyntaxError) {
      throw new SystemStateError(`${tree.description}: ${statusPath} is corrupt (${err.message}); restore it from status-old`);
    }
    throw err;
  }
}

/**
 * The control paragraph as dpkg records it in `status`: booleans that are "no" dropped, relationship fields
 * re-written from their parsed form (dpkg stores parsed relations, so "a(>=1)" becomes "a (>= 1)").
 */
export function statusParagraph(control: Paragraph): Paragraph {
  const p = control.clone();
  for (const f of ['Essential', 'Protected']) if (p.get(f)?.toLowerCase() === 'no') p.delete(f);
  if (p.get('Multi-Arch')?.toLowerCase() === 'no') p.delete('Multi-Arch');
  for (const f of RELATION_FIELDS) {
    const v = p.get(f);
    if (v !== undefined) p.set(f, parseRelationField(v).map((alts) => alts.map(formatRelation).join(' | ')).join(', '));
  }
  return p;
}

/** The package state dpkg would record for a layered package whose maintainer scripts did not run. */
export function layeredStatus(pkg: DebPackage): string {
  return pkg.controlMembers.has('postinst') || pkg.controlMembers.has('config') ? 'install ok unpacked' : 'install ok installed';
}

function sortKey(p: Paragraph): [string, string] {
  return [p.get('Package') ?? '', p.get('Architecture') ?? ''];
}

function compareKeys(a: [string, string], b: [string, string]): number {
  // dpkg sorts by name, then architecture, comparing bytes (strcmp), not by locale.
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] === b[1] ? 0 : a[1] < b[1] ? -1 : 1;
}

/**
 * Where a new `key` goes among `keys` (dpkg's order: name, then architecture): after every key below it. On a status
 * file that is not in that order the package still goes in once, only elsewhere; dpkg re-sorts on its next write.
 */
function sortedPosition(keys: [string, string][], key: [string, string]): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * md5s of the files that need one: those the engine's import computed (PackageFile.fileDigest), or, when one is missing
 * (a caller that listed the payload itself), read from the payload.
 */
async function md5s(pkg: DebPackage, entries: PackageEntry[], wanted: (path: string) => boolean): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of entries) {
    if ((e.type !== 'file' && e.type !== 'hardlink') || !wanted(e.path)) continue;
    if (!e.digest) return hashPayload(pkg, wanted);
    out.set(e.path, e.digest);
  }
  return out;
}

/** Hashes of the regular files of a package that need one, read from its payload (hardlinks take their target's). */
async function hashPayload(pkg: DebPackage, wanted: (path: string) => boolean): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const { entry, body } of pkg.payload()) {
    if (entry.type === 'hardlink' && wanted(entry.path)) {
      const h = out.get(entry.linkTarget!);
      if (h) out.set(entry.path, h);
      continue;
    }
    if (entry.type !== 'file' || !body || !wanted(entry.path)) {
      body?.resume();
      continue;
    }
    const hash = createHash('md5');
    for await (const chunk of body) hash.update(chunk as Buffer);
    out.set(entry.path, hash.digest('hex'));
  }
  return out;
}

function md5sumsText(paths: Iterable<[string, string]>): string {
  let s = '';
  for (const [path, hash] of paths) s += `${hash}  ${path.slice(1)}\n`;
  return s;
}

interface InfoRecord {
  infoName: string;
  name: string;
  list: string[];
  md5sums: string;
}

/** Builds the files of the updated database: see {@link Backend.writeDatabase}. */
export async function writeDatabase(options: WriteDatabaseOptions): Promise<LayerFile[]> {
  const { tree, added } = options;
  const db = options.database instanceof DpkgDatabase ? options.database : await openDatabase(tree, options.database.location);
  const loc = db.location;
  const files: LayerFile[] = [];
  const status = [...db.paragraphs];
  // The sort keys beside the paragraphs, worked out once: each new package is placed by a binary search instead of
  // scans that read two fields of every installed paragraph (thousands on a large base).
  const keys = status.map(sortKey);
  const byKey = new Map<string, Paragraph>();
  status.forEach((p, i) => {
    const k = keys[i]!.join('\0');
    if (!byKey.has(k)) byKey.set(k, p);
  });
  const records: InfoRecord[] = [];
  const taken = new Map<string, Set<string>>();

  for (const layered of added) {
    const pkg = layered.package;
    if (!(pkg instanceof DebPackage)) throw new SystemStateError(`${pkg.file}: not a package opened by the dpkg backend`);
    const shipped = pkg.md5sums();
    const conffiles = new Set(pkg.conffiles);
    // dpkg generates md5sums (conffiles included, archive order) for packages that ship none.
    const needsHash = (p: string) => conffiles.has(p) || !pkg.controlMembers.has('md5sums');
    const hashes = conffiles.size > 0 || !pkg.controlMembers.has('md5sums') ? await md5s(pkg, layered.entries, needsHash) : new Map<string, string>();

    const para = statusParagraph(pkg.control);
    para.set('Status', layeredStatus(pkg));
    if (pkg.conffiles.length > 0) {
      para.set('Conffiles', pkg.conffiles.map((c) => `\n ${c} ${hashes.get(c) ?? shipped.get(c) ?? 'newconffile'}`).join(''));
    }
    const key = sortKey(para);
    const installed = byKey.get(key.join('\0'));
    if (installed) status[status.indexOf(installed)] = para;
    else {
      const at = sortedPosition(keys, key);
      status.splice(at, 0, para);
      keys.splice(at, 0, key);
    }
    byKey.set(key.join('\0'), para);

    const name = infoName(para);
    const info = `${loc}/info/${name}`;
    records.push({
      infoName: name,
      name: pkg.id.name,
      list: ['/.', ...layered.entries.map((e) => e.path)],
      md5sums: pkg.controlMembers.get('md5sums')?.content.toString('utf8')
        ?? md5sumsText(layered.entries.filter((e) => hashes.has(e.path)).map((e) => [e.path, hashes.get(e.path)!])),
    });
    for (const m of pkg.infoMembers()) files.push({ path: `${info}.${m.name}`, type: 'file', mode: m.mode, content: m.content });
    const cf = pkg.controlMembers.get('conffiles');
    if (cf) files.push({ path: `${info}.conffiles`, type: 'file', mode: 0o644, content: cf.content });
    for (const [owner, paths] of layered.takenOver) {
      const set = taken.get(owner) ?? new Set<string>();
      for (const p of paths) set.add(p);
      taken.set(owner, set);
    }
  }

  for (const [ownerKey, paths] of taken) {
    // The old owner may be a package of this same transaction: then its generated files lose the paths.
    const own = records.find((r) => r.infoName === ownerKey) ?? records.find((r) => r.name === ownerKey);
    if (own) own.list = own.list.filter((p) => !paths.has(p));
    else files.push(...(await dropOwnedPaths(db, ownerKey, paths)));
  }
  for (const r of records) {
    files.push({ path: `${loc}/info/${r.infoName}.list`, type: 'file', mode: 0o644, content: r.list.map((p) => p + '\n').join('') });
    // Even empty: dpkg writes one for a package without files, and --audit flags a package that lacks it.
    files.push({ path: `${loc}/info/${r.infoName}.md5sums`, type: 'file', mode: 0o644, content: r.md5sums });
  }
  files.push({ path: `${loc}/status`, type: 'file', mode: 0o644, content: formatParagraphs(status) });
  files.push(...(await triggerFiles(db, added.map((a) => a.package as DebPackage))));
  const automatic = added.filter((a) => a.automatic).map((a) => a.package.id);
  files.push(...(await nativeToolFiles(tree, loc, { automatic, nativeArch: db.nativeArch() })));
  for (const dir of ['info', 'updates', 'triggers']) {
    if (!(await tree.lstat(`${loc}/${dir}`))) files.push({ path: `${loc}/${dir}`, type: 'directory', mode: 0o755 });
  }
  return files;
}

/**
 * The old owner's `.list` rewritten without the paths a layered package took over. Its `.md5sums` stays as it is:
 * dpkg 1.21 leaves it untouched too (checked against a real install in database.test.ts).
 */
async function dropOwnedPaths(db: DpkgDatabase, ownerKey: string, taken: Set<string>): Promise<LayerFile[]> {
  const records = db.records();
  const owner = records.find((r) => r.infoName === ownerKey) ?? records.find((r) => r.name === ownerKey);
  if (!owner) throw new SystemStateError(`${db.tree.description}: package ${ownerKey} is not in the dpkg database at ${db.location}`);
  const info = `${db.location}/info/${owner.infoName}`;
  const out: LayerFile[] = [];
  const list = await db.listFile(owner.infoName);
  out.push({ path: `${info}.list`, type: 'file', mode: 0o644, content: list.filter((p) => !taken.has(p)).map((p) => p + '\n').join('') });
  return out;
}
