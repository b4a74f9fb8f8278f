/**
 * pacman's local database: `<DBPath>/local/ALPM_DB_VERSION` and one directory `<name>-<version>` per installed
 * package holding `desc` (metadata), `files` (%FILES% and %BACKUP%), `mtree` (the package's .MTREE) and `install`
 * (its .INSTALL). An OSTree deployment keeps the read-only copy at /usr/lib/sysimage/pacman; /var/lib/pacman is the
 * legacy place of a mutable system.
 */
import { readFiles, ResolutionError, type InstalledDatabase, type InstalledPackage, type LayerFile, type PackageId, type TreeReader, type WriteDatabaseOptions } from '@ostree-layer/core';
import { loadOwnersIndex, type OwnedList, type OwnersIndex } from '@ostree-layer/core';
import { PacmanPackage } from './archive.js';
import { parseDep, transactionProblems, type PacmanDep, type TransactionPackage } from './dependencies.js';
import { nativeToolFiles } from './native-tools.js';

export const SYSIMAGE_DBPATH = '/usr/lib/sysimage/pacman';
export const LEGACY_DBPATH = '/var/lib/pacman';

/** The DBPath whose `local/` database the tree has, preferring the copy in /usr; null when it has none. */
export async function findDatabase(tree: TreeReader): Promise<string | null> {
  for (const dbpath of [SYSIMAGE_DBPATH, LEGACY_DBPATH]) {
    if ((await tree.lstat(`${dbpath}/local/ALPM_DB_VERSION`))?.type === 'file') return dbpath;
  }
  return null;
}

/** A `desc` or `files` file: "%KEY%" lines, each followed by its values and an empty line. */
export function parseDbFile(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    const key = /^%([A-Z0-9]+)%$/.exec(line);
    if (key) {
      current = [];
      out.set(key[1]!, current);
    } else if (line === '') {
      current = undefined;
    } else {
      current?.push(line);
    }
  }
  return out;
}

/** Writes `%KEY%` blocks in the order given, leaving out empty ones as libalpm does. */
export function formatDbFile(blocks: Array<[string, Array<string | number>]>): string {
  return blocks
    .filter(([, values]) => values.length > 0 && !(values.length === 1 && values[0] === ''))
    .map(([key, values]) => `%${key}%\n${values.join('\n')}\n\n`)
    .join('');
}

/** One package of the local database, as its `desc` says. */
export interface LocalPackage extends InstalledPackage {
  /** The directory under `local/` ("hello-1:1.2-3"). */
  dir: string;
  provides: PacmanDep[];
  depends: PacmanDep[];
  conflicts: PacmanDep[];
  /** %REASON% 1: installed as a dependency. */
  automatic: boolean;
}

export class PacmanDatabase implements InstalledDatabase {
  private packagesCache?: Promise<LocalPackage[]>;
  private index?: Promise<OwnersIndex>;

  constructor(
    readonly tree: TreeReader,
    /** The DBPath ("/usr/lib/sysimage/pacman"); the database is its `local/`. */
    readonly location: string,
  ) {}

  get localDir(): string {
    return `${this.location}/local`;
  }

  packages(): Promise<LocalPackage[]> {
    this.packagesCache ??= this.readPackages();
    return this.packagesCache;
  }

  private async readPackages(): Promise<LocalPackage[]> {
    const dirs = (await this.tree.readdir(this.localDir)).sort();
    const descs = await readFiles(this.tree, dirs.map((dir) => `${this.localDir}/${dir}/desc`));
    const out: LocalPackage[] = [];
    for (const [i, dir] of dirs.entries()) {
      if (!descs[i]) continue;
      const desc = parseDbFile(descs[i].toString('utf8'));
      const one = (key: string) => desc.get(key)?.[0] ?? '';
      const deps = (key: string) => (desc.get(key) ?? []).map(parseDep);
      out.push({
        name: one('NAME'),
        version: one('VERSION'),
        arch: one('ARCH'),
        state: one('REASON') === '1' ? 'installed (dependency)' : 'installed (explicit)',
        dir,
        provides: deps('PROVIDES'),
        depends: deps('DEPENDS'),
        conflicts: deps('CONFLICTS'),
        automatic: one('REASON') === '1',
      });
    }
    return out;
  }

  /** The %FILES% of one package as absolute paths without the directories' trailing slash. */
  async filesOf(pkg: LocalPackage): Promise<string[]> {
    return (await this.filesOfEach([pkg]))[0]!;
  }

  /** {@link filesOf} for each of `packages`, read in one go. */
  private async filesOfEach(packages: readonly LocalPackage[]): Promise<string[][]> {
    const texts = await readFiles(this.tree, packages.map((pkg) => `${this.localDir}/${pkg.dir}/files`));
    return texts.map((text) => (parseDbFile(text?.toString('utf8') ?? '').get('FILES') ?? []).map((f) => '/' + f.replace(/\/+$/, '')));
  }

  /**
   * Answered from a path index of this database's content, built once from every package's `files` and kept where
   * the tree keeps derived data (core's owners index, which dpkg's lists use too), then searched.
   */
  async owners(paths: string[]): Promise<Map<string, PackageId[]>> {
    return (await this.ownersIndex()).ownersOf(paths);
  }

  async prepareOwners(): Promise<void> {
    await this.ownersIndex();
  }

  private ownersIndex(): Promise<OwnersIndex> {
    this.index ??= (this.tree.derivedCachePath?.(this.localDir, 'pacman-owners') ?? Promise.resolve(null)).then((cachePath) =>
      loadOwnersIndex(cachePath, () => this.readFileLists()),
    );
    return this.index;
  }

