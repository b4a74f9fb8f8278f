/**
 * Import: one package's payload, placed by the path policy, streamed straight into its own commit under a cached ref
 * (`ostree-layer/pkg/<backend>/<name>/<version>/<arch>`) in one pass that also lists and hashes every entry (what the
 * conflict check and the database writer need). The layer records what it was made from (layer-record.ts): importing
 * the same package file onto a base that answers the placement's questions the same way reuses it without reading the
 * payload.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Backend, PackageEntry, PackageFile } from '../backend.js';
import { classifySystemError, LayerError } from '../errors.js';
import type { OstreeRepo } from '../ostree.js';
import type { Accounts } from './accounts.js';
import { fileSha256, layerRecordPath, makeRecord, reusableLayer } from './layer-record.js';
import { LayerTar } from './layer-tar.js';
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
  /** Refs this transaction created, so that a transaction that fails can take them back. */
  newRefs?: string[];
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
  const layer = new LayerTar((dir) => baseDirMeta(placer, dir));
  const abort = new AbortController();
  // The ref moves only when the commit completes; from then on a failing transaction must take it back.
  const committing = ctx.repo.commit({
    trees: [{ tar: layer.stream }],
    branch: ref,
    subject: `${pkg.id.name} ${pkg.id.version} ${pkg.id.arch}`,
    signal: abort.signal,
  });
  // ostree failing (a full disk) stops the walk at once, instead of leaving it waiting for a reader that is gone.
  committing.catch((err: unknown) => layer.destroy(err instanceof Error ? err : new Error(String(err))));
  let walked;
  try {
    walked = await walkPayload({ placer, accounts: ctx.accounts, layer }, pkg);
    const record = makeRecord(pkg, fileDigest, placer, facts, walked);
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
  const commit = await committing;
  if (!cachedCommit) ctx.newRefs?.push(ref);
  return { package: pkg, ref, commit, cached: false, entries: walked.entries, placed: walked.placed, tmpfiles: walked.tmpfiles };
}
