/**
 * Import: one package's payload, placed by the path policy, streamed straight into its own commit under a cached ref
 * (`ostree-layer/pkg/<backend>/<name>/<version>/<arch>`). The same pass lists and hashes every entry, which the
 * conflict check and the database writer need; a package whose cached commit was made from the same placed manifest
 * is not imported again.
 */
import { createHash } from 'node:crypto';
import { Transform, pipeline as pipeStreams } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Backend, PackageEntry, PackageFile } from '../backend.js';
import { classifySystemError, FileConflictError, LayerError, PackageFormatError } from '../errors.js';
import { setTimeout as delay } from 'node:timers/promises';
import type { OstreeRepo } from '../ostree.js';
import { ancestors } from '../paths.js';
import type { Accounts } from './accounts.js';
import { faultPoint } from '../fault.js';
import { DEFAULT_DIR, LayerTar, type DirMeta } from './layer-tar.js';
import { PathPlacer } from './placement.js';

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

export interface ImportedPackage {
  package: PackageFile;
  ref: string;
  commit: string;
  /** True when the cached commit was reused. */
  cached: boolean;
  /** Payload as listed, paths as the package names them. */
  entries: PackageEntry[];
  placed: PlacedEntry[];
  /** tmpfiles.d lines for what lives under /var and /run. */
  tmpfiles: string[];
}


