/**
 * Dependency relations as the solver sees them. A backend parses its own notation (Debian "a (>= 1) | b:any", rpm
 * "(a >= 1 or b)") into these values at the edge; the solver never reads a relation string.
 */

/** Version comparison of a relation. Backends map their spellings onto these (Debian "<<" → "<", ">>" → ">"). */
export type RelationOp = '<' | '<=' | '=' | '>=' | '>' | '!=';

/** One alternative: a name (package or virtual), optionally a version range and an architecture qualifier. */
export interface Alternative {
  name: string;
  op?: RelationOp;
  /** The backend's version notation; required when `op` is given. */
  version?: string;
  /**
   * Architecture qualifier (Debian "foo:any", "foo:amd64"); its meaning is decided by the backend's
   * {@link PoolOptions.archAllows} predicate, never by the solver.
   */
  arch?: string;
}

/**
 * rpm's boolean ("rich") dependencies. The same tree serves Requires, Conflicts and Recommends:
 * - and / or: all / at least one of `args`;
 * - if: `then` is needed when `cond` is installed (`else` when it is not);
 * - unless: `then` is needed when `cond` is not installed (`else` when it is);
 * - with / without: one single package that satisfies `args[0]` and also (with) / not (without) `args[1]`.
 */
export type RichRelation =
  | { op: 'and' | 'or'; args: Relation[] }
  | { op: 'if' | 'unless'; then: Relation; cond: Relation; else?: Relation }
  | { op: 'with' | 'without'; args: [Relation, Relation] }
  | { op: 'atom'; alt: Alternative };

/**
 * A dependency: either a plain list of alternatives (satisfied by any one, in the order written), or a rich tree.
 * A plain list with one element is the common case.
 */
export type Relation = Alternative[] | RichRelation;

export function isRich(relation: Relation): relation is RichRelation {
  return !Array.isArray(relation);
}

/** A name a package provides, with the version it provides (undefined: unversioned provide). */
export interface Provide {
  name: string;
  version?: string;
}

/** Default spelling, Debian-like: "libc6 (>= 2.38) | libc6.1". Backends pass their own to the pool. */
export function formatAlternative(alt: Alternative): string {
  const name = alt.arch ? `${alt.name}:${alt.arch}` : alt.name;
  const op = alt.op === '<' ? '<<' : alt.op === '>' ? '>>' : alt.op;
  return op && alt.version !== undefined ? `${name} (${op} ${alt.version})` : name;
}

export function formatRelation(relation: Relation, formatAlt: (a: Alternative) => string = formatAlternative): string {
  if (!isRich(relation)) return relation.map(formatAlt).join(' | ');
  return formatRich(relation, formatAlt);
}

function formatRich(rel: RichRelation, formatAlt: (a: Alternative) => string): string {
  const sub = (r: Relation): string => (isRich(r) ? formatRich(r, formatAlt) : formatRelation(r, formatAlt));
  let text: string;
  switch (rel.op) {
    case 'atom':
      return formatAlt(rel.alt);
    case 'and':
    case 'or':
      text = rel.args.map(sub).join(` ${rel.op} `);
      break;
    case 'with':
    case 'without':
      text = `${sub(rel.args[0])} ${rel.op} ${sub(rel.args[1])}`;
      break;
    case 'if':
    case 'unless':
      text = `${sub(rel.then)} ${rel.op} ${sub(rel.cond)}` + (rel.else ? ` else ${sub(rel.else)}` : '');
      break;
  }
  return `(${text})`;
}

/** Every alternative named anywhere in a relation (used to walk reachability). */
export function alternativesOf(relation: Relation, out: Alternative[] = []): Alternative[] {
  if (!isRich(relation)) {
    out.push(...relation);
    return out;
  }
  switch (relation.op) {
    case 'atom':
      out.push(relation.alt);
      break;
    case 'and':
    case 'or':
    case 'with':
    case 'without':
      for (const a of relation.args) alternativesOf(a, out);
      break;
    case 'if':
    case 'unless':
      alternativesOf(relation.then, out);
      alternativesOf(relation.cond, out);
      if (relation.else) alternativesOf(relation.else, out);
      break;
  }
  return out;
}
