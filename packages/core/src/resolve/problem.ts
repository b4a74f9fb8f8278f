/**
 * Explanations of an unsatisfiable request. After the SAT core proves a conflict at decision level 0, every false
 * package has a reason clause; walking them from the failing request gives the chain a user can act on
 * ("htop → libc6 (>= 2.38): installed base has libc6 2.36-9, …"). When the proof went through learned clauses (a
 * combination that fails only as a whole), the original rules behind it are listed instead.
 */
import { ResolutionError } from '../errors.js';
import type { Pool } from './pool.js';
import type { Relation } from './relation.js';
import { formatRelation } from './relation.js';
import type { RuleSet } from './rules.js';

export type ProblemKind =
  | 'nothing-provides'
  | 'base-locked'
  | 'conflicts'
  | 'obsoletes-base'
  | 'same-name'
  | 'uninstallable'
  | 'combination';

/** One link of a chain: a relation being followed, or a package it led to. */
export interface ProblemStep {
  relation?: string;
  package?: { name: string; version: string; arch: string; installed: boolean };
}

export interface Problem {
  kind: ProblemKind;
  chain: ProblemStep[];
  /** What is wrong at the end of the chain. */
  reason: string;
  /** The chain and reason as one line. */
  text: string;
}

export class UnsatisfiableError extends ResolutionError {
  constructor(readonly problems: Problem[]) {
    const baseBound = problems.some((p) => p.kind === 'base-locked' || p.kind === 'obsoletes-base' || p.reason.includes('from the base'));
    super(
      `the request cannot be satisfied:\n${problems.map((p) => `  ${p.text}`).join('\n')}` +
        (baseBound
          ? '\nLayered installs keep every base package as it is: rebase onto a newer base, or request versions that fit it.'
          : '\nCheck the repositories configured in the deployment, or request other versions.'),
    );
  }

  toJSON(): { kind: string; message: string; problems: Problem[] } {
    return { kind: this.kind, message: this.message, problems: this.problems };
  }
}

const MAX_DEPTH = 16;
const MAX_PROBLEMS = 20;
const BASE_LOCKED = 'base packages cannot change in a layered install';

export function explain(pool: Pool, rules: RuleSet, conflict: number): Problem[] {
  return new Explainer(pool, rules).run(conflict);
}

class Explainer {
  private readonly problems = new Map<string, Problem>();
  private readonly visiting = new Set<number>();
  /** Explanations of alternatives a path did not take, run after the main problem is written. */
  private readonly siblings: (() => void)[] = [];

  constructor(
    private readonly pool: Pool,
    private readonly rules: RuleSet,
  ) {}

  run(conflict: number): Problem[] {
    const why = this.rules.info[conflict];
    if (this.needsLearned(conflict)) {
      // The proof used learned clauses: no single chain tells the story, the whole combination does.
      this.combination(conflict, []);
    } else if (why?.kind === 'request' && why.relation) {
      this.falseRelation(why.relation, [], undefined);
    } else if (why && why.pkg !== undefined) {
      // A rule broken by packages that were all forced in: show how the first one was pulled in.
      const chain = this.pathTo(why.pkg, new Set());
      this.describeRule(conflict, why.pkg, chain);
      // The path went through alternatives; say why the others were not taken.
      for (const task of this.siblings.splice(0)) task();
    } else this.combination(conflict, []);
    if (this.problems.size === 0) this.combination(conflict, []);
    return [...this.problems.values()].slice(0, MAX_PROBLEMS);
  }

  private step(id: number): ProblemStep {
    const p = this.pool.get(id);
    return { package: { name: p.name, version: p.version, arch: p.arch, installed: p.installed } };
  }

  private relText(rel: Relation): string {
    return formatRelation(rel, (a) => this.pool.formatAlternative(a));
  }

  private emit(kind: ProblemKind, chain: ProblemStep[], reason: string, joiner = ': '): void {
    const path = chain.map((s) => s.relation ?? `${s.package!.name} ${s.package!.version}`).join(' → ');
    const text = path ? `${path}${joiner}${reason}` : reason;
    if (!this.problems.has(text)) this.problems.set(text, { kind, chain, reason, text });
  }

