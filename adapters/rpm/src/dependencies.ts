/**
 * rpm's dependency model: the eight relationship kinds as typed values, sense flags decoded, rich (boolean)
 * dependencies parsed into a tree, and the rpmlib() capabilities this adapter honours.
 */
import { PackageFormatError } from '@ostree-layer/core';
import { Tag, type RpmHeader } from './header.js';
import { compareEvr, parseEvr, type RpmEvr } from './version.js';

/** rpmsenseFlags bits (rpmds.h). */
export const Sense = {
  Less: 1 << 1, Greater: 1 << 2, Equal: 1 << 3, PostTrans: 1 << 5, PreReq: 1 << 6, PreTrans: 1 << 7,
  Interp: 1 << 8, ScriptPre: 1 << 9, ScriptPost: 1 << 10, ScriptPreUn: 1 << 11, ScriptPostUn: 1 << 12,
  MissingOk: 1 << 19, PreUnTrans: 1 << 20, PostUnTrans: 1 << 21, RpmLib: 1 << 24, Keyring: 1 << 26,
  Config: 1 << 28, Meta: 1 << 29,
} as const;

export type DependencyKind =
  | 'requires' | 'provides' | 'conflicts' | 'obsoletes' | 'recommends' | 'suggests' | 'supplements' | 'enhances';

export const DEPENDENCY_TAGS: Record<DependencyKind, { name: number; flags: number; version: number }> = {
  requires: { name: Tag.RequireName, flags: Tag.RequireFlags, version: Tag.RequireVersion },
  provides: { name: Tag.ProvideName, flags: Tag.ProvideFlags, version: Tag.ProvideVersion },
  conflicts: { name: Tag.ConflictName, flags: Tag.ConflictFlags, version: Tag.ConflictVersion },
  obsoletes: { name: Tag.ObsoleteName, flags: Tag.ObsoleteFlags, version: Tag.ObsoleteVersion },
  recommends: { name: Tag.RecommendName, flags: Tag.RecommendFlags, version: Tag.RecommendVersion },
  suggests: { name: Tag.SuggestName, flags: Tag.SuggestFlags, version: Tag.SuggestVersion },
  supplements: { name: Tag.SupplementName, flags: Tag.SupplementFlags, version: Tag.SupplementVersion },
  enhances: { name: Tag.EnhanceName, flags: Tag.EnhanceFlags, version: Tag.EnhanceVersion },
};

export type Operator = '<' | '<=' | '=' | '>=' | '>';

/** A boolean dependency ("(a or b)", "(x if y else z)") as a tree. Leaves are plain name/op/version terms. */
export type RichDependency =
  | { op: 'atom'; name: string; operator?: Operator; version?: string }
  | { op: 'and' | 'or' | 'with' | 'without'; operands: RichDependency[] }
  | { op: 'if' | 'unless'; left: RichDependency; right: RichDependency; otherwise?: RichDependency };

export interface RpmDependency {
  /** Capability name, or the whole boolean expression for a rich dependency. */
  name: string;
  operator?: Operator;
  /** The version as written ("1:2.0-3"). */
  version?: string;
  /** The raw sense flags, for the database and for what the typed fields do not say. */
  flags: number;
  /** Needed before the package's own scriptlets run (Requires(pre) etc.). */
  pre?: boolean;
  /** An rpmlib(…) capability: met by rpm itself, never by a package. */
  rpmlib?: boolean;
  rich?: RichDependency;
}

export type Dependencies = Record<DependencyKind, RpmDependency[]>;

export function operatorOf(flags: number): Operator | undefined {
  const less = flags & Sense.Less;
  const greater = flags & Sense.Greater;
  const equal = flags & Sense.Equal;
  if (less && equal) return '<=';
  if (greater && equal) return '>=';
  if (less) return '<';
  if (greater) return '>';
  if (equal) return '=';
  return undefined;
}

const PRE_MASK = Sense.PreReq | Sense.ScriptPre | Sense.ScriptPost | Sense.PreTrans | Sense.PostTrans;

/** Every relationship of a header, in header order. Refuses arrays of mismatched lengths. */
export function readDependencies(header: RpmHeader, file: string): Dependencies {
  const out = {} as Dependencies;
  for (const [kind, tags] of Object.entries(DEPENDENCY_TAGS) as Array<[DependencyKind, (typeof DEPENDENCY_TAGS)[DependencyKind]]>) {
    const names = header.strings(tags.name);
    const flags = header.numbers(tags.flags);
    const versions = header.strings(tags.version);
    if ((flags.length && flags.length !== names.length) || (versions.length && versions.length !== names.length)) {
      throw new PackageFormatError(file, `${kind} has ${names.length} names but ${flags.length} flags and ${versions.length} versions; the header is corrupt`);
    }
    out[kind] = names.map((name, i) => {
      const f = flags[i] ?? 0;
      const dep: RpmDependency = { name, flags: f };
      const op = operatorOf(f);
      const version = versions[i] ?? '';
      if (op && version !== '') {
        dep.operator = op;
        dep.version = version;
      }
      if (kind === 'requires' && f & PRE_MASK) dep.pre = true;
      if (name.startsWith('rpmlib(')) dep.rpmlib = true;
      if (name.startsWith('(')) dep.rich = parseRichDependency(name, file);
      return dep;
    });
  }
  return out;
}

