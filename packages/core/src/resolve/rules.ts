/**
 * Turns the part of the pool reachable from the request into clauses (libsolv's "rules"). Only packages reachable
 * through requests, requires and recommends become variables; every other package simply stays uninstalled, which
 * keeps a 64k-package pool cheap when the request touches a few thousand.
 */
import type { Pool, PoolPackage } from './pool.js';
import type { Alternative, Relation, RichRelation } from './relation.js';
import { alternativesOf, isRich } from './relation.js';
import { Sat, lit } from './sat.js';

/** A user request: install something matching this alternative (name, optional range and arch). */
export type Request = Alternative;

export type RuleKind =
  | 'request'
  | 'requires'
  | 'conflicts'
  | 'obsoletes'
  | 'same-name'
  | 'locked'
  | 'uninstallable';

/** Why a clause exists, for the explanation of a failure. */
export interface RuleInfo {
  kind: RuleKind;
  /** The package whose relation produced the clause (absent for requests). */
  pkg?: number;
  /** The other package of a pairwise rule (conflicts, obsoletes, same-name). */
  other?: number;
  relation?: Relation;
  /** Index into the request list. */
  request?: number;
  /** Rich rules: the literals in written order (the SAT core reorders its copy), so choices follow the text. */
  order?: number[];
}

/** A weak (Recommends) clause: never added to the SAT core, only used to steer decisions. */
export interface WeakRule {
  pkg: number;
  relation: Relation;
  lits: number[];
}

export interface RuleSet {
  sat: Sat;
  /** Clause id → its origin (learned clauses have none). */
  info: RuleInfo[];
  /** Variables of the problem: reachable packages and the installed base. */
  vars: number[];
  requestRules: number[];
  /** Variable → hard clauses to satisfy once it is true (its requires and rich rules). */
  triggered: Map<number, number[]>;
  /** Variable → weak rules to try once it is true. */
  weak: Map<number, WeakRule[]>;
}

/** Boolean formula over package literals in negation normal form, before CNF conversion. */
type Formula = { kind: 'lits'; lits: number[] } | { kind: 'and' | 'or'; args: Formula[] };

/** Guard against exponential CNF expansion of pathological rich dependencies. */
const MAX_CNF_CLAUSES = 4096;