  /** Every package satisfying `rel` is ruled out: explain each. */
  private falseRelation(rel: Relation, chain: ProblemStep[], dependent: number | undefined): void {
    const here = [...chain, { relation: this.relText(rel) }];
    const alts = Array.isArray(rel) ? rel : [];
    const dep = dependent === undefined ? undefined : this.pool.get(dependent);
    const all = [...new Set(alts.flatMap((a) => this.pool.whatProvides(a, dep)))];
    const candidates = all.filter((id) => this.rules.sat.value[id] !== 1);
    if (!Array.isArray(rel)) {
      this.emit('combination', here, 'no combination of packages satisfies this rich dependency');
      return;
    }
    if (candidates.length === 0) {
      const base = alts.flatMap((a) => this.pool.packagesNamed(a.name)).filter((id) => this.pool.get(id).installed);
      const note = base.length ? `; installed base has ${this.nameVersion(base[0])}, and ${BASE_LOCKED}` : '';
      this.emit(base.length ? 'base-locked' : 'nothing-provides', here, `nothing available provides it${note}`);
      return;
    }
    // A single candidate named like the relation adds nothing to the chain ("htop → htop 3.2 → …").
    const collapse = candidates.length === 1 && alts.length === 1 && this.pool.get(candidates[0]).name === alts[0].name;
    for (const id of candidates) this.falsePackage(id, collapse ? here : [...here, this.step(id)]);
  }

  private falsePackage(id: number, chain: ProblemStep[]): void {
    const { sat } = this.rules;
    if (chain.length > MAX_DEPTH || this.visiting.has(id) || this.problems.size >= MAX_PROBLEMS) return;
    const r = sat.reason[id];
    if (sat.value[id] !== -1 || r < 0) return;
    this.visiting.add(id);
    try {
      this.describeRule(r, id, chain);
    } finally {
      this.visiting.delete(id);
    }
  }

  /** Explains why rule `r` rules out (or, for a top-level conflict, is broken by) package `id`. */
  private describeRule(r: number, id: number, chain: ProblemStep[]): void {
    const why = this.rules.info[r];
    const pool = this.pool;
    if (!why) return this.combination(r, chain);
    const other = why.other;
    switch (why.kind) {
      case 'requires':
        if (why.pkg === id && why.relation) return this.falseRelation(why.relation, chain, id);
        return this.combination(r, chain);
      case 'same-name': {
        const o = other === id ? why.pkg! : other!;
        if (pool.get(o).installed) {
          return this.emit('base-locked', chain, `installed base has ${this.nameVersion(o)}, and ${BASE_LOCKED}`);
        }
        return this.emit('same-name', chain, `only one version of ${pool.get(id).name} can be installed, and ${this.nameVersion(o)} is needed (${this.trueReason(o)})`);
      }
      case 'conflicts': {
        const [a, b] = why.pkg === id ? [id, other] : [why.pkg!, id];
        if (b === undefined) return this.combination(r, chain);
        const culprit = a === id ? b : a;
        const relText = why.relation ? this.relText(why.relation) : '';
        const through = relText && relText !== pool.get(b).name ? ` through "${relText}"` : '';
        const what = `conflicts with ${pool.get(b).name} (${this.trueReason(culprit)})${through}`;
        // "foo conflicts with bar" reads better than "foo: foo conflicts with bar" when the chain ends at foo.
        const last = chain[chain.length - 1];
        if (a === id && last?.relation === pool.get(a).name) return this.emit('conflicts', chain, what, ' ');
        return this.emit('conflicts', chain, `${pool.get(a).name} ${what}`);
      }
      case 'obsoletes': {
        const target = other!;
        if (pool.get(target).installed) {
          return this.emit('obsoletes-base', chain, `${pool.get(why.pkg!).name} obsoletes ${this.nameVersion(target)} from the base, and ${BASE_LOCKED}`);
        }
        return this.emit('conflicts', chain, `${pool.get(why.pkg!).name} obsoletes ${pool.get(target).name} (${this.trueReason(target === id ? why.pkg! : target)})`);
      }
      case 'uninstallable':
        return this.emit('uninstallable', chain, `architecture ${pool.get(id).arch} cannot be installed on this system`);
      default:
        return this.combination(r, chain);
    }
  }

  private nameVersion(id: number): string {
    const p = this.pool.get(id);
    return `${p.name} ${p.version}`;
  }

