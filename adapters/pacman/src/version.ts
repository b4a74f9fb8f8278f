/**
 * pacman's version order, as libalpm 13 (pacman 6.0) implements `alpm_pkg_vercmp`: "[epoch:]pkgver[-pkgrel]" split
 * like rpm's EVR, each part compared with alpm's own rpmvercmp. It is not rpm 4.18's: no "~" or "^" rules, the
 * lengths of the separator runs between segments decide, and a missing pkgrel on either side is not compared at all
 * ("1.0" equals "1.0-5"). Characters are compared as bytes in the C locale, as libalpm does.
 */

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isAlnum = (c: number) => isDigit(c) || isAlpha(c);

/** A parsed "[epoch:]pkgver[-pkgrel]"; `epoch` is "0" when absent, `release` undefined when there is no hyphen. */
export interface PacmanEvr {
  epoch: string;
  version: string;
  release?: string;
}

/** Splits as libalpm's parseEVR: the epoch is a run of digits before ":", the release follows the last hyphen. */
export function parsePacmanEvr(text: string): PacmanEvr {
  let k = 0;
  while (k < text.length && isDigit(text.charCodeAt(k))) k++;
  let epoch = '0';
  let rest = text;
  if (text[k] === ':') {
    if (k > 0) epoch = text.slice(0, k);
    rest = text.slice(k + 1);
  }
  const dash = rest.lastIndexOf('-');
  if (dash === -1) return { epoch, version: rest };
  return { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) };
}

/** libalpm's rpmvercmp on two version parts, over bytes. Returns -1, 0 or 1. */
export function alpmRpmvercmp(aText: string, bText: string): number {
  if (aText === bText) return 0;
  const a = Buffer.from(aText, 'utf8');
  const b = Buffer.from(bText, 'utf8');
  let one = 0;
  let two = 0;
  // Where the previous segment ended: the separator run between segments starts there.
  let end1 = 0;
  let end2 = 0;
  while (one < a.length && two < b.length) {
    while (one < a.length && !isAlnum(a[one]!)) one++;
    while (two < b.length && !isAlnum(b[two]!)) two++;
    if (!(one < a.length && two < b.length)) break;
    // Separator runs of different lengths decide ("1.0" < "1..0").
    if (one - end1 !== two - end2) return one - end1 < two - end2 ? -1 : 1;
    const numeric = isDigit(a[one]!);
    const same = numeric ? isDigit : isAlpha;
    let p1 = one;
    let p2 = two;
    while (p1 < a.length && same(a[p1]!)) p1++;
    while (p2 < b.length && same(b[p2]!)) p2++;
    // Different kinds of segment: a number is newer than letters.
    if (p2 === two) return numeric ? 1 : -1;
    let s1 = a.subarray(one, p1);
    let s2 = b.subarray(two, p2);
    if (numeric) {
      let z1 = 0;
      let z2 = 0;
      while (z1 < s1.length && s1[z1] === 0x30) z1++;
      while (z2 < s2.length && s2[z2] === 0x30) z2++;
      s1 = s1.subarray(z1);
      s2 = s2.subarray(z2);
      if (s1.length !== s2.length) return s1.length > s2.length ? 1 : -1;
    }
    const rc = Buffer.compare(s1, s2);
    if (rc !== 0) return rc < 0 ? -1 : 1;
    one = end1 = p1;
    two = end2 = p2;
  }
  if (one >= a.length && two >= b.length) return 0;
  // What is left decides: a trailing alpha segment never beats the end of the string.
  const restA = one < a.length ? a[one]! : 0;
  const restB = two < b.length ? b[two]! : 0;
  if ((one >= a.length && !isAlpha(restB)) || isAlpha(restA)) return -1;
  return 1;
}

/** alpm_pkg_vercmp: epoch, then pkgver, then pkgrel only when both sides have one. */
export function comparePacmanVersions(a: string, b: string): number {
  if (a === b) return 0;
  const x = parsePacmanEvr(a);
  const y = parsePacmanEvr(b);
  let rc = alpmRpmvercmp(x.epoch, y.epoch);
  if (rc === 0) rc = alpmRpmvercmp(x.version, y.version);
  if (rc === 0 && x.release !== undefined && y.release !== undefined) rc = alpmRpmvercmp(x.release, y.release);
  return rc;
}

/**
 * `vercmp A OP B` with pacman's rules. pacman's own `vercmp` takes two versions and prints the sign; the operators
 * are those of its dependency strings ("<", "<=", "=", ">=", ">") plus the word forms the other backends accept.
 * Every string is a version to libalpm, the empty one included, so nothing is refused but an unknown operator.
 */
const PACMAN_RELATIONS: Record<string, (c: number) => boolean> = {
  lt: (c) => c < 0, '<': (c) => c < 0, '<<': (c) => c < 0,
  le: (c) => c <= 0, '<=': (c) => c <= 0,
  eq: (c) => c === 0, '=': (c) => c === 0, '==': (c) => c === 0,
  ne: (c) => c !== 0, '!=': (c) => c !== 0,
  ge: (c) => c >= 0, '>=': (c) => c >= 0,
  gt: (c) => c > 0, '>': (c) => c > 0, '>>': (c) => c > 0,
};

export class PacmanVersionError extends Error {}

export function pacmanCompareVersions(a: string, op: string, b: string): { holds: boolean; compare: number; warnings: string[] } {
  const relation = Object.hasOwn(PACMAN_RELATIONS, op) ? PACMAN_RELATIONS[op] : undefined;
  if (!relation) throw new PacmanVersionError(`unknown relation "${op}"; use one of ${Object.keys(PACMAN_RELATIONS).join(' ')}`);
  const compare = comparePacmanVersions(a, b);
  return { holds: relation(compare), compare: Math.sign(compare), warnings: [] };
}
