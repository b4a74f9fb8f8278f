/**
 * Import: one package's payload, placed by the path policy, streamed straight into its own commit under a cached ref
 * (`ostree-layer/pkg/<backend>/<name>/<version>/<arch>`) in one pass that also lists and hashes every entry (what the
 * conflict check and the database writer need). The layer records what it was made from (layer-record.ts): importing
 * the same package file onto a base that answers the placement's questions the same way reuses it without reading the
 * payload.
 */
import type { Backend, PackageEntry, PackageFile } from '../backend.js';
import type { OstreeRepo } from '../ostree.js';
import type { RefLedger } from '../ref-ledger.js';
import type { Accounts } from './accounts.js';
import { fileSha256, layerRecordPath, makeRecord, reusableLayer } from './layer-record.js';
import { writeLayer } from './write-layer.js';
import { mapBounded } from '../concurrency.js';
import { baseDirMeta, walkPayload, type PlacedEntry } from './payload-walk.js';
import type { BaseFacts, PathPlacer } from './placement.js';

export { LAYER_RECORD_DIR } from './layer-record.js';
export { isToolOwnedPath, type PlacedEntry } from './payload-walk.js';

export interface ImportedPackage {
  package: PackageFile;
  ref: string;
  commit: string;
  /** True when the cached commit was reused. */
  cached: boolean;
  /** Payload as listed, paths as the package names them (with the digests the package asked for). */
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
  /** The transaction's refs, so that one that fails can put back the cache ref it created or moved. */
  refs?: RefLedger;
  /**
   * Takes the cache ref of a layer just written instead of moving it at once (see {@link importAll}: one flush of the
   * file system for all of them).
   */
  publish?: (ref: string, commit: string) => void;
}

/** Imports one package, or reuses its cached layer when that was made from the same file onto an equivalent base. */
export async function importPackage(ctx: ImportContext, pkg: PackageFile): Promise<ImportedPackage> {
  const ref = packageRef(ctx.backend.name, pkg);
  const recordPath = layerRecordPath(pkg.id);
  const [fileDigest, cachedCommit] = await Promise.all([fileSha256(pkg.file), ctx.repo.refCommit(ref)]);
  if (cachedCommit) {
    const reused = await reusableLayer(await ctx.repo.readFile(cachedCommit, recordPath), pkg, fileDigest, ctx.placer, ctx.accounts);
    if (reused) return { package: pkg, ref, commit: cachedCommit, cached: true, entries: reused.entries, placed: reused.placed, tmpfiles: reused.tmpfiles };
  }

  const facts: BaseFacts = new Map();
  const placer = ctx.placer.recording(facts);
  const dirMeta = (dir: string) => baseDirMeta(placer, dir);
  const subject = `${pkg.id.name} ${pkg.id.version} ${pkg.id.arch}`;
  // The ref moves only when the commit completes; from then on a failing transaction must put it back.
  ctx.refs?.note(ref, cachedCommit);
  let walked!: Awaited<ReturnType<typeof walkPayload>>;
  const commit = await writeLayer(ctx.repo, { dirMeta, subject, branch: ctx.publish ? undefined : ref, source: pkg.file }, async (layer) => {
    walked = await walkPayload({ placer, accounts: ctx.accounts, layer }, pkg);
    const record = makeRecord(pkg, fileDigest, placer, facts, walked);
    await layer.file(recordPath, { mode: 0o644, uid: 0, gid: 0 }, Buffer.byteLength(record), record);
  });
  ctx.publish?.(ref, commit);
  return { package: pkg, ref, commit, cached: false, entries: walked.entries, placed: walked.placed, tmpfiles: walked.tmpfiles };
}

/**
 * Imports `packages` a few side by side (they mostly wait on decompressors), in their order, then flushes the file
 * system once and moves the new layers' cache refs: a layer's objects are on disk before a ref names it, as ostree's
 * own commit makes sure, with one flush for the set instead of one per layer. A failure moves no ref.
 */
export async function importAll(ctx: ImportContext, packages: readonly PackageFile[], each?: (one: ImportedPackage, ms: number) => void): Promise<ImportedPackage[]> {
  const written: Array<[string, string]> = [];
  const publish = (ref: string, commit: string) => void written.push([ref, commit]);
  const imported = await mapBounded(packages, IMPORT_CONCURRENCY, async (pkg) => {
    const started = Date.now();
    const one = await importPackage({ ...ctx, publish }, pkg);
    each?.(one, Date.now() - started);
    return one;
  });
  if (written.length > 0) {
    await ctx.repo.flush();
    await Promise.all(written.map(([ref, commit]) => ctx.repo.setRef(ref, commit)));
  }
  return imported;
}

const IMPORT_CONCURRENCY = 3;