  /** A short phrase saying why a package that is true at level 0 has to be there. */
  private trueReason(id: number): string {
    const p = this.pool.get(id);
    if (p.installed) return 'from the base';
    const r = this.rules.sat.reason[id];
    const why = r >= 0 ? this.rules.info[r] : undefined;
    if (why?.kind === 'request') return 'requested';
    if (why?.kind === 'requires' && why.pkg !== undefined) return `needed by ${this.pool.get(why.pkg).name}`;
    return 'needed by the rest of the request';
  }

  /** The chain of relations through which a package forced true at level 0 was pulled in. */
  private pathTo(id: number, seen: Set<number>): ProblemStep[] {
    const r = this.rules.sat.reason[id];
    const why = r >= 0 ? this.rules.info[r] : undefined;
    if (!why || seen.has(id) || seen.size > MAX_DEPTH) return [this.step(id)];
    seen.add(id);
    const via = (rel: Relation): ProblemStep[] => {
      const named = Array.isArray(rel) && rel.length === 1 && rel[0].name === this.pool.get(id).name;
      return named ? [{ relation: this.relText(rel) }] : [{ relation: this.relText(rel) }, this.step(id)];
    };
    if (why.kind === 'request' && why.relation) return via(why.relation);
    if (why.kind === 'requires' && why.pkg !== undefined && why.pkg !== id && why.relation) {
      const upstream = this.pathTo(why.pkg, seen);
      const prefix = [...upstream, { relation: this.relText(why.relation) }];
      for (const l of this.rules.sat.clause(r)) {
        const other = l >> 1;
        if (!(l & 1) && other !== id) this.siblings.push(() => this.falsePackage(other, [...prefix, this.step(other)]));
      }
      return [...upstream, ...via(why.relation)];
    }
    return [this.step(id)];
  }

  /** Whether the level-0 reasons behind a clause include a learned clause. */
  private needsLearned(conflict: number): boolean {
    const { sat, info } = this.rules;
    const seen = new Set<number>();
    const work = [conflict];
    while (work.length > 0) {
      const c = work.pop()!;
      if (seen.has(c)) continue;
      seen.add(c);
      if (!info[c]) return true;
      for (const l of sat.clause(c)) {
        const reason = sat.reason[l >> 1];
        if (reason >= 0 && sat.level[l >> 1] === 0) work.push(reason);
      }
    }
    return false;
  }

  /** The failure needs several rules at once: list the original rules of the proof. */
  private combination(r: number, chain: ProblemStep[]): void {
    const { sat, info } = this.rules;
    const core = new Set<number>();
    const work = [r];
    while (work.length > 0 && core.size < 5000) {
      const c = work.pop()!;
      if (core.has(c)) continue;
      core.add(c);
      for (const from of sat.derivedFrom[c] ?? []) work.push(from);
      for (const l of sat.clause(c)) {
        const reason = sat.reason[l >> 1];
        if (reason >= 0 && sat.level[l >> 1] === 0) work.push(reason);
      }
    }
    const lines: string[] = [];
    for (const c of [...core].sort((a, b) => a - b)) {
      const why = info[c];
      if (!why || why.kind === 'locked') continue;
      const pkg = why.pkg !== undefined ? this.pool.get(why.pkg).name : undefined;
      const other = why.other !== undefined ? this.nameVersion(why.other) : undefined;
      const rel = why.relation ? this.relText(why.relation) : '';
      if (why.kind === 'request') lines.push(`requested ${rel}`);
      else if (why.kind === 'requires') lines.push(`${pkg} requires ${rel}`);
      else if (why.kind === 'conflicts') lines.push(`${pkg} conflicts with ${other ?? rel}`);
      else if (why.kind === 'obsoletes') lines.push(`${pkg} obsoletes ${other}`);
      else if (why.kind === 'same-name') lines.push(`only one of ${this.nameVersion(why.pkg!)} and ${other}`);
      else lines.push(`${this.nameVersion(why.pkg!)} is not installable here`);
    }
    const unique = [...new Set(lines)];
    const shown = unique.slice(0, 12).join('; ') + (unique.length > 12 ? `; and ${unique.length - 12} more` : '');
    this.emit('combination', chain, `these cannot all hold together: ${shown}`);
  }
}
