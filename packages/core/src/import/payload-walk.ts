/**
 * The one pass over a package's payload: each entry is placed by the path policy, checked against the base, written
 * into the layer's tar stream, and hashed on the way (SHA-256 for the conflict check, plus the digest the backend's
 * database wants, {@link PackageFile.fileDigest}). Nothing is read twice: what the later phases need comes out of here.
 */
import { createHash, type Hash } from 'node:crypto';
import type { PackageEntry, PackageFile } from '../backend.js';
import { FileConflictError, PackageFormatError } from '../errors.js';
import { faultPoint } from '../fault.js';
import { ancestors } from '../paths.js';
import type { Accounts } from './accounts.js';
import { DEFAULT_DIR, type DirMeta, type LayerSink } from './layer-tar.js';
import type { PathPlacer } from './placement.js';

/** An entry as it lands in the new tree. */
export interface PlacedEntry {
  /** Path in the tree after the path policy. */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** SHA-256 of a regular file's content (hardlinks: of their target's). */
  sha256?: string;
  /** Symlink target as written, or the placed path of a hardlink's target. */
  linkTarget?: string;
  /** The entry as the package named it. */
  source: PackageEntry;
}

export interface WalkedPayload {
  /** Payload as listed, paths as the package names them; `digest` filled in where the package asked for one. */
  entries: PackageEntry[];
  placed: PlacedEntry[];
  /** tmpfiles.d lines for what lives under /var and /run. */
  tmpfiles: string[];
  /** Account names the layer's owners were looked up by, with the ids they had. */
  users: Map<string, number>;
  groups: Map<string, number>;
}

export interface WalkContext {
  placer: PathPlacer;
  accounts: Accounts;
  layer: LayerSink;
}

export async function walkPayload(ctx: WalkContext, pkg: PackageFile): Promise<WalkedPayload> {
  const { placer, layer } = ctx;
  const file = pkg.file;
  const out: WalkedPayload = { entries: [], placed: [], tmpfiles: [], users: new Map(), groups: new Map() };
  const placedByPackagePath = new Map<string, PlacedEntry>();
  const ownSymlinks = new Set<string>();
  const digest = pkg.fileDigest;

  for await (const { entry, body } of pkg.payload()) {
    out.entries.push(entry);
    const placement = await placer.place(entry, file);
    const finalPath = placement.kind === 'tree' ? placement.path : placement.factoryPath;
    if (placement.kind === 'runtime') out.tmpfiles.push(placement.tmpfiles);

    // A path reached through a symlink this very package ships would write wherever that symlink points.
    for (const dir of [...ancestors(entry.path), ...(finalPath ? ancestors(finalPath) : [])]) {
      if (ownSymlinks.has(dir)) {
        throw new PackageFormatError(file, `entry ${entry.path} lies under ${dir}, which the package itself ships as a symlink; refusing to write through it`);
      }
    }
    if (entry.type === 'symlink') {
      ownSymlinks.add(entry.path);
      if (finalPath) ownSymlinks.add(finalPath);
    }
    if (finalPath === undefined || entry.ghost) {
      if (body) for await (const _ of body) void _;
      continue;
    }
    await checkBaseShape(placer, pkg, entry, finalPath);
    refuseToolOwnedPath(pkg, entry, finalPath);

    const ids = mapOwner(ctx.accounts, entry, pkg, out);
    let item: PlacedEntry;
    switch (entry.type) {
      case 'directory': {
        // An existing directory keeps the base's metadata, as dpkg keeps it.
        const st = await placer.stat(finalPath);
        const meta = st?.type === 'directory' ? { mode: st.mode, uid: st.uid, gid: st.gid } : { mode: entry.mode, ...ids };
        item = { path: finalPath, type: 'directory', ...meta, size: 0, source: entry };
        await layer.directory(finalPath, meta);
        break;
      }
      case 'symlink':
        item = { path: finalPath, type: 'symlink', mode: 0o777, ...ids, size: 0, linkTarget: entry.linkTarget, source: entry };
        await layer.symlink(finalPath, { mode: 0o777, ...ids }, entry.linkTarget ?? '');
        break;
      case 'hardlink': {
        const target = entry.linkTarget ? placedByPackagePath.get(entry.linkTarget) : undefined;
        if (!target || target.type !== 'file') {
          throw new PackageFormatError(file, `hardlink ${entry.path} points to ${entry.linkTarget ?? '(nothing)'}, which is not an earlier regular file of this package`);
        }
        item = { path: finalPath, type: 'hardlink', mode: target.mode, uid: target.uid, gid: target.gid, size: target.size, sha256: target.sha256, linkTarget: target.path, source: entry };
        // A link's digest is its target's (when the target was hashed: a link wanted alone gets none).
        if (digest?.wanted(entry.path) && target.source.digest) entry.digest = target.source.digest;
        await layer.hardlink(finalPath, target, target.path);
        break;
      }
      case 'file': {
        if (!body) throw new PackageFormatError(file, `regular file ${entry.path} has no content stream`);
        const meta = { mode: entry.mode, ...ids };
        const sha256 = createHash('sha256');
        const extra: Hash | undefined = digest?.wanted(entry.path) ? createHash(digest.algorithm) : undefined;
        await layer.beginFile(finalPath, meta, entry.size);
        let seen = 0;
        for await (const chunk of body as AsyncIterable<Buffer>) {
          seen += chunk.length;
          if (seen > entry.size) break;
          sha256.update(chunk);
          extra?.update(chunk);
          const behind = layer.write(chunk);
          if (behind) await behind;
        }
        if (seen !== entry.size) throw new PackageFormatError(file, `${entry.path}: expected ${entry.size} bytes, read ${seen} (truncated package?)`);
        await layer.endFile();
        await faultPoint('import');
        if (extra) entry.digest = extra.digest('hex');
        item = { path: finalPath, type: 'file', ...meta, size: entry.size, sha256: sha256.digest('hex'), source: entry };
        break;
      }
      default:
        throw new PackageFormatError(file, `${entry.path} is a ${entry.type}; device files and FIFOs cannot be stored in an OSTree commit (create them at boot with tmpfiles.d)`);
    }
    placedByPackagePath.set(entry.path, item);
    out.placed.push(item);
  }

  if (out.tmpfiles.length > 0) {
    const conf = `# Created by ostree-layer for ${pkg.id.name}: paths under /var and /run are made at boot.\n${out.tmpfiles.join('\n')}\n`;
    await layer.file(`/usr/lib/tmpfiles.d/ostree-layer-${pkg.id.name}.conf`, { mode: 0o644, uid: 0, gid: 0 }, Buffer.byteLength(conf), conf);
  }
  return out;
}