export function buildRules(pool: Pool, requests: readonly Request[], withWeak: boolean): RuleSet {
  const inProblem = new Uint8Array(pool.packages.length);
  const vars: number[] = [];
  const queue: number[] = [];
  const enter = (id: number): void => {
    if (inProblem[id]) return;
    inProblem[id] = 1;
    vars.push(id);
    if (!pool.get(id).installed) queue.push(id);
  };
  for (let id = 1; id < pool.packages.length; id++) if (pool.get(id).installed) enter(id);
  for (const r of requests) for (const id of pool.whatProvides(r)) enter(id);
  // Reachability closure over requires, pre-requires and recommends (rich conditions included). A plain relation
  // the base already satisfies is true whatever happens, so its other providers are not reachable through it: this
  // keeps "libc6 (>= 2.34)" from dragging in every newer libc6 and its dependencies.
  const byBase = (rel: Relation, p: PoolPackage): boolean =>
    !isRich(rel) && rel.some((alt) => pool.whatProvides(alt, p).some((id) => pool.get(id).installed));
  for (let q = 0; q < queue.length; q++) {
    const p = pool.get(queue[q]);
    for (const list of [p.preRequires, p.requires, withWeak ? p.recommends : undefined]) {
      for (const rel of list ?? []) {
        if (byBase(rel, p)) continue;
        for (const alt of alternativesOf(rel)) for (const id of pool.whatProvides(alt, p)) enter(id);
      }
    }
  }

  const sat = new Sat(pool.packages.length - 1);
  const info: RuleInfo[] = [];
  const triggered = new Map<number, number[]>();
  const weak = new Map<number, WeakRule[]>();
  const requestRules: number[] = [];
  const seenLit = new Int32Array(2 * pool.packages.length + 2);
  let stamp = 0;
  /** Drops literals of packages outside the problem (they are false) and duplicates; null when trivially true. */
  const normalise = (lits: number[]): number[] | null => {
    stamp++;
    const out: number[] = [];
    for (const l of lits) {
      const v = l >> 1;
      if (!inProblem[v]) {
        if (l & 1) return null;
        continue;
      }
      if (seenLit[l ^ 1] === stamp) return null;
      if (seenLit[l] === stamp) continue;
      seenLit[l] = stamp;
      out.push(l);
    }
    return out;
  };
  const add = (lits: number[], why: RuleInfo): number => {
    const clean = normalise(lits);
    if (!clean) return -1;
    info.push(why.relation && isRich(why.relation) ? { ...why, order: clean } : why);
    const id = sat.addClause(clean);
    if (why.kind === 'requires' || why.kind === 'request') {
      for (const l of clean) {
        if (!(l & 1)) continue;
        const v = l >> 1;
        let list = triggered.get(v);
        if (!list) triggered.set(v, (list = []));
        list.push(id);
      }
    }
    return id;
  };
  const providersOf = (alt: Alternative, dependent?: PoolPackage): number[] =>
    pool.whatProvides(alt, dependent).filter((id) => inProblem[id]);
  const cnf = new CnfBuilder(pool, providersOf);

  requests.forEach((r, index) => {
    const id = add(pool.whatProvides(r).map((p) => lit(p, true)), { kind: 'request', relation: [r], request: index });
    if (id >= 0) requestRules.push(id);
  });

  const mayCoexist = pool.options.mayCoexist;
  const byName = new Map<number, number[]>();
  for (const v of vars) {
    const p = pool.get(v);
    const group = byName.get(p.nameId);
    if (group) group.push(v);
    else byName.set(p.nameId, [v]);
    if (p.installed) {
      sat.addClause([lit(v, true)]);
      info.push({ kind: 'locked', pkg: v });
      continue;
    }
    if (pool.options.installable && !pool.options.installable(p)) add([lit(v, false)], { kind: 'uninstallable', pkg: v });
    for (const rel of [...(p.preRequires ?? []), ...(p.requires ?? [])]) {
      for (const clause of cnf.clauses(rel, true, p)) add([lit(v, false), ...clause], { kind: 'requires', pkg: v, relation: rel });
    }
    if (withWeak) {
      for (const rel of p.recommends ?? []) {
        const list = weak.get(v) ?? [];
        for (const clause of cnf.clauses(rel, true, p)) list.push({ pkg: v, relation: rel, lits: clause });
        weak.set(v, list);
      }
    }
    for (const rel of p.obsoletes ?? []) {
      for (const alt of alternativesOf(rel)) {
        for (const q of pool.whatMatchesName(alt)) {
          if (q !== v && pool.get(q).nameId !== p.nameId) add([lit(v, false), lit(q, false)], { kind: 'obsoletes', pkg: v, other: q, relation: rel });
        }
      }
    }
  }
  // Conflicts are symmetric as clauses, so the base's own Conflicts only need checking against the new packages.
  for (const v of vars) {
    const p = pool.get(v);
    for (const rel of p.conflicts ?? []) {
      if (isRich(rel)) {
        for (const clause of cnf.clauses(rel, false, p)) add([lit(v, false), ...clause], { kind: 'conflicts', pkg: v, relation: rel });
        continue;
      }
      for (const alt of rel) {
        for (const q of providersOf(alt, p)) {
          // A package never conflicts with itself (Debian: Conflicts on a virtual name it provides).
          if (q === v || (p.installed && pool.get(q).installed)) continue;
          add([lit(v, false), lit(q, false)], { kind: 'conflicts', pkg: v, other: q, relation: rel });
        }
      }
    }
  }
  for (const group of byName.values()) {
    for (let i = 0; i < group.length; i++) {
      for (let j = i + 1; j < group.length; j++) {
        const a = pool.get(group[i]);
        const b = pool.get(group[j]);
        if ((a.installed && b.installed) || mayCoexist?.(a, b)) continue;
        const [pkg, other] = b.installed ? [a.id, b.id] : [b.id, a.id];
        add([lit(pkg, false), lit(other, false)], { kind: 'same-name', pkg, other });
      }
    }
  }
  return { sat, info, vars, requestRules, triggered, weak };
}