export function packageRef(backend: string, pkg: PackageFile): string {
  const part = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, (c) => `_${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `ostree-layer/pkg/${part(backend)}/${part(pkg.id.name)}/${part(pkg.id.version)}/${part(pkg.id.arch)}`;
}

export interface ImportContext {
  backend: Backend;
  repo: OstreeRepo;
  placer: PathPlacer;
  accounts: Accounts;
}

/**
 * Where each layer records the digest of its placed manifest, inside the layer itself: written as the tar's last entry
 * (the digest is known only then), so one `ostree commit --branch` both imports the package and records what it
 * holds, and a later install compares it with a fresh listing before reusing the layer.
 */
export const LAYER_RECORD_DIR = '/usr/lib/ostree-layer/layers';

function layerRecordPath(pkg: PackageFile): string {
  const part = (s: string) => s.replace(/[^A-Za-z0-9.+~_-]/g, '_');
  return `${LAYER_RECORD_DIR}/${part(pkg.id.name)}_${part(pkg.id.arch)}.json`;
}

/** Lists, places and (unless cached) imports one package. */
export async function importPackage(ctx: ImportContext, pkg: PackageFile): Promise<ImportedPackage> {
  const ref = packageRef(ctx.backend.name, pkg);
  const recordPath = layerRecordPath(pkg);
  const cachedCommit = await ctx.repo.refCommit(ref);
  const cachedRecord = cachedCommit ? await ctx.repo.readFile(cachedCommit, recordPath) : null;

  if (cachedCommit && cachedRecord) {
    const listed = await walkPayload(ctx, pkg, undefined);
    if (parseRecord(cachedRecord)?.manifest === listed.manifest) return { ...listed.result, ref, commit: cachedCommit, cached: true };
  }

  const layer = new LayerTar((dir) => baseDirMeta(ctx.placer, dir));
  const abort = new AbortController();
  const committing = ctx.repo.commit({
    trees: [{ tar: layer.stream }],
    branch: ref,
    subject: `${pkg.id.name} ${pkg.id.version} ${pkg.id.arch}`,
    signal: abort.signal,
  });
  committing.catch(() => undefined);
  let walked: Walked;
  try {
    walked = await walkPayload(ctx, pkg, layer);
    const record = JSON.stringify({ package: pkg.id, manifest: walked.manifest }) + '\n';
    await layer.file(recordPath, { mode: 0o644, uid: 0, gid: 0 }, Buffer.byteLength(record), record);
    layer.finalize();
  } catch (err) {
    // When ostree itself failed (a full disk), the tar side only sees its pipe close ("Premature close", EPIPE):
    // ostree's own error is the one that says what happened, so it wins when it comes promptly.
    if (!(err instanceof LayerError)) {
      const ostreeFailure = await Promise.race([committing.then(() => undefined, (e: unknown) => e), delay(2000)]);
      if (ostreeFailure instanceof LayerError) err = ostreeFailure;
    }
    abort.abort();
    layer.destroy(err as Error);
    throw classifySystemError(err);
  }
  return { ...walked.result, ref, commit: await committing, cached: false };
}

function parseRecord(data: Buffer): { manifest?: string } | undefined {
  try {
    return JSON.parse(data.toString('utf8')) as { manifest?: string };
  } catch {
    return undefined;
  }
}

async function baseDirMeta(placer: PathPlacer, dir: string): Promise<DirMeta> {
  const st = await placer.stat(dir);
  return st?.type === 'directory' ? { mode: st.mode, uid: st.uid, gid: st.gid } : DEFAULT_DIR;
}

interface Walked {
  result: Omit<ImportedPackage, 'ref' | 'commit' | 'cached'>;
  manifest: string;
}

async function walkPayload(ctx: ImportContext, pkg: PackageFile, layer: LayerTar | undefined): Promise<Walked> {
  const file = pkg.file;
  const entries: PackageEntry[] = [];
  const placed: PlacedEntry[] = [];
  const tmpfiles: string[] = [];
  const placedByPackagePath = new Map<string, PlacedEntry>();
  const ownSymlinks = new Set<string>();
  const manifest = createHash('sha256');

  for await (const { entry, body } of pkg.payload()) {
    entries.push(entry);
    const placement = await ctx.placer.place(entry, file);
    const finalPath = placement.kind === 'tree' ? placement.path : placement.factoryPath;
    if (placement.kind === 'runtime') tmpfiles.push(placement.tmpfiles);

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
      await drain(body);
      continue;
    }
    await checkBaseShape(ctx.placer, pkg, entry, finalPath);
    refuseToolOwnedPath(pkg, entry, finalPath);

    const ids = mapOwner(ctx.accounts, entry, pkg);
    let item: PlacedEntry;
    switch (entry.type) {
      case 'directory': {
        // An existing directory keeps the base's metadata, as dpkg keeps it.
        const st = await ctx.placer.stat(finalPath);
        const meta = st?.type === 'directory' ? { mode: st.mode, uid: st.uid, gid: st.gid } : { mode: entry.mode, ...ids };
        item = { path: finalPath, type: 'directory', ...meta, size: 0, source: entry };
        await layer?.directory(finalPath, meta);
        break;
      }
      case 'symlink':
        item = { path: finalPath, type: 'symlink', mode: 0o777, ...ids, size: 0, linkTarget: entry.linkTarget, source: entry };
        await layer?.symlink(finalPath, { mode: 0o777, ...ids }, entry.linkTarget ?? '');
        break;
      case 'hardlink': {
        const target = entry.linkTarget ? placedByPackagePath.get(entry.linkTarget) : undefined;
        if (!target || target.type !== 'file') {
          throw new PackageFormatError(file, `hardlink ${entry.path} points to ${entry.linkTarget ?? '(nothing)'}, which is not an earlier regular file of this package`);
        }
        item = { path: finalPath, type: 'hardlink', mode: target.mode, uid: target.uid, gid: target.gid, size: target.size, sha256: target.sha256, linkTarget: target.path, source: entry };
        await layer?.hardlink(finalPath, target, target.path);
        break;
      }
      case 'file': {
        if (!body) throw new PackageFormatError(file, `regular file ${entry.path} has no content stream`);
        const hash = createHash('sha256');
        let seen = 0;
        const tap = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            seen += chunk.length;
            cb(null, chunk);
          },
        });
        const meta = { mode: entry.mode, ...ids };
        if (layer) {
          // pipeline, not pipe: a body that fails mid-file (a truncated package) must fail the layer write, not
          // emit an 'error' nobody listens to and leave the layer waiting for bytes that never come.
          await layer.file(finalPath, meta, entry.size, pipeStreams(body, tap, () => undefined));
          await faultPoint('import');
        }
        else await pipeline(body, tap, devNull());
        if (seen !== entry.size) throw new PackageFormatError(file, `${entry.path}: expected ${entry.size} bytes, read ${seen} (truncated package?)`);
        item = { path: finalPath, type: 'file', ...meta, size: entry.size, sha256: hash.digest('hex'), source: entry };
        break;
      }
      default:
        throw new PackageFormatError(file, `${entry.path} is a ${entry.type}; device files and FIFOs cannot be stored in an OSTree commit (create them at boot with tmpfiles.d)`);
    }
    placedByPackagePath.set(entry.path, item);
    placed.push(item);
    manifest.update(`${item.type} ${item.path} ${item.mode} ${item.uid} ${item.gid} ${item.sha256 ?? ''} ${item.linkTarget ?? ''}\n`);
  }

  if (tmpfiles.length > 0) {
    const conf = `# Created by ostree-layer for ${pkg.id.name}: paths under /var and /run are made at boot.\n${tmpfiles.join('\n')}\n`;
    const path = `/usr/lib/tmpfiles.d/ostree-layer-${pkg.id.name}.conf`;
    await layer?.file(path, { mode: 0o644, uid: 0, gid: 0 }, Buffer.byteLength(conf), conf);
    manifest.update(`tmpfiles ${path} ${conf}\n`);
  }
  return { result: { package: pkg, entries, placed, tmpfiles }, manifest: manifest.digest('hex') };
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

function mapOwner(accounts: Accounts, entry: PackageEntry, pkg: PackageFile): { uid: number; gid: number } {
  const uid = entry.user ? accounts.users.get(entry.user) : entry.uid;
  const gid = entry.group ? accounts.groups.get(entry.group) : entry.gid;
  if (uid === undefined) {
    throw new PackageFormatError(pkg.file, `${entry.path} belongs to user "${entry.user}", which the base's passwd does not define; add the user to the base image (sysusers.d) first`);
  }
  if (gid === undefined) {
    throw new PackageFormatError(pkg.file, `${entry.path} belongs to group "${entry.group}", which the base's group file does not define; add the group to the base image first`);
  }
  return { uid, gid };
}

async function drain(body: NodeJS.ReadableStream | undefined): Promise<void> {
  if (!body) return;
  for await (const _ of body) void _;
}

function devNull() {
  return new Transform({ transform: (_c, _e, cb) => cb() }).resume();
}
