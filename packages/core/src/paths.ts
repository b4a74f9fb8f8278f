import { PackageFormatError } from './errors.js';

/**
 * Turns a path as an archive stores it ("./usr/bin/x", "usr/bin/x/", "/usr/bin/x" in rpm headers) into the
 * normalised absolute form the contract uses ("/usr/bin/x"). Returns "/" for the archive root.
 * Refuses ".." segments, NUL bytes and newlines: a package must never name a place outside its own tree.
 * `allowAbsolute` is for formats whose paths are absolute by definition (rpm); tar members must be relative.
 */
export function normalizeArchivePath(raw: string, file: string, allowAbsolute = false): string {
  if (raw.includes('\0')) throw new PackageFormatError(file, `entry name contains a NUL byte: ${JSON.stringify(raw)}`);
  // dpkg refuses it too ("newline not allowed in archive object name"): file lists and tmpfiles.d are line-based.
  if (raw.includes('\n')) throw new PackageFormatError(file, `entry ${JSON.stringify(raw)} has a newline in its name, which line-based file lists and tmpfiles.d cannot hold; rebuild the package without it`);
  if (raw.startsWith('/') && !allowAbsolute) {
    throw new PackageFormatError(file, `entry "${raw}" has an absolute path; package members must be relative ("./…")`);
  }
  const parts: string[] = [];
  for (const segment of raw.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      throw new PackageFormatError(file, `entry "${raw}" contains "..": it would write outside the package's tree`);
    }
    if (Buffer.byteLength(segment) > NAME_MAX) {
      throw new PackageFormatError(file, `entry "${raw.slice(0, 200)}…" has a name of ${Buffer.byteLength(segment)} bytes; Linux file names hold at most ${NAME_MAX}`);
    }
    parts.push(segment);
  }
  const path = '/' + parts.join('/');
  if (Buffer.byteLength(path) >= PATH_MAX) {
    throw new PackageFormatError(file, `entry "${raw.slice(0, 200)}…" is a path of ${Buffer.byteLength(path)} bytes; Linux paths hold at most ${PATH_MAX - 1}`);
  }
  return path;
}

/** Linux's limits on one file name and on a whole path (with its terminating NUL): longer ones fail with ENAMETOOLONG. */
const NAME_MAX = 255;
const PATH_MAX = 4096;

/** Parent directory of a normalised absolute path ("/" for top-level entries). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Every proper ancestor of a normalised path, outermost first, without "/" ("/a/b/c" → ["/a", "/a/b"]). */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/', 1); i !== -1; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}
