/**
 * File conflicts: a path that the base (by its database's file lists) or another new package owns with different
 * content is an error naming both packages, unless the backend says the newcomer may overwrite it
 * ({@link Backend.mayOverwrite}). Identical content is fine. Directories never conflict with directories.
 */
import { createHash } from 'node:crypto';
import type { Backend, InstalledDatabase, PackageId } from '../backend.js';
import { FileConflictError, PackageFormatError } from '../errors.js';
import type { ImportedPackage, PlacedEntry } from '../import/importer.js';
import type { PathPlacer } from '../import/placement.js';
import { ancestors } from '../paths.js';
import type { TreeReader } from '../tree.js';

export interface ConflictContext {
  backend: Backend;
  tree: TreeReader;
  database: InstalledDatabase;
  placer: PathPlacer;
}

/** Returns, per new package, the database paths it takes over from each installed owner. */
export async function checkConflicts(ctx: ConflictContext, imported: ImportedPackage[]): Promise<Map<ImportedPackage, Map<string, string[]>>> {
  const claims = new Map<string, { pkg: ImportedPackage; entry: PlacedEntry }>();
  const newSymlinks = new Map<string, ImportedPackage>();
  for (const pkg of imported) {
    for (const entry of pkg.placed) if (entry.type === 'symlink') newSymlinks.set(entry.path, pkg);
  }

  for (const pkg of imported) {
    for (const entry of pkg.placed) {
      for (const dir of ancestors(entry.path)) {
        const owner = newSymlinks.get(dir);
        if (owner && owner !== pkg) {
          throw new PackageFormatError(pkg.package.file, `${entry.path} lies under ${dir}, a symlink shipped by ${describe(owner.package.id)}; refusing to write through it`);
        }
      }
      const earlier = claims.get(entry.path);
      if (earlier && !sameContent(earlier.entry, entry)) {
        if (earlier.entry.type === 'directory' || entry.type === 'directory') {
          throw conflict(entry.path, pkg.package.id, earlier.pkg.package.id, 'one ships a directory there, the other a file');
        }
        if (!ctx.backend.mayOverwrite(pkg.package, earlier.pkg.package.id, entry.source.path)) {
          throw conflict(entry.path, pkg.package.id, earlier.pkg.package.id, 'both are being installed with different content');
        }
      }
      if (!earlier || entry.type !== 'directory') claims.set(entry.path, { pkg, entry });
    }
  }

  // The database is asked only about what the new packages ship, in each spelling a base package may have recorded.
  const takeovers = new Map<ImportedPackage, Map<string, string[]>>();
  const rules = await aliasRules(ctx);
  const asked = new Set<string>();
  for (const claim of claims.values()) if (claim.entry.type !== 'directory') for (const p of spellings(claim.entry, rules)) asked.add(p);
  for (const [recorded, owners] of await ctx.database.owners([...asked])) {
    let canonical = await ctx.placer.canonical(recorded, false);
    if (canonical.startsWith('/etc/')) canonical = '/usr' + canonical;
    const claim = claims.get(canonical);
    if (!claim || claim.entry.type === 'directory') continue;
    const base = await ctx.placer.stat(canonical);
    if (!base || base.type === 'directory') {
      if (base?.type === 'directory') throw conflict(canonical, claim.pkg.package.id, owners[0], 'the base has a directory there');
      continue;
    }
    if (await sameAsBase(ctx.tree, canonical, base.type, claim.entry)) continue;
    for (const owner of owners) {
      if (owner.name === claim.pkg.package.id.name) continue;
      if (!ctx.backend.mayOverwrite(claim.pkg.package, owner, claim.entry.source.path)) {
        throw conflict(canonical, claim.pkg.package.id, owner, 'it is part of the base with different content', ctx.backend.overwriteHint?.(claim.pkg.package.id, owner) ?? '');
      }
      let byOwner = takeovers.get(claim.pkg);
      if (!byOwner) takeovers.set(claim.pkg, (byOwner = new Map()));
      const list = byOwner.get(owner.name) ?? [];
      list.push(recorded);
      byOwner.set(owner.name, list);
    }
  }
  return takeovers;
}

/** A directory of the tree (`to`) that a base package may name through another path (`from`). */
interface AliasRule {
  from: string;
  to: string;
}

/**
 * How a base package may spell a path the layers place: through the base's top-level symlinks to directories
 * (usrmerge: `/lib` for `/usr/lib`) and the relocations the path policy makes (`/etc` is `/usr/etc`, `/boot` is
 * `/usr/lib/ostree-boot`). Deeper symlinked directories are matched when the new package spells the path as the base
 * package does.
 */
async function aliasRules(ctx: ConflictContext): Promise<AliasRule[]> {
  const rules: AliasRule[] = [{ from: '/etc', to: '/usr/etc' }, { from: '/boot', to: '/usr/lib/ostree-boot' }];
  const top = (await ctx.tree.readdir('/').catch(() => [] as string[])).map((name) => `/${name}`);
  const stats = await Promise.all(top.map((path) => ctx.placer.stat(path)));
  const links = top.filter((_, i) => stats[i]?.type === 'symlink');
  const targets = await Promise.all(links.map((path) => ctx.placer.canonical(path, true)));
  links.forEach((from, i) => {
    if (targets[i] !== from) rules.push({ from, to: targets[i]! });
  });
  return rules;
}

/** The placed path, the package's own spelling, and both through every alias rule (two rounds: /lib64 → /usr/lib64 → …). */
function spellings(entry: PlacedEntry, rules: AliasRule[]): Set<string> {
  const out = new Set([entry.path, entry.source.path]);
  for (let round = 0; round < 2; round++) {
    for (const path of [...out]) {
      for (const { from, to } of rules) if (path === to || path.startsWith(to + '/')) out.add(from + path.slice(to.length));
    }
  }
  return out;
}

function sameContent(a: PlacedEntry, b: PlacedEntry): boolean {
  if (a.type === 'directory' || b.type === 'directory') return a.type === b.type;
  const kind = (e: PlacedEntry) => (e.type === 'hardlink' ? 'file' : e.type);
  if (kind(a) !== kind(b)) return false;
  return kind(a) === 'symlink' ? a.linkTarget === b.linkTarget : a.sha256 === b.sha256;
}

async function sameAsBase(tree: TreeReader, path: string, type: string, entry: PlacedEntry): Promise<boolean> {
  if (type === 'symlink') return entry.type === 'symlink' && (await tree.readlink(path)) === entry.linkTarget;
  if (type !== 'file' || (entry.type !== 'file' && entry.type !== 'hardlink')) return false;
  const hash = createHash('sha256');
  for await (const chunk of tree.createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex') === entry.sha256;
}

function describe(id: PackageId): string {
  return `${id.name} ${id.version} (${id.arch})`;
}

/** `baseHint` (a base owner only): the format's words for what the package must declare, from the backend. */
function conflict(path: string, incoming: PackageId, owner: PackageId, why: string, baseHint?: string): FileConflictError {
  const base = baseHint !== undefined;
  const fix = base
    ? `the package must declare that it replaces ${owner.name}${baseHint ? ` (${baseHint})` : ''}, or leave ${incoming.name} out`
    : `install only one of them, or have ${incoming.name} declare that it replaces ${owner.name}`;
  return new FileConflictError(`file conflict: ${describe(incoming)} ships ${path}, which ${base ? 'base package ' : ''}${describe(owner)} also owns; ${why}. Fix: ${fix}.`);
}
