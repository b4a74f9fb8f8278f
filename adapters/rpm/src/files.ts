/** The file list of an rpm header (BASENAMES/DIRINDEXES/DIRNAMES or the old OLDFILENAMES), as typed records. */
import { PackageFormatError, normalizeArchivePath, type EntryType } from '@ostree-layer/core';
import { Tag, type RpmHeader } from './header.js';

/** rpmfileAttrs bits we act on. */
export const FileFlag = { Config: 1 << 0, Doc: 1 << 1, MissingOk: 1 << 3, NoReplace: 1 << 4, Ghost: 1 << 6, License: 1 << 7 } as const;

export interface HeaderFile {
  index: number;
  /** Absolute, normalised path. */
  path: string;
  /** The path exactly as the header spells it (dirname + basename). */
  rawPath: string;
  type: EntryType | 'socket';
  mode: number;
  user: string;
  group: string;
  size: number;
  mtime: number;
  linkTo: string;
  flags: number;
  rdev: number;
  inode: number;
  device: number;
  color: number;
}

export function typeOfMode(mode: number): EntryType | 'socket' | undefined {
  switch (mode & 0o170000) {
    case 0o100000: return 'file';
    case 0o040000: return 'directory';
    case 0o120000: return 'symlink';
    case 0o020000: return 'char-device';
    case 0o060000: return 'block-device';
    case 0o010000: return 'fifo';
    case 0o140000: return 'socket';
    default: return undefined;
  }
}

/**
 * The header's file list. `exactNames` (a package being installed) refuses names that are not valid UTF-8; a base
 * database is read as it is, its names as rpm shows them.
 */
export function headerFiles(h: RpmHeader, file: string, exactNames = false): HeaderFile[] {
  const names = (tag: number) => (exactNames ? h.names(tag) : h.strings(tag));
  let raw: string[];
  const basenames = names(Tag.BaseNames);
  if (basenames.length) {
    const dirIndexes = h.numbers(Tag.DirIndexes);
    const dirnames = names(Tag.DirNames);
    if (dirIndexes.length !== basenames.length) throw new PackageFormatError(file, `header lists ${basenames.length} file names but ${dirIndexes.length} directory indexes; it is corrupt`);
    raw = basenames.map((b, i) => {
      const d = dirnames[dirIndexes[i]];
      if (d === undefined) throw new PackageFormatError(file, `file ${b} points at directory #${dirIndexes[i]}, which the header does not have`);
      return d + b;
    });
  } else {
    raw = names(Tag.OldFileNames);
  }
  const n = raw.length;
  const modes = h.numbers(Tag.FileModes);
  const sizes = h.has(Tag.LongFileSizes) ? h.numbers(Tag.LongFileSizes) : h.numbers(Tag.FileSizes);
  const arrays: Array<[string, unknown[]]> = [['FILEMODES', modes], ['FILESIZES', sizes]];
  for (const [name, arr] of arrays) {
    if (n && arr.length !== n) throw new PackageFormatError(file, `header lists ${n} files but ${arr.length} ${name}; it is corrupt`);
  }
  const users = names(Tag.FileUserName);
  const groups = names(Tag.FileGroupName);
  const mtimes = h.numbers(Tag.FileMtimes);
  const links = names(Tag.FileLinkTos);
  const flags = h.numbers(Tag.FileFlags);
  const rdevs = h.numbers(Tag.FileRdevs);
  const inodes = h.numbers(Tag.FileInodes);
  const devices = h.numbers(Tag.FileDevices);
  const colors = h.numbers(Tag.FileColors);
  return raw.map((rawPath, i) => {
    const mode = modes[i];
    const type = typeOfMode(mode);
    if (!type) throw new PackageFormatError(file, `file ${rawPath} has an unknown type in mode ${mode.toString(8)}`);
    return {
      index: i, rawPath, path: normalizeArchivePath(rawPath, file, true), type, mode: mode & 0o7777,
      user: users[i] ?? 'root', group: groups[i] ?? 'root', size: sizes[i] ?? 0, mtime: mtimes[i] ?? 0,
      linkTo: links[i] ?? '', flags: flags[i] ?? 0, rdev: rdevs[i] ?? 0, inode: inodes[i] ?? 0,
      device: devices[i] ?? 0, color: colors[i] ?? 0,
    };
  });
}