  /** Every package's %FILES%: what the path index is built from. */
  private async readFileLists(): Promise<OwnedList[]> {
    await this.tree.prefetch?.(this.localDir);
    const packages = await this.packages();
    const files = await this.filesOfEach(packages);
    return packages.map((pkg, i) => ({ id: { name: pkg.name, version: pkg.version, arch: pkg.arch }, paths: files[i]! }));
  }
}

export async function openDatabase(tree: TreeReader, location: string): Promise<PacmanDatabase> {
  return new PacmanDatabase(tree, location);
}

/** The directory name libalpm gives a package under `local/`. */
export const packageDir = (id: PackageId) => `${id.name}-${id.version}`;

/** `desc` as libalpm 13 writes it for a newly installed package, in its block order. */
export function formatDesc(pkg: PacmanPackage, automatic: boolean, installDate: number): string {
  const { info } = pkg;
  return formatDbFile([
    ['NAME', [info.pkgname]],
    ['VERSION', [info.pkgver]],
    ['BASE', [info.pkgbase]],
    ['DESC', [info.pkgdesc]],
    ['URL', [info.url]],
    ['ARCH', [info.arch]],
    ['BUILDDATE', [info.builddate]],
    ['INSTALLDATE', [installDate]],
    ['PACKAGER', [info.packager]],
    ['SIZE', info.size > 0 ? [info.size] : []],
    ['REASON', automatic ? [1] : []],
    ['GROUPS', info.lists.group],
    ['LICENSE', info.lists.license],
    ['VALIDATION', ['none']],
    ['REPLACES', info.lists.replaces],
    ['DEPENDS', info.lists.depend],
    ['OPTDEPENDS', info.lists.optdepend],
    ['CONFLICTS', info.lists.conflict],
    ['PROVIDES', info.lists.provides],
    ['XDATA', info.other.get('xdata') ?? []],
  ]);
}

/**
 * `files`: every payload path relative to the root, directories with a trailing slash, sorted by bytes as libalpm
 * sorts its file lists; then the backup files with the md5 of the content the package ships.
 */
export function formatFiles(paths: Array<{ path: string; directory: boolean }>, backup: Array<{ path: string; md5: string }>): string {
  const relative = paths.map((p) => p.path.slice(1) + (p.directory ? '/' : ''));
  relative.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return formatDbFile([
    ['FILES', relative],
    ['BACKUP', backup.map((b) => `${b.path.slice(1)}\t${b.md5}`)],
  ]);
}

/** The layer files that add `pkg` to the local database under `localDir`. */
export function packageEntryFiles(localDir: string, added: WriteDatabaseOptions['added'][number], installDate: number): LayerFile[] {
  const pkg = added.package as PacmanPackage;
  const dir = `${localDir}/${packageDir(pkg.id)}`;
  const md5s = pkg.md5s();
  const digests = new Map(added.entries.filter((e) => e.digest).map((e) => [e.path, e.digest!]));
  const backup = pkg.backup.map((path) => ({ path, md5: md5s.get(path) ?? digests.get(path) ?? '' }));
  const files: LayerFile[] = [
    { path: dir, type: 'directory', mode: 0o755 },
    { path: `${dir}/desc`, type: 'file', mode: 0o644, content: formatDesc(pkg, Boolean(added.automatic), installDate) },
    { path: `${dir}/files`, type: 'file', mode: 0o644, content: formatFiles(added.entries.map((e) => ({ path: e.path, directory: e.type === 'directory' })), backup) },
  ];
  if (pkg.mtreeRaw) files.push({ path: `${dir}/mtree`, type: 'file', mode: 0o644, content: pkg.mtreeRaw });
  if (pkg.install) files.push({ path: `${dir}/install`, type: 'file', mode: 0o644, content: pkg.install });
  return files;
}

/** A package file as the transaction checks see it. */
export function fileTransactionPackage(pkg: PacmanPackage): TransactionPackage {
  const deps = (list: string[]) => list.map(parseDep);
  return { ...pkg.id, provides: deps(pkg.info.lists.provides), depends: deps(pkg.info.lists.depend), conflicts: deps(pkg.info.lists.conflict), origin: pkg.file };
}

/**
 * The new packages' database entries (the base's stay in the base layer) and what points pacman at them. Refuses,
 * as `pacman -U` does, a transaction whose depends are unmet or whose packages conflict: the database would describe
 * a system pacman itself calls broken (`pacman -Dk`).
 */
export async function writeDatabase({ database, added }: WriteDatabaseOptions): Promise<LayerFile[]> {
  for (const a of added) {
    if (!(a.package instanceof PacmanPackage)) throw new TypeError(`${a.package.file} was not opened by the pacman backend`);
  }
  const installed = database instanceof PacmanDatabase ? await database.packages() : [];
  const problems = transactionProblems(
    installed.map((p) => ({ ...p, origin: 'the deployment' })),
    added.map((a) => fileTransactionPackage(a.package as PacmanPackage)),
  );
  if (problems.length > 0) throw new ResolutionError(`pacman would refuse this transaction:\n  ${problems.join('\n  ')}`);
  const localDir = `${database.location}/local`;
  const installDate = Math.floor(Date.now() / 1000);
  return [...added.flatMap((a) => packageEntryFiles(localDir, a, installDate)), ...nativeToolFiles(database.location)];
}
