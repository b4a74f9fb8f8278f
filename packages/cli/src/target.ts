import { UsageError, type Target } from '@ostree-layer/core';

/** The options every transaction verb takes to say where it works. */
export interface TargetOptions {
  sysroot?: string;
  os?: string;
  repo?: string;
  ref?: string;
  commitOnly?: boolean;
}

/** A sysroot deployment (booted or --sysroot/--os), or with --commit-only a ref in a repo; bad combinations refused. */
export function targetOf(opts: TargetOptions): Target {
  if (opts.commitOnly && (!opts.repo || !opts.ref)) throw new UsageError('--commit-only needs --repo DIR and --ref REF');
  if (!opts.commitOnly && (opts.repo || opts.ref)) throw new UsageError('--repo and --ref go with --commit-only');
  return {
    sysroot: opts.sysroot,
    osName: opts.os,
    commitOnly: opts.commitOnly ? { repo: opts.repo!, ref: opts.ref! } : undefined,
  };
}