/** Metadata of a base directory for an implicit ancestor in the layer (the default where the base has none). */
export async function baseDirMeta(placer: PathPlacer, dir: string): Promise<DirMeta> {
  const st = await placer.stat(dir);
  return st?.type === 'directory' ? { mode: st.mode, uid: st.uid, gid: st.gid } : DEFAULT_DIR;
}

/**
 * A layer can add to the base but not change the kind of what is there: ostree's compose refuses a file over a
 * directory (or a directory under a file) with its own terse error. Checked here, per entry, before the layer is
 * written, and reported as the file conflict it is (dpkg: "trying to overwrite directory … with nondirectory").
 */
async function checkBaseShape(placer: PathPlacer, pkg: PackageFile, entry: PackageEntry, path: string): Promise<void> {
  const who = `${pkg.id.name} ${pkg.id.version} (${pkg.id.arch}, ${pkg.file})`;
  for (const dir of ancestors(path)) {
    const st = await placer.stat(dir);
    if (st && st.type !== 'directory') {
      throw new FileConflictError(`file conflict: ${who} ships ${entry.path} (placed at ${path}), but ${dir} is a ${describeType(st.type)} in the base, not a directory; the package cannot be layered onto this base`);
    }
  }
  const st = await placer.stat(path);
  if (!st) return;
  if (st.type === 'directory' && entry.type !== 'directory') {
    throw new FileConflictError(`file conflict: ${who} ships ${entry.path} as a ${describeType(entry.type)} (placed at ${path}), where the base has a directory; a layer cannot replace a directory, so the package cannot be layered onto this base`);
  }
  if (st.type !== 'directory' && entry.type === 'directory') {
    throw new FileConflictError(`file conflict: ${who} ships ${entry.path} as a directory (placed at ${path}), where the base has a ${describeType(st.type)}; the package cannot be layered onto this base`);
  }
}

/**
 * Paths ostree-layer writes itself: its state and layer records, and the tmpfiles.d and sysusers.d files it generates
 * per package. A package shipping one would replace the tool's own records, so it is a conflict with the tool.
 */
export function isToolOwnedPath(path: string): boolean {
  return (
    path === TOOL_DIR ||
    path.startsWith(`${TOOL_DIR}/`) ||
    /^\/usr\/lib\/(tmpfiles|sysusers)\.d\/ostree-layer-[^/]*$/.test(path)
  );
}

const TOOL_DIR = '/usr/lib/ostree-layer';

function refuseToolOwnedPath(pkg: PackageFile, entry: PackageEntry, path: string): void {
  if (!isToolOwnedPath(path)) return;
  throw new FileConflictError(`file conflict: ${pkg.id.name} ${pkg.id.version} (${pkg.id.arch}, ${pkg.file}) ships ${entry.path} (placed at ${path}), which ostree-layer itself writes (its records and generated tmpfiles.d/sysusers.d files); the package cannot be layered`);
}

function describeType(type: string): string {
  return type === 'hardlink' || type === 'file' ? 'regular file' : type === 'other' ? 'special file' : type;
}

function mapOwner(accounts: Accounts, entry: PackageEntry, pkg: PackageFile, used: WalkedPayload): { uid: number; gid: number } {
  const uid = entry.user ? accounts.users.get(entry.user) : entry.uid;
  const gid = entry.group ? accounts.groups.get(entry.group) : entry.gid;
  if (uid === undefined) {
    throw new PackageFormatError(pkg.file, `${entry.path} belongs to user "${entry.user}", which the base's passwd does not define; add the user to the base image (sysusers.d) first`);
  }
  if (gid === undefined) {
    throw new PackageFormatError(pkg.file, `${entry.path} belongs to group "${entry.group}", which the base's group file does not define; add the group to the base image first`);
  }
  if (entry.user) used.users.set(entry.user, uid);
  if (entry.group) used.groups.set(entry.group, gid);
  return { uid, gid };
}