/** Converts (rich) relations into clauses over package literals; `positive` false gives the clauses of NOT rel. */
class CnfBuilder {
  constructor(
    private readonly pool: Pool,
    private readonly providersOf: (alt: Alternative, dependent?: PoolPackage) => number[],
  ) {}

  clauses(rel: Relation, positive: boolean, dependent: PoolPackage): number[][] {
    if (!isRich(rel) && positive) {
      return [rel.flatMap((alt) => this.providersOf(alt, dependent).map((id) => lit(id, true)))];
    }
    return toCnf(this.formula(rel, positive, dependent));
  }

  private atom(ids: number[], positive: boolean): Formula {
    if (positive) return { kind: 'lits', lits: ids.map((id) => lit(id, true)) };
    return { kind: 'and', args: ids.map((id) => ({ kind: 'lits', lits: [lit(id, false)] })) };
  }

  /** The set of single packages satisfying a relation, used for with/without (which constrain one package). */
  private packageSet(rel: Relation, dependent: PoolPackage): number[] {
    if (!isRich(rel)) return [...new Set(rel.flatMap((alt) => this.providersOf(alt, dependent)))];
    switch (rel.op) {
      case 'atom':
        return this.providersOf(rel.alt, dependent);
      case 'with':
      case 'and': {
        const [first, ...rest] = rel.args.map((a) => new Set(this.packageSet(a, dependent)));
        return [...first].filter((id) => rest.every((s) => s.has(id)));
      }
      case 'without': {
        const drop = new Set(this.packageSet(rel.args[1], dependent));
        return this.packageSet(rel.args[0], dependent).filter((id) => !drop.has(id));
      }
      case 'or':
        return [...new Set(rel.args.flatMap((a) => this.packageSet(a, dependent)))];
      default:
        return [];
    }
  }

  private formula(rel: Relation, pos: boolean, dep: PoolPackage): Formula {
    if (!isRich(rel)) return this.atom(this.packageSet(rel, dep), pos);
    const r = rel as RichRelation;
    const f = (x: Relation, p: boolean): Formula => this.formula(x, p, dep);
    switch (r.op) {
      case 'atom':
      case 'with':
      case 'without':
        return this.atom(this.packageSet(r, dep), pos);
      case 'and':
        return { kind: pos ? 'and' : 'or', args: r.args.map((a) => f(a, pos)) };
      case 'or':
        return { kind: pos ? 'or' : 'and', args: r.args.map((a) => f(a, pos)) };
      case 'if':
      case 'unless': {
        // "A if C" needs A when C holds; "A unless C" needs A when C does not hold. `whenA` is the polarity of C
        // under which A is needed; the else branch applies under the other polarity.
        const whenA = r.op === 'if';
        const elseF = r.else;
        if (pos) {
          const needA: Formula = { kind: 'or', args: [f(r.then, true), f(r.cond, !whenA)] };
          if (!elseF) return needA;
          return { kind: 'and', args: [needA, { kind: 'or', args: [f(elseF, true), f(r.cond, whenA)] }] };
        }
        const notA: Formula = { kind: 'and', args: [f(r.cond, whenA), f(r.then, false)] };
        if (!elseF) return notA;
        return { kind: 'or', args: [notA, { kind: 'and', args: [f(r.cond, !whenA), f(elseF, false)] }] };
      }
    }
  }
}

function toCnf(f: Formula): number[][] {
  switch (f.kind) {
    case 'lits':
      return [f.lits];
    case 'and':
      return f.args.flatMap(toCnf);
    case 'or': {
      let acc: number[][] = [[]];
      for (const arg of f.args) {
        const sub = toCnf(arg);
        const next: number[][] = [];
        for (const a of acc) for (const s of sub) next.push([...a, ...s]);
        if (next.length > MAX_CNF_CLAUSES) throw new RangeError('rich dependency too complex to expand');
        acc = next;
      }
      return acc;
    }
  }
}
