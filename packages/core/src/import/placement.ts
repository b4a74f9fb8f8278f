/**
 * Where each packaged path lands in an OSTree tree. The rules, in order:
 * 1. Directory components are resolved through the base tree's symlinks (usrmerge: "/lib/x" lands in "/usr/lib/x"),
 *    never through a symlink that a package being layered ships (that is how a hostile package writes elsewhere).
 * 2. /etc goes to /usr/etc (a tree with both does not deploy; OSTree's 3-way merge makes it /etc at boot).
 * 3. /boot goes to /usr/lib/ostree-boot.
 * 4. /var and /run are not carried by deployments (/var is seeded once): directories and symlinks there become
 *    tmpfiles.d lines; regular files are shipped under /usr/share/factory and copied in at boot by a tmpfiles `C` line.
 */
import type { PackageEntry } from '../backend.js';
import { PackageFormatError } from '../errors.js';
import { parentPath } from '../paths.js';
import type { TreeReader, TreeStat } from '../tree.js';

export type Placement =
  | { kind: 'tree'; path: string }
  /** Not in the tree; `tmpfiles` is the line that recreates it at boot; `factoryPath` holds a regular file's content. */
  | { kind: 'runtime'; tmpfiles: string; factoryPath?: string };

const MAX_SYMLINK_HOPS = 40;
export const FACTORY_DIR = '/usr/share/factory';

/** What the placer learnt of the base, shared by every view of one placer (the same directories come up for every file). */
interface BaseAnswers {
  /** The answer for each path asked about or implied by an ancestor's answer; settled, so most lookups need no await. */
  known: Map<string, TreeStat | null>;
  /** Questions under way, so that concurrent imports ask each once. */
  asking: Map<string, Promise<TreeStat | null>>;
  /** Symlink targets, read as soon as a symlink is found. */
  targets: Map<string, string>;
  listings: Map<string, Promise<Map<string, TreeStat>>>;
}

/**
 * The facts about the base one import was decided on, by path: "-" for nothing there, else the type with a
 * directory's mode and owner or a symlink's target. A layer made from the same package file is valid on any base that
 * gives the same answers (see {@link PathPlacer.sameFacts}). Paths implied by an ancestor's answer (everything under a
 * directory the base does not have) are not listed.
 */
export type BaseFacts = Map<string, string>;

export class PathPlacer {
  constructor(
    private readonly base: TreeReader,
    private readonly answers: BaseAnswers = { known: new Map(), asking: new Map(), targets: new Map(), listings: new Map() },
    private readonly facts?: BaseFacts,
  ) {}

  /** The base's {@link TreeReader.identity}, when it has one. */
  get baseIdentity(): string | undefined {
    return this.base.identity;
  }

  /** A view of this placer (same base, same cache) that writes down every fact of the base it decides on. */
  recording(facts: BaseFacts): PathPlacer {
    return new PathPlacer(this.base, this.answers, facts);
  }

  /** True when the base answers every recorded question as it did when `facts` were recorded. */
  async sameFacts(facts: Array<[string, string]>): Promise<boolean> {
    // Asked all at once: a reader that lists directories lists each once, and siblings side by side.
    const now = await Promise.all(facts.map(async ([path]) => {
      const st = await this.stat(path);
      return st?.type === 'symlink' ? `l ${this.answers.targets.get(path)}` : describeStat(st);
    }));
    return facts.every(([, fact], i) => now[i] === fact);
  }

  /**
   * Metadata of a path in the base. Nothing lies under a path the base does not have (or has as a file), so those are
   * answered without asking; readers where single lookups are costly (a commit read through `ostree ls`) are asked
   * for whole directories instead. Answers are kept, so the common case costs a map lookup.
   */
  async stat(path: string): Promise<TreeStat | null> {
    const st = this.answers.known.has(path) ? this.answers.known.get(path)! : await this.learn(path);
    if (this.facts && !this.facts.has(path)) this.note(path);
    return st;
  }

  private async learn(path: string): Promise<TreeStat | null> {
    let st: TreeStat | null | undefined;
    if (path !== '/') {
      const up = parentPath(path);
      const parent = this.answers.known.has(up) ? this.answers.known.get(up)! : await this.learn(up);
      if (implies(parent)) st = null;
    }
    if (st === undefined) {
      st = await this.ask(path);
      if (st?.type === 'symlink' && !this.answers.targets.has(path)) this.answers.targets.set(path, await this.base.readlink(path));
    }
    this.answers.known.set(path, st);
    return st;
  }

  /** Writes down the facts `path`'s answer rests on: its own unless its parent's implies it, and its ancestors'. */
  private note(path: string): void {
    const facts = this.facts!;
    for (let p = path; !facts.has(p); p = parentPath(p)) {
      const up = parentPath(p);
      if (p === '/' || !implies(this.answers.known.get(up))) {
        const st = this.answers.known.get(p)!;
        facts.set(p, st?.type === 'symlink' ? `l ${this.answers.targets.get(p)}` : describeStat(st));
      }
      if (p === '/') return;
    }
  }

  private ask(path: string): Promise<TreeStat | null> {
    let st = this.answers.asking.get(path);
    if (!st) {
      const parent = parentPath(path);
      const listable = path !== '/' && this.base.listDirectory && this.answers.known.get(parent)?.type === 'directory';
      st = listable ? this.listing(parent).then((children) => children.get(path.slice(parent.length === 1 ? 1 : parent.length + 1)) ?? null) : this.base.lstat(path);
      this.answers.asking.set(path, st);
    }
    return st;
  }

