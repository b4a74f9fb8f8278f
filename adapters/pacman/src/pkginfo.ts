/**
 * `.PKGINFO`, the metadata makepkg writes at the front of every package: "key = value" lines, a key repeated for each
 * element of a list (depend, provides, backup…), "#" comments. Parsed once into a typed {@link PkgInfo}.
 */

/** The keys whose values are lists, with the name pacman's database and `pacman -Qi` use for them. */
export const LIST_KEYS = ['license', 'group', 'depend', 'optdepend', 'makedepend', 'checkdepend', 'conflict', 'provides', 'replaces', 'backup'] as const;
export type ListKey = (typeof LIST_KEYS)[number];

export interface PkgInfo {
  pkgname: string;
  pkgbase: string;
  /** Full "[epoch:]pkgver-pkgrel". */
  pkgver: string;
  pkgdesc: string;
  url: string;
  builddate: number;
  packager: string;
  /** Installed size in bytes. */
  size: number;
  arch: string;
  lists: Record<ListKey, string[]>;
  /** Keys this parser does not model, kept as written (xdata, …). */
  other: Map<string, string[]>;
}

export class PkgInfoError extends Error {}

/** pacman's rules for a package name: alphanumerics and "@._+-", not starting with a hyphen or a dot. */
const NAME = /^[A-Za-z0-9@_+][A-Za-z0-9@._+-]*$/;
/** makepkg's rules: pkgver holds no whitespace, ":", "/" or "-" (that separates pkgrel); pkgrel is "N" or "N.M". */
const VERSION = /^(?:[0-9]+:)?[^\s:/-]+-[0-9]+(?:\.[0-9]+)?$/;
const ARCH = /^[A-Za-z0-9_]+$/;

export function parsePkgInfo(text: string): PkgInfo {
  const single = new Map<string, string>();
  const lists = Object.fromEntries(LIST_KEYS.map((k) => [k, [] as string[]])) as Record<ListKey, string[]>;
  const other = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf(' = ');
    if (eq <= 0) throw new PkgInfoError(`line ${JSON.stringify(line)} is not "key = value"`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 3);
    if ((LIST_KEYS as readonly string[]).includes(key)) lists[key as ListKey].push(value);
    else if (['pkgname', 'pkgbase', 'pkgver', 'pkgdesc', 'url', 'builddate', 'packager', 'size', 'arch'].includes(key)) single.set(key, value);
    else other.set(key, [...(other.get(key) ?? []), value]);
  }
  const need = (key: string, pattern?: RegExp) => {
    const v = single.get(key);
    if (v === undefined || v === '') throw new PkgInfoError(`the mandatory "${key}" is missing`);
    if (pattern && !pattern.test(v)) throw new PkgInfoError(`${key} ${JSON.stringify(v)} is not valid for pacman`);
    return v;
  };
  const number = (key: string) => {
    const v = single.get(key) ?? '0';
    if (!/^[0-9]+$/.test(v)) throw new PkgInfoError(`${key} ${JSON.stringify(v)} is not a number`);
    return Number(v);
  };
  const pkgname = need('pkgname', NAME);
  return {
    pkgname,
    pkgbase: single.get('pkgbase') || pkgname,
    pkgver: need('pkgver', VERSION),
    pkgdesc: single.get('pkgdesc') ?? '',
    url: single.get('url') ?? '',
    builddate: number('builddate'),
    packager: single.get('packager') ?? '',
    size: number('size'),
    arch: need('arch', ARCH),
    lists,
    other,
  };
}
