/**
 * rpm's version order: rpmvercmp on each of epoch, version and release, as rpm 4.18 compares them (tilde sorts
 * before everything, even the end of the string; caret sorts after the end of the string but before anything else).
 */

/** A parsed epoch:version-release. `epoch` and `release` are absent when the string does not give them. */
export interface RpmEvr {
  epoch?: string;
  version: string;
  release?: string;
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isAlnum = (c: number) => isDigit(c) || isAlpha(c);
const TILDE = 126;
const CARET = 94;

/** rpmvercmp: compares two version (or release) strings segment by segment. Returns -1, 0 or 1. */
export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  const ca = (k: number) => (k < a.length ? a.charCodeAt(k) : 0);
  const cb = (k: number) => (k < b.length ? b.charCodeAt(k) : 0);
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(ca(i)) && ca(i) !== TILDE && ca(i) !== CARET) i++;
    while (j < b.length && !isAlnum(cb(j)) && cb(j) !== TILDE && cb(j) !== CARET) j++;
    if (ca(i) === TILDE || cb(j) === TILDE) {
      if (ca(i) !== TILDE) return 1;
      if (cb(j) !== TILDE) return -1;
      i++;
      j++;
      continue;
    }
    if (ca(i) === CARET || cb(j) === CARET) {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (ca(i) !== CARET) return 1;
      if (cb(j) !== CARET) return -1;
      i++;
      j++;
      continue;
    }
    if (!(i < a.length && j < b.length)) break;
    const numeric = isDigit(ca(i));
    const same = numeric ? isDigit : isAlpha;
    let ei = i;
    let ej = j;
    while (ei < a.length && same(ca(ei))) ei++;
    while (ej < b.length && same(cb(ej))) ej++;
    // Segments of different kinds: a number is newer than letters.
    if (ej === j) return numeric ? 1 : -1;
    let sa = a.slice(i, ei);
    let sb = b.slice(j, ej);
    if (numeric) {
      sa = sa.replace(/^0+/, '');
      sb = sb.replace(/^0+/, '');
      if (sa.length !== sb.length) return sa.length > sb.length ? 1 : -1;
    }
    if (sa !== sb) return sa < sb ? -1 : 1;
    i = ei;
    j = ej;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i < a.length ? 1 : -1;
}

/** Splits "[epoch:]version[-release]" the way rpm does (the release follows the last hyphen). */
export function parseEvr(text: string): RpmEvr {
  let k = 0;
  while (k < text.length && isDigit(text.charCodeAt(k))) k++;
  let epoch: string | undefined;
  let rest = text;
  if (text[k] === ':') {
    epoch = k === 0 ? '0' : text.slice(0, k);
    rest = text.slice(k + 1);
  }
  const dash = rest.lastIndexOf('-');
  if (dash === -1) return { epoch, version: rest };
  return { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) };
}

/**
 * Epoch (absent = 0), then version, then release. `ignoreMissingRelease` is the dependency-range rule (a requirement
 * "foo >= 1.0" matches every release of 1.0); without it a missing release sorts before any release, as rpm.vercmp
 * and rpmverCmp do for whole package versions.
 */
export function compareEvr(a: RpmEvr, b: RpmEvr, ignoreMissingRelease = false): number {
  const rc = rpmvercmp(a.epoch ?? '0', b.epoch ?? '0');
  if (rc !== 0) return rc;
  const rv = rpmvercmp(a.version, b.version);
  if (rv !== 0) return rv;
  if (a.release !== undefined && b.release !== undefined) return rpmvercmp(a.release, b.release);
  if (ignoreMissingRelease || a.release === b.release) return 0;
  return a.release === undefined ? -1 : 1;
}

export function compareEvrStrings(a: string, b: string): number {
  return compareEvr(parseEvr(a), parseEvr(b));
}

/** The notation used in PackageId.version: "1:2.3-4", epoch omitted when absent. */
export function formatEvr(evr: RpmEvr): string {
  return `${evr.epoch !== undefined ? `${evr.epoch}:` : ''}${evr.version}${evr.release !== undefined ? `-${evr.release}` : ''}`;
}

/**
 * `vercmp A OP B` with rpm's rules: whole EVR strings compared as rpm.vercmp() compares them (a missing release sorts
 * first). rpm.vercmp refuses an empty string, so does this. Operators are rpm's dependency senses (strict "<" and ">")
 * plus the word forms; the "-nl" forms exist for dpkg's empty versions, which rpm does not have.
 */
const RPM_RELATIONS: Record<string, (c: number) => boolean> = {
  lt: (c) => c < 0, '<': (c) => c < 0, '<<': (c) => c < 0, 'lt-nl': (c) => c < 0,
  le: (c) => c <= 0, '<=': (c) => c <= 0, 'le-nl': (c) => c <= 0,
  eq: (c) => c === 0, '=': (c) => c === 0, '==': (c) => c === 0,
  ne: (c) => c !== 0, '!=': (c) => c !== 0,
  ge: (c) => c >= 0, '>=': (c) => c >= 0, 'ge-nl': (c) => c >= 0,
  gt: (c) => c > 0, '>': (c) => c > 0, '>>': (c) => c > 0, 'gt-nl': (c) => c > 0,
};

export class RpmVersionError extends Error {}

export function rpmCompareVersions(a: string, op: string, b: string): { holds: boolean; compare: number; warnings: string[] } {
  const relation = Object.hasOwn(RPM_RELATIONS, op) ? RPM_RELATIONS[op] : undefined;
  if (!relation) throw new RpmVersionError(`unknown relation "${op}"; use one of ${Object.keys(RPM_RELATIONS).join(' ')}`);
  for (const v of [a, b]) if (v === '') throw new RpmVersionError('invalid version "" (rpm.vercmp refuses an empty version)');
  const compare = compareEvrStrings(a, b);
  return { holds: relation(compare), compare: Math.sign(compare), warnings: [] };
}