  private listing(dir: string): Promise<Map<string, TreeStat>> {
    let children = this.answers.listings.get(dir);
    if (!children) this.answers.listings.set(dir, (children = this.base.listDirectory!(dir)));
    return children;
  }

  private async readlink(path: string): Promise<string> {
    const known = this.answers.targets.get(path);
    if (known !== undefined) return known;
    const target = await this.base.readlink(path);
    this.answers.targets.set(path, target);
    return target;
  }

  /**
   * Resolves `path` through the base's symlinks. Every directory component is followed; the last one only when
   * `followLast` (a directory entry over a base symlink to a directory keeps the symlink, as dpkg does).
   */
  async canonical(path: string, followLast: boolean): Promise<string> {
    let hops = 0;
    const pending = path.split('/').filter(Boolean);
    let resolved = '';
    while (pending.length > 0) {
      const name = pending.shift()!;
      const candidate = `${resolved}/${name}`;
      const isLast = pending.length === 0;
      const st = isLast && !followLast ? null : await this.stat(candidate);
      if (st?.type !== 'symlink') {
        resolved = candidate;
        continue;
      }
      if (++hops > MAX_SYMLINK_HOPS) return candidate;
      const target = await this.readlink(candidate);
      // Absolute targets are read relative to the tree's root, so resolution never leaves the tree.
      const restart = target.startsWith('/') ? '' : resolved;
      const targetParts = target.split('/').filter(Boolean);
      const stack = restart.split('/').filter(Boolean);
      for (const part of targetParts) {
        if (part === '.') continue;
        if (part === '..') stack.pop();
        else stack.push(part);
      }
      if (isLast) {
        const st2 = await this.stat('/' + stack.join('/'));
        // Only follow a final symlink that really leads to a directory.
        if (st2?.type !== 'directory' && st2?.type !== 'symlink') {
          resolved = candidate;
          continue;
        }
      }
      pending.unshift(...stack);
      resolved = '';
    }
    return resolved === '' ? '/' : resolved;
  }

  /** Where `entry` goes; `file` names the package file for error messages. */
  async place(entry: PackageEntry, file: string): Promise<Placement> {
    const canonical = await this.canonical(entry.path, entry.type === 'directory');
    const path = relocate(canonical);
    if (path === '/var' || path.startsWith('/var/') || path === '/run' || path.startsWith('/run/')) {
      return runtimePlacement(entry, path, file);
    }
    return { kind: 'tree', path };
  }
}

function relocate(path: string): string {
  if (path === '/etc' || path.startsWith('/etc/')) return '/usr' + path;
  if (path === '/boot' || path.startsWith('/boot/')) return '/usr/lib/ostree-boot' + path.slice('/boot'.length);
  return path;
}

function runtimePlacement(entry: PackageEntry, path: string, file: string): Placement {
  const mode = (entry.mode & 0o7777).toString(8).padStart(4, '0');
  switch (entry.type) {
    case 'directory':
      return { kind: 'runtime', tmpfiles: `d ${quote(path)} ${mode} ${tmpfilesOwner(entry, file)} -` };
    case 'symlink': {
      // The target is the rest of a tmpfiles.d line: a control character there would end it and start another.
      const target = entry.linkTarget ?? '';
      if (CONTROL_CHARACTER.test(target) || target.trim() === '') {
        throw new PackageFormatError(file, `symlink ${JSON.stringify(entry.path)} points to ${JSON.stringify(target)}, which cannot be recreated at boot by tmpfiles.d (empty, or a control character in it); rebuild the package`);
      }
      return { kind: 'runtime', tmpfiles: `L ${quote(path)} - - - - ${target}` };
    }
    case 'file':
    case 'hardlink': {
      const factoryPath = FACTORY_DIR + path;
      return { kind: 'runtime', tmpfiles: `C ${quote(path)} - - - - ${quote(factoryPath)}`, factoryPath };
    }
    default:
      throw new PackageFormatError(file, `${entry.path}: a ${entry.type} under ${parentPath(path)} cannot be layered`);
  }
}

/** Nothing lies under a path the base lacks or has as a file: its answer implies its children's. */
function implies(parent: TreeStat | null | undefined): boolean {
  return parent === null || parent?.type === 'file' || parent?.type === 'other';
}

function describeStat(st: TreeStat | null): string {
  if (!st) return '-';
  if (st.type === 'directory') return `d ${st.mode.toString(8)} ${st.uid} ${st.gid}`;
  return st.type;
}

const CONTROL_CHARACTER = /[\x00-\x1f\x7f]/;

/** "user group" for a tmpfiles.d line; names that are not single words would shift or add fields, so they are refused. */
function tmpfilesOwner(entry: PackageEntry, file: string): string {
  const word = (name: string, id: number | undefined, what: string) => {
    if (name === '') return id === undefined ? '-' : String(id);
    if (/[\s:\x00-\x1f\x7f]/.test(name)) {
      throw new PackageFormatError(file, `${JSON.stringify(entry.path)} belongs to ${what} ${JSON.stringify(name)}, which is not a valid account name (whitespace, ":" or a control character); rebuild the package`);
    }
    return name;
  };
  return `${word(entry.user, entry.uid, 'user')} ${word(entry.group, entry.gid, 'group')}`;
}

/** tmpfiles.d splits on whitespace; quote paths that contain any. */
function quote(path: string): string {
  return /[\s"\\]/.test(path) ? `"${path.replace(/["\\]/g, '\\$&')}"` : path;
}
