/**
 * A commit read straight from the repo, for server-side composes that have no deployment on disk. In a `bare` repo
 * (every sysroot's) paths are looked up in the object store in-process ({@link ObjectReader}); elsewhere with
 * `ostree ls`/`ostree cat`, one process per directory, and a directory read in bulk (the package database) is
 * prefetched by checking out just that subtree. Either way composing stays O(changes) however large the base is.
 */
import { createReadStream, lstatSync, readFileSync } from 'node:fs';
import { lstat, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { ToolError } from '../errors.js';
import { OstreeRepo, toolError } from '../ostree.js';
import type { DirRef, ObjectNode, ObjectReader } from '../repo-objects.js';
import { run, runStream } from '../run.js';
import { parentPath } from '../paths.js';
import { scratchDir } from '../scratch.js';
import { DirectoryTree, readEach, type TreeReader, type TreeStat } from '../tree.js';

export interface Listed {
  path: string;
  stat: TreeStat;
  target?: string;
}

export class RepoTree implements TreeReader {
  private readonly listed = new Map<string, Promise<Listed | null>>();
  private readonly prefetched: Array<{ prefix: string; tree: DirectoryTree }> = [];
  private scratch?: string;

  /** The in-process reader of a `bare` repo's objects; null: ask the `ostree` binary. */
  private readonly objects: ObjectReader | null;

  constructor(readonly repo: OstreeRepo, readonly commit: string) {
    this.objects = repo.objects();
    if (!this.objects) this.listDirectory = (dir) => this.listThroughOstree(dir);
  }

  get description(): string {
    return `${this.repo.path}:${this.commit.slice(0, 12)}`;
  }

  derivedCachePath(dir: string, name: string): Promise<string | null> {
    return derivedCachePath(this.repo, this.commit, dir, name);
  }

  get identity(): string {
    return this.commit;
  }

  /** Checks out `dir` (and everything below it) so that reads beneath it come from disk. */
  async prefetch(dir: string): Promise<void> {
    // Objects read in-process are as quick to reach as a checkout's files.
    if (this.objects || this.local(dir)) return;
    this.scratch ??= await scratchDir(this.repo.path, 'prefetch');
    const dest = join(this.scratch, String(this.prefetched.length));
    try {
      await run('ostree', [`--repo=${this.repo.path}`, 'checkout', '-U', `--subpath=${dir}`, this.commit, dest]);
    } catch (err) {
      throw toolError('ostree checkout', err);
    }
    this.prefetched.push({ prefix: dir, tree: new DirectoryTree(dest) });
  }

  /** Removes prefetched checkouts. */
  async dispose(): Promise<void> {
    if (this.scratch) await rm(this.scratch, { recursive: true, force: true });
  }

  private local(path: string): { tree: DirectoryTree; rest: string } | undefined {
    for (const { prefix, tree } of this.prefetched) {
      if (path === prefix || path.startsWith(prefix + '/')) return { tree, rest: path.slice(prefix.length) || '/' };
    }
    return undefined;
  }

  /**
   * A path's listing, answered from its parent directory's: one `ostree ls` per directory instead of one per path
   * (an import asks about every file it places; a process each was most of a server-side install's time).
   */
  private ls(path: string): Promise<Listed | null> {
    let found = this.listed.get(path);
    if (!found) {
      found = this.objects
        ? this.lsObject(path)
        : path === '/'
          ? this.repo.lsDir(this.commit, '/').then((line) => (line === null ? null : parseLsLine(line)))
          : this.children(parentPath(path)).then((children) => children?.get(path) ?? null);
      this.listed.set(path, found);
    }
    return found;
  }

  /** The entries directly in `dir`, by path; null when `dir` is not a directory of the commit. */
  private children(dir: string): Promise<Map<string, Listed> | null> {
    let found = this.listings.get(dir);
    if (!found) {
      found = this.ls(dir).then(async (self) => {
        if (self?.stat.type !== 'directory') return null;
        const out = new Map<string, Listed>();
        const ran = await run('ostree', [`--repo=${this.repo.path}`, 'ls', this.commit, '--', dir], { reject: false });
        if (ran.exitCode !== 0) throw toolError('ostree ls', ran);
        for (const line of ran.stdout.split('\n')) {
          const listed = parseLsLine(line);
          // The directory itself comes first; children are the paths one level below it.
          if (listed && listed.path !== dir && parentPath(listed.path) === dir) out.set(listed.path, listed);
        }
        return out;
      });
      this.listings.set(dir, found);
    }
    return found;
  }

  /** The object at `path` (bare repos only); a missing commit is an error, as `ostree ls` makes it. */
  private node(path: string): ObjectNode | null {
    const objects = this.objects!;
    if (!objects.root(this.commit)) throw new ToolError(`ostree ls failed: no commit ${this.commit} in ${this.repo.path}`);
    return objects.resolve(this.commit, path);
  }

  private async lsObject(path: string): Promise<Listed | null> {
    const node = this.node(path);
    return node ? { path, ...(await this.objects!.stat(node)) } : null;
  }

  private readonly listings = new Map<string, Promise<Map<string, Listed> | null>>();

  async lstat(path: string): Promise<TreeStat | null> {
    const local = this.local(path);
    if (local) return local.tree.lstat(local.rest);
    return (await this.ls(path))?.stat ?? null;
  }

  /**
   * One `ostree ls` of `dir`; its children's answers (symlink targets included) serve later lookups too. Offered only
   * where a single lookup costs a process: in a bare repo each lookup is a map search, and listing a directory to
   * learn one entry would stat every sibling's object.
   */
  readonly listDirectory?: (dir: string) => Promise<Map<string, TreeStat>>;

  private async listThroughOstree(dir: string): Promise<Map<string, TreeStat>> {
    const local = this.local(dir);
    const children = new Map<string, TreeStat>();
    if (local) {
      for (const name of await local.tree.readdir(local.rest)) {
        const st = await local.tree.lstat(`${local.rest === '/' ? '' : local.rest}/${name}`);
        if (st) children.set(name, st);
      }
      return children;
    }
    let out: string;
    try {
      out = (await run('ostree', [`--repo=${this.repo.path}`, 'ls', this.commit, dir])).stdout;
    } catch (err) {
      throw toolError('ostree ls', err);
    }
    const prefix = dir === '/' ? '/' : `${dir}/`;
    for (const line of out.split('\n')) {
      const listed = parseLsLine(line);
      if (!listed || listed.path.length <= prefix.length || !listed.path.startsWith(prefix) || listed.path.includes('/', prefix.length)) continue;
      children.set(listed.path.slice(prefix.length), listed.stat);
      if (!this.listed.has(listed.path)) this.listed.set(listed.path, Promise.resolve(listed));
    }
    return children;
  }

  async readlink(path: string): Promise<string> {
    const local = this.local(path);
    if (local) return local.tree.readlink(local.rest);
    const target = (await this.ls(path))?.target;
    if (target === undefined) throw Object.assign(new Error(`${path} is not a symlink in ${this.description}`), { code: 'EINVAL' });
    return target;
  }

  async readFile(path: string): Promise<Buffer> {
    const local = this.local(path);
    if (local) return local.tree.readFile(local.rest);
    const data = await this.repo.readFile(this.commit, path);
    if (data === null) throw Object.assign(new Error(`${path}: no such file in ${this.description}`), { code: 'ENOENT' });
    return data;
  }

  /** From a prefetched checkout or the object store, without a round trip per file (see {@link DirectoryTree.readFiles}). */
  async readFiles(paths: readonly string[]): Promise<Array<Buffer | null>> {
    const objects = this.objects;
    // Without the object store, a path outside the prefetched checkouts costs an `ostree cat`: asked as any reader is.
    if (!objects && !paths.every((p) => this.local(p))) return readEach(this, paths);
    return paths.map((path) => {
      const local = this.local(path);
      return local ? local.tree.readFileNow(local.rest) : this.objectBytes(objects!, path);
    });
  }

  private objectBytes(objects: ObjectReader, path: string): Buffer | null {
    const node = objects.resolve(this.commit, path);
    if (node?.kind !== 'file') return null;
    const file = objects.objectPath(node.checksum, 'file');
    // A bare repo keeps a symlink's object as a symlink: only a regular file has bytes to read.
    return lstatSync(file).isFile() ? readFileSync(file) : null;
  }

  async readdir(path: string): Promise<string[]> {
    const local = this.local(path);
    if (local) return local.tree.readdir(local.rest);
    if (this.objects) {
      const node = this.node(path);
      if (node?.kind !== 'directory') throw Object.assign(new Error(`${path}: not a directory in ${this.description}`), { code: node ? 'ENOTDIR' : 'ENOENT' });
      const tree = this.objects.dirtree(node.dir.tree);
      return [...tree.files.keys(), ...tree.dirs.keys()].sort();
    }
    const out = (await run('ostree', [`--repo=${this.repo.path}`, 'ls', '--nul-filenames-only', this.commit, path])).stdout;
    // `ostree ls` lists the directory itself first, then its children.
    return out
      .split('\0')
      .filter((p) => p !== '' && p !== path)
      .map((p) => p.slice(p.lastIndexOf('/') + 1));
  }

  createReadStream(path: string): Readable {
    const local = this.local(path);
    if (local) return local.tree.createReadStream(local.rest);
    if (this.objects) {
      const out = new PassThrough();
      this.objects.regularFile(this.commit, path).then(
        (file) => {
          if (file === null) out.destroy(new ToolError(`ostree cat ${path} failed: no such file in ${this.description}`));
          else createReadStream(file).on('error', (err) => out.destroy(err)).pipe(out);
        },
        (err: unknown) => out.destroy(err as Error),
      );
      return out;
    }
    // The stream ends only when `ostree cat` succeeded; its failure (a missing path, a corrupt object) becomes the
    // stream's error instead of an unhandled rejection of the subprocess.
    const out = new PassThrough();
    const cat = runStream('ostree', [`--repo=${this.repo.path}`, 'cat', this.commit, path]);
    cat.on('error', (err) => out.destroy(toolError(`ostree cat ${path}`, err)));
    out.on('close', () => cat.destroy());
    return cat.pipe(out);
  }
}

/**
 * `<repo>/tmp/cache/ostree-layer/<name>-<checksum of dir>`: see {@link TreeReader.derivedCachePath}. OSTree's own tmp
 * cleanup leaves `tmp/cache` alone, and the checksum is the one OSTree keeps for the directory's content, so a cached
 * file can never describe other content. Null when `dir` is not a directory of the commit.
 */
export async function derivedCachePath(repo: OstreeRepo, commit: string, dir: string, name: string): Promise<string | null> {
  const checksum = await contentsChecksum(repo, commit, dir);
  if (!checksum) return null;
  const cacheDir = join(repo.path, 'tmp', 'cache', 'ostree-layer');
  await mkdir(cacheDir, { recursive: true });
  return join(cacheDir, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}-${checksum}`);
}

/** OSTree's checksum of the content of directory `dir` in `commit` (its dirtree), or null when it is no directory. */
async function contentsChecksum(repo: OstreeRepo, commit: string, dir: string): Promise<string | null> {
  const objects = repo.objects();
  if (objects) {
    const node = objects.resolve(commit, dir);
    return node?.kind === 'directory' ? node.dir.tree : null;
  }
  let line: string;
  try {
    line = (await run('ostree', [`--repo=${repo.path}`, 'ls', '-C', '-d', commit, '--', dir])).stdout;
  } catch {
    return null;
  }
  // "d00755 0 0      0 <contents checksum> <metadata checksum> /path"
  return /^d\S* \d+ \d+\s+\d+ ([0-9a-f]{64}) /.exec(line)?.[1] ?? null;
}

/** Every directory a (small) commit holds, with its metadata: what a cached package layer contains. */
export async function listDirectories(repo: OstreeRepo, commit: string): Promise<Listed[]> {
  return (await listLayer(repo, commit)).directories;
}

/** A commit's directories and the bytes of its regular files, from one `ostree ls -R`. */
export async function listLayer(repo: OstreeRepo, commit: string): Promise<{ directories: Listed[]; fileBytes: number }> {
  const objects = repo.objects();
  if (objects) return walkLayer(objects, commit);
  let out: string;
  try {
    out = (await run('ostree', [`--repo=${repo.path}`, 'ls', '-R', commit, '/'])).stdout;
  } catch (err) {
    throw toolError('ostree ls', err);
  }
  const directories: Listed[] = [];
  let fileBytes = 0;
  for (const line of out.split('\n')) {
    const listed = parseLsLine(line);
    if (listed?.stat.type === 'directory') directories.push(listed);
    else if (listed?.stat.type === 'file') fileBytes += listed.stat.size;
  }
  return { directories, fileBytes };
}

/** One line of `ostree ls -d`: "d00755 0 0      0 /usr/share", "l00777 0 0 0 /lib -> usr/lib". */
export function parseLsLine(line: string): Listed | null {
  const m = /^([-dl])0?([0-7]+) (\d+) (\d+)\s+(\d+) (.*)$/.exec(line.trim());
  if (!m) return null;
  const [, kind, mode, uid, gid, size, rest] = m;
  const type = kind === 'd' ? 'directory' : kind === 'l' ? 'symlink' : 'file';
  const stat: TreeStat = { type, mode: parseInt(mode, 8) & 0o7777, uid: Number(uid), gid: Number(gid), size: Number(size) };
  if (type !== 'symlink') return { path: rest, stat };
  const arrow = rest.indexOf(' -> ');
  return arrow >= 0 ? { path: rest.slice(0, arrow), stat, target: rest.slice(arrow + 4) } : { path: rest, stat };
}

/** {@link listLayer} from the object store: every dirtree once, every regular file's object stat-ed for its size. */
async function walkLayer(objects: ObjectReader, commit: string): Promise<{ directories: Listed[]; fileBytes: number }> {
  const root = objects.root(commit);
  if (!root) throw new ToolError(`ostree ls failed: no commit ${commit} in ${objects.repoPath}`);
  const directories: Listed[] = [];
  const files: string[] = [];
  const walk = (path: string, dir: DirRef): void => {
    directories.push({ path, stat: objects.dirmeta(dir.meta) });
    const tree = objects.dirtree(dir.tree);
    const prefix = path === '/' ? '/' : `${path}/`;
    for (const checksum of tree.files.values()) files.push(checksum);
    for (const [name, sub] of tree.dirs) walk(prefix + name, sub);
  };
  walk('/', root);
  const stats = await Promise.all(files.map((checksum) => lstat(objects.objectPath(checksum, 'file'))));
  const fileBytes = stats.reduce((sum, st) => sum + (st.isFile() ? st.size : 0), 0);
  return { directories, fileBytes };
}
