/** Debian version numbers ([epoch:]upstream[-revision]) and dpkg's ordering of them. */

export interface DebVersion {
  epoch: number;
  upstream: string;
  /** "" when the version has no revision (a native package). */
  revision: string;
}

export class DebVersionError extends Error {}

const UPSTREAM_CHARS = /^[A-Za-z0-9.+~:-]*$/;
const REVISION_CHARS = /^[A-Za-z0-9.+~]*$/;

/**
 * Parses a version the way dpkg's parseversion() does, throwing {@link DebVersionError} where dpkg reports an error.
 * (dpkg only warns when the upstream part does not start with a digit; so do we, by accepting it.)
 */
export function parseDebVersion(text: string): DebVersion {
  const s = text.trim();
  if (s === '') throw new DebVersionError('version string is empty');
  if (/\s/.test(s)) throw new DebVersionError(`version "${text}" has embedded spaces`);
  let epoch = 0;
  let rest = s;
  const colon = s.indexOf(':');
  if (colon !== -1) {
    const e = s.slice(0, colon);
    if (e === '') throw new DebVersionError(`version "${text}": epoch is empty`);
    if (!/^[0-9]+$/.test(e)) throw new DebVersionError(`version "${text}": epoch is not a number`);
    epoch = Number(e);
    if (epoch > 2147483647) throw new DebVersionError(`version "${text}": epoch is too big`);
    rest = s.slice(colon + 1);
    if (rest === '') throw new DebVersionError(`version "${text}": nothing after the colon`);
  }
  let upstream = rest;
  let revision = '';
  const hyphen = rest.lastIndexOf('-');
  if (hyphen !== -1) {
    upstream = rest.slice(0, hyphen);
    revision = rest.slice(hyphen + 1);
    if (revision === '') throw new DebVersionError(`version "${text}": revision is empty`);
  }
  if (upstream === '') throw new DebVersionError(`version "${text}": upstream version is empty`);
  if (!UPSTREAM_CHARS.test(upstream)) throw new DebVersionError(`version "${text}": invalid character in upstream version`);
  if (!REVISION_CHARS.test(revision)) throw new DebVersionError(`version "${text}": invalid character in revision`);
  return { epoch, upstream, revision };
}

export function formatDebVersion(v: DebVersion): string {
  return `${v.epoch ? `${v.epoch}:` : ''}${v.upstream}${v.revision ? `-${v.revision}` : ''}`;
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** dpkg's weight of one character of a non-digit run: "~" sorts before the end, letters before other symbols. */
function order(c: number): number {
  if (Number.isNaN(c)) return 0;
  if (isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === 126 /* ~ */) return -1;
  return c + 256;
}

/** Compares two upstream or revision strings: alternating non-digit runs (by {@link order}) and numeric runs. */
export function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let diff = 0;
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = order(a.charCodeAt(i));
      const bc = order(b.charCodeAt(j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a.charCodeAt(i) === 48) i++;
    while (b.charCodeAt(j) === 48) j++;
    // Numeric runs: the longer run wins; of equal length, the first differing digit decides.
    while (isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (!diff) diff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a.charCodeAt(i))) return 1;
    if (isDigit(b.charCodeAt(j))) return -1;
    if (diff) return diff;
  }
  return 0;
}

/** dpkg's version order; accepts strings (parsed, throwing on invalid ones) or parsed versions. Returns -1, 0 or 1. */
export function compareDebVersions(a: string | DebVersion, b: string | DebVersion): number {
  const va = typeof a === 'string' ? parseDebVersion(a) : a;
  const vb = typeof b === 'string' ? parseDebVersion(b) : b;
  const r = va.epoch !== vb.epoch ? va.epoch - vb.epoch : compareFragment(va.upstream, vb.upstream) || compareFragment(va.revision, vb.revision);
  return Math.sign(r);
}
