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

export class PathPlacer {
  private readonly statCache = new Map<string, Promise<TreeStat | null>>();
  private readonly linkCache = new Map<string, Promise<string>>();

  constructor(private readonly base: TreeReader) {}

  /** Metadata of a path in the base (cached: the same directories come up for every file). */
  stat(path: string): Promise<TreeStat | null> {
    let st = this.statCache.get(path);
    if (!st) this.statCache.set(path, (st = this.base.lstat(path)));
    return st;
  }

  private readlink(path: string): Promise<string> {
    let target = this.linkCache.get(path);
    if (!target) this.linkCache.set(path, (target = this.base.readlink(path)));
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