const KEYWORDS = new Set(['and', 'or', 'if', 'unless', 'else', 'with', 'without']);
const OPERATORS = new Set<string>(['<', '<=', '=', '>=', '>', '==']);

/** Parses rpm's boolean dependency syntax (rpm 4.13+). Throws PackageFormatError on malformed text. */
export function parseRichDependency(text: string, file: string): RichDependency {
  const tokens = text.match(/\(|\)|[^\s()]+/g) ?? [];
  let pos = 0;
  const fail = (why: string) => new PackageFormatError(file, `rich dependency ${JSON.stringify(text)}: ${why}`);
  const peek = () => tokens[pos];
  const expr = (): RichDependency => {
    if (peek() !== '(') throw fail(`expected "(" at token ${pos}`);
    pos++;
    const first = operand();
    const keyword = peek();
    let node: RichDependency;
    if (keyword === ')') {
      node = first;
    } else if (keyword === 'and' || keyword === 'or' || keyword === 'with' || keyword === 'without') {
      const operands = [first];
      while (peek() === keyword) {
        pos++;
        operands.push(operand());
      }
      if (keyword === 'without' && operands.length !== 2) throw fail('"without" takes exactly two operands');
      node = { op: keyword, operands };
    } else if (keyword === 'if' || keyword === 'unless') {
      pos++;
      const right = operand();
      let otherwise: RichDependency | undefined;
      if (peek() === 'else') {
        pos++;
        otherwise = operand();
      }
      node = { op: keyword, left: first, right, ...(otherwise ? { otherwise } : {}) };
    } else {
      throw fail(`unexpected ${JSON.stringify(keyword ?? 'end of text')}`);
    }
    if (peek() !== ')') throw fail(`expected ")" but found ${JSON.stringify(peek() ?? 'end of text')}`);
    pos++;
    return node;
  };
  const operand = (): RichDependency => {
    const t = peek();
    if (t === undefined) throw fail('ends too early');
    if (t === '(') return expr();
    if (t === ')' || KEYWORDS.has(t)) throw fail(`expected a name, found ${JSON.stringify(t)}`);
    pos++;
    const atom: RichDependency = { op: 'atom', name: t };
    const maybeOp = peek();
    if (maybeOp !== undefined && OPERATORS.has(maybeOp)) {
      pos++;
      const version = peek();
      if (version === undefined || version === '(' || version === ')') throw fail(`"${t} ${maybeOp}" has no version`);
      pos++;
      return { ...atom, operator: (maybeOp === '==' ? '=' : maybeOp) as Operator, version };
    }
    return atom;
  };
  const tree = expr();
  if (pos !== tokens.length) throw fail(`text after the closing ")"`);
  return tree;
}

/** The rpmlib() capabilities rpm 4.18 provides itself (`rpm --showrc`), with their versions. */
export const RPMLIB_FEATURES: Record<string, string> = {
  'rpmlib(BuiltinLuaScripts)': '4.2.2-1', 'rpmlib(CaretInVersions)': '4.15.0-1',
  'rpmlib(CompressedFileNames)': '3.0.4-1', 'rpmlib(ConcurrentAccess)': '4.1-1',
  'rpmlib(DynamicBuildRequires)': '4.15.0-1', 'rpmlib(ExplicitPackageProvide)': '4.0-1',
  'rpmlib(FileCaps)': '4.6.1-1', 'rpmlib(FileDigests)': '4.6.0-1', 'rpmlib(HeaderLoadSortsTags)': '4.0.1-1',
  'rpmlib(LargeFiles)': '4.12.0-1', 'rpmlib(PartialHardlinkSets)': '4.0.4-1',
  'rpmlib(PayloadFilesHavePrefix)': '4.0-1', 'rpmlib(PayloadIsBzip2)': '3.0.5-1',
  'rpmlib(PayloadIsLzma)': '4.4.2-1', 'rpmlib(PayloadIsXz)': '5.2-1', 'rpmlib(PayloadIsZstd)': '5.4.18-1',
  'rpmlib(RichDependencies)': '4.12.0-1', 'rpmlib(ScriptletExpansion)': '4.9.0-1',
  'rpmlib(ScriptletInterpreterArgs)': '4.0.3-1', 'rpmlib(TildeInVersions)': '4.10.0-1',
  'rpmlib(VersionedDependencies)': '3.0.3-1',
};

/** True when `provided` (a provide's operator/version, or none for an unversioned provide) meets `required`. */
export function rangeSatisfies(
  provided: { operator?: Operator; version?: string },
  required: { operator?: Operator; version?: string },
): boolean {
  if (!required.operator || !required.version || !provided.operator || !provided.version) return true;
  // rpm's rule (rpmdsCompare): the two ranges overlap.
  const c = compareEvr(parseEvr(provided.version), parseEvr(required.version), true);
  const p = provided.operator;
  const r = required.operator;
  if (c < 0) return p.includes('>') || r.includes('<');
  if (c > 0) return p.includes('<') || r.includes('>');
  return (p.includes('=') && r.includes('=')) || (p.includes('<') && r.includes('<')) || (p.includes('>') && r.includes('>'));
}

/** Whether rpm itself meets an rpmlib() requirement (unknown features are refused, as rpm does). */
export function rpmlibSatisfies(dep: RpmDependency): boolean {
  const have = RPMLIB_FEATURES[dep.name];
  if (have === undefined) return false;
  return rangeSatisfies({ operator: '=', version: have }, dep);
}

export type { RpmEvr };
