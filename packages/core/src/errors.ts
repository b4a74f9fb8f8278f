/**
 * Every failure a user can act on is one of these classes. The CLI maps `exitCode` to the process exit status and
 * prints `message`, which names the package, the file and the fix.
 */
export class LayerError extends Error {
  /** Process exit status the CLI uses for this kind of failure. */
  readonly exitCode: number = 1;
  /** Stable machine-readable kind for `--json` output. */
  readonly kind: string = 'error';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command-line input: unknown option values, missing arguments, files that do not exist. */
export class UsageError extends LayerError {
  override readonly exitCode = 2;
  override readonly kind = 'usage';
}

/** A package file that is truncated, corrupt, hostile or of an unsupported format. */
export class PackageFormatError extends LayerError {
  override readonly exitCode = 3;
  override readonly kind = 'package-format';
  constructor(readonly file: string, detail: string, options?: { cause?: unknown }) {
    super(`${file}: ${detail}`, options);
  }
}

/** Two packages (or a package and the base) ship different content at the same path. */
export class FileConflictError extends LayerError {
  override readonly exitCode = 4;
  override readonly kind = 'file-conflict';
}

/** The sysroot, deployment, repo or database cannot be found or read. */
export class SystemStateError extends LayerError {
  override readonly exitCode = 5;
  override readonly kind = 'system-state';
}

/** Another transaction holds the sysroot's lock. */
export class LockedError extends LayerError {
  override readonly exitCode = 6;
  override readonly kind = 'locked';
}

/** A dependency request that cannot be met (the message explains the chain). */
export class ResolutionError extends LayerError {
  override readonly exitCode = 7;
  override readonly kind = 'resolution';
}

/** Repository metadata or a download failed verification (signature, hash, size). */
export class VerificationError extends LayerError {
  override readonly exitCode = 8;
  override readonly kind = 'verification';
}

/** An external tool (ostree, gpg…) failed; the message carries its stderr. */
export class ToolError extends LayerError {
  override readonly exitCode = 9;
  override readonly kind = 'tool';
}

/** A maintainer script failed (or could not run) in the sandbox; the message names the package and the script. */
export class ScriptError extends LayerError {
  override readonly exitCode = 10;
  override readonly kind = 'script';
  constructor(message: string, readonly output = '', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The disk holding the repo, the cache or the scratch space ran out of space (or quota) mid-transaction. */
export class DiskFullError extends LayerError {
  override readonly exitCode = 11;
  override readonly kind = 'disk-full';
}

/**
 * Faults of the machine or of the input rather than of the program, reported as what they are: a full disk (ENOSPC,
 * EDQUOT) names the path it happened on; a directory where a file was named is a usage error; a permission or a
 * read-only file system is the system's state. Anything else comes back unchanged (and is a bug: exit 70).
 */
export function classifySystemError(err: unknown): unknown {
  if (err instanceof LayerError || !(err instanceof Error)) return err;
  const { code, path } = err as NodeJS.ErrnoException;
  const where = path ? ` ${path}` : '';
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new DiskFullError(`no space left${path ? ` on the disk holding ${path}` : ' on a disk'} (${err.message}); free some space (ostree admin cleanup, ostree prune) and run it again`, { cause: err });
  }
  if (code === 'EISDIR') return new UsageError(`${path ?? 'a file argument'} is a directory; name a package file`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM') {
    return new SystemStateError(`permission denied on${where || ' a file'} (${err.message}); run it as root or fix the permissions`, { cause: err });
  }
  if (code === 'EROFS') return new SystemStateError(`the file system holding${where || ' a file'} is read-only (${err.message}); remount it read-write`, { cause: err });
  return err;
}
