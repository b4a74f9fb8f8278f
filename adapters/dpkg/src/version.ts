/** Debian version numbers ([epoch:]upstream[-revision]) and dpkg's ordering of them. */

export interface DebVersion {
  epoch: number;
  upstream: string;
  /** "" when the version has no revision (a native package). */
  revision: string;
}

export class DebVersionError extends Error {}

/** A version as dpkg's parseversion() reads it, with the complaint dpkg only warns about (bad characters…), if any. */
export interface CheckedDebVersion {
  version: DebVersion;
  warning?: string;
}

const BLANK = /[ \t]/;
const UPSTREAM_CHARS = /^[A-Za-z0-9.+~:-]*$/;
const REVISION_CHARS = /^[A-Za-z0-9.+~]*$/;

/**
 * dpkg's parseversion(): what dpkg reports as an error throws {@link DebVersionError}; what it only warns about
 * (an upstream part not starting with a digit, characters outside the allowed sets) comes back as `warning`.
 */
export function checkDebVersion(text: string): CheckedDebVersion {
  let start = 0;
  let end = text.length;
  while (start < end && BLANK.test(text[start]!)) start++;
  while (end > start && BLANK.test(text[end - 1]!)) end--;
  const s = text.slice(start, end);
  if (s === '') throw new DebVersionError('version string is empty');
  if (BLANK.test(s)) throw new DebVersionError(`version ${JSON.stringify(text)} has embedded spaces`);
  let epoch = 0;
  let rest = s;
  const colon = s.indexOf(':');
  if (colon !== -1) {
    // strtol(): optional leading whitespace and sign, then digits, which must run right up to the colon.
    const number = /^\s*[+-]?[0-9]+/.exec(s);
    if (!number) throw new DebVersionError(`version ${JSON.stringify(text)}: epoch is empty`);
    if (number[0].length !== colon) throw new DebVersionError(`version ${JSON.stringify(text)}: epoch is not a number`);
    const value = Number(number[0].trim());
    if (value < 0) throw new DebVersionError(`version ${JSON.stringify(text)}: epoch is negative`);
    if (value > 2147483647) throw new DebVersionError(`version ${JSON.stringify(text)}: epoch is too big`);
    epoch = value;
    rest = s.slice(colon + 1);
    if (rest === '') throw new DebVersionError(`version ${JSON.stringify(text)}: nothing after the colon`);
  }
  let upstream = rest;
  let revision = '';
  const hyphen = rest.lastIndexOf('-');
  if (hyphen !== -1) {
    upstream = rest.slice(0, hyphen);
    revision = rest.slice(hyphen + 1);
    if (revision === '') throw new DebVersionError(`version ${JSON.stringify(text)}: revision is empty`);
  }
  if (upstream === '') throw new DebVersionError(`version ${JSON.stringify(text)}: upstream version is empty`);
  const version = { epoch, upstream, revision };
  if (!/^[0-9]/.test(upstream)) return { version, warning: `version ${JSON.stringify(text)}: upstream version does not start with a digit` };
  if (!UPSTREAM_CHARS.test(upstream)) return { version, warning: `version ${JSON.stringify(text)}: invalid character in upstream version` };
  if (!REVISION_CHARS.test(revision)) return { version, warning: `version ${JSON.stringify(text)}: invalid character in revision` };
  return { version };
}

/**
 * Parses a version strictly, as dpkg reads a package's own control file (`dpkg -i`, `dpkg-deb --build`): what
 * parseversion() only warns about is refused too.
 */
export function parseDebVersion(text: string): DebVersion {
  const { version, warning } = checkDebVersion(text);
  if (warning) throw new DebVersionError(warning);
  return version;
}

/** Parses a version leniently, as dpkg reads its status file and `--compare-versions` its arguments (warnings pass). */
export function parseDebVersionLax(text: string): DebVersion {
  return checkDebVersion(text).version;
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

/**
 * dpkg's version order; accepts strings (parsed leniently as dpkg does, throwing only where dpkg reports an error) or
 * parsed versions. Returns -1, 0 or 1.
 */
export function compareDebVersions(a: string | DebVersion, b: string | DebVersion): number {
  const va = typeof a === 'string' ? parseDebVersionLax(a) : a;
  const vb = typeof b === 'string' ? parseDebVersionLax(b) : b;
  const r = va.epoch !== vb.epoch ? va.epoch - vb.epoch : compareFragment(va.upstream, vb.upstream) || compareFragment(va.revision, vb.revision);
  return Math.sign(r);
}

/**
 * `dpkg --compare-versions` relations: which outcome holds when A is lower, equal, higher, and how an empty version
 * (or "<unknown>") counts. The plain names treat an empty version as earlier than any version, the "-nl" ones as
 * later; "<" and ">" are the obsolete control-file spellings that mean "<=" and ">=".
 */
interface DpkgRelation {
  holds(compare: number): boolean;
  /** Outcome when A is empty, when both are, when B is. */
  noneA: boolean;
  noneBoth: boolean;
  noneB: boolean;
}

const lower = (c: number) => c < 0;
const lowerOrEqual = (c: number) => c <= 0;
const equal = (c: number) => c === 0;
const unequal = (c: number) => c !== 0;
const higherOrEqual = (c: number) => c >= 0;
const higher = (c: number) => c > 0;

const DPKG_RELATIONS: Record<string, DpkgRelation> = {
  le: { holds: lowerOrEqual, noneA: true, noneBoth: true, noneB: false },
  lt: { holds: lower, noneA: true, noneBoth: false, noneB: false },
  eq: { holds: equal, noneA: false, noneBoth: true, noneB: false },
  ne: { holds: unequal, noneA: true, noneBoth: false, noneB: true },
  ge: { holds: higherOrEqual, noneA: false, noneBoth: true, noneB: true },
  gt: { holds: higher, noneA: false, noneBoth: false, noneB: true },
  'le-nl': { holds: lowerOrEqual, noneA: false, noneBoth: true, noneB: true },
  'lt-nl': { holds: lower, noneA: false, noneBoth: false, noneB: true },
  'ge-nl': { holds: higherOrEqual, noneA: true, noneBoth: true, noneB: false },
  'gt-nl': { holds: higher, noneA: true, noneBoth: false, noneB: false },
};
DPKG_RELATIONS['<'] = DPKG_RELATIONS['<='] = DPKG_RELATIONS.le!;
DPKG_RELATIONS['<<'] = DPKG_RELATIONS.lt!;
DPKG_RELATIONS['='] = DPKG_RELATIONS.eq!;
DPKG_RELATIONS['>'] = DPKG_RELATIONS['>='] = DPKG_RELATIONS.ge!;
DPKG_RELATIONS['>>'] = DPKG_RELATIONS.gt!;

export const DPKG_RELATION_NAMES = Object.keys(DPKG_RELATIONS);

/**
 * `dpkg --compare-versions A OP B`: an empty string or "<unknown>" is an empty version; a version dpkg only warns
 * about is compared as parsed, with the warning returned; one dpkg refuses throws {@link DebVersionError}, as does an
 * unknown operator.
 */
export function dpkgCompareVersions(a: string, op: string, b: string): { holds: boolean; compare: number | null; warnings: string[] } {
  const relation = Object.hasOwn(DPKG_RELATIONS, op) ? DPKG_RELATIONS[op] : undefined;
  if (!relation) throw new DebVersionError(`unknown relation "${op}"; use one of ${DPKG_RELATION_NAMES.join(' ')}`);
  const warnings: string[] = [];
  if (op === '<' || op === '>') warnings.push(`obsolete relation "${op}" (it means "${op}="); use "${op}${op}" or "${op}="`);
  const parse = (text: string): DebVersion | null => {
    if (text === '' || text === '<unknown>') return null;
    const checked = checkDebVersion(text);
    if (checked.warning) warnings.push(checked.warning);
    return checked.version;
  };
  const va = parse(a);
  const vb = parse(b);
  if (!va) return { holds: vb ? relation.noneA : relation.noneBoth, compare: null, warnings };
  if (!vb) return { holds: relation.noneB, compare: null, warnings };
  const compare = compareDebVersions(va, vb);
  return { holds: relation.holds(compare), compare, warnings };
}
