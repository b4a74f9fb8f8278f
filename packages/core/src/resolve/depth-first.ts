/**
 * apt's decision order (pkgDepCache::MarkInstall): a package is marked, then its dependencies are taken one by one
 * in the order apt's cache lists them — Pre-Depends, Depends, then Recommends — and each one not met yet gets a
 * candidate that is itself marked and followed completely before the next dependency is looked at. A dependency
 * already met by a marked or installed package is skipped. The order matters for "a | b": with breadth-first
 * order another package's "b" may already be chosen when the group is reached, while apt reaches the group first
 * and takes "a". For the same reason a package the core made true by unit propagation counts as chosen only once
 * the walk reaches it: until then apt has not marked it, and a group it would meet still takes its first choice.
 *
 * The walk keeps an explicit stack (dependency chains run thousands deep). It is a decision order only: the CDCL
 * core still propagates, learns and backjumps; after a backjump the walk starts over from the requests, which
 * replays the kept decisions in the same order.
 */
import type { Pool, PoolPackage } from './pool.js';
import { isRich, type Relation } from './relation.js';
import type { RuleSet, WeakRule } from './rules.js';
import { lit, litVar } from './sat.js';

/** What the walk needs from the solver's policy. */
export interface WalkChoices {
  /** The decision for an open hard rule (0 when it is not due). */
  decideRule(ci: number): number;
  /** The decision for an open recommendation (0 when it is not due). */
  decideWeak(w: WeakRule): number;
  /** Among several true packages meeting `relation`, the one the policy would have chosen. */
  prefer(relation: Relation, vars: number[], dependent: PoolPackage | undefined): number;
}

interface Frame {
  pkg: number;
  /** Index into the package's hard rules, then past them into its weak ones. */
  at: number;
  hard: readonly number[];
  weak: readonly WeakRule[];
}

const NONE: readonly never[] = [];

export class DepthFirstWalk {
  private readonly marked: Uint8Array;
  private readonly markedList: number[] = [];
  private readonly stack: Frame[] = [];
  private rootAt = 0;
  /** Packages made true by propagation that no chain reached (rare): followed after the requests' chains. */
  private sweepAt = 0;
  private readonly candidates: number[] = [];

  constructor(
    private readonly pool: Pool,
    private readonly rules: RuleSet,
    private readonly withWeak: boolean,
    private readonly choices: WalkChoices,
  ) {
    this.marked = new Uint8Array(pool.packages.length);
  }

  reset(): void {
    for (const v of this.markedList) this.marked[v] = 0;
    this.markedList.length = 0;
    this.stack.length = 0;
    this.rootAt = 0;
    this.sweepAt = 0;
  }

  /** The next decision in depth-first order, or 0 when every chosen package's dependencies are met. */
  next(): number {
    const { requestRules, info, sat } = this.rules;
    for (;;) {
      const frame = this.stack[this.stack.length - 1];
      if (frame) {
        const d = this.step(frame);
        if (d) return d;
        continue;
      }
      if (this.rootAt < requestRules.length) {
        const ci = requestRules[this.rootAt];
        const d = this.visit(ci, sat.clause(ci), info[ci]?.relation, undefined);
        if (d > 0) return d;
        this.rootAt++;
        if (d < 0) this.enter(-d);
        continue;
      }
      if (this.sweepAt < sat.trail.length) {
        const l = sat.trail[this.sweepAt++];
        const v = litVar(l);
        if (!(l & 1) && !this.marked[v] && !this.pool.get(v).installed) this.enter(v);
        continue;
      }
      return 0;
    }
  }

  private enter(v: number): void {
    this.marked[v] = 1;
    this.markedList.push(v);
    this.stack.push({ pkg: v, at: 0, hard: this.rules.triggered.get(v) ?? NONE, weak: this.withWeak ? (this.rules.weak.get(v) ?? NONE) : NONE });
  }

  /**
   * Looks at the frame's current dependency: returns a decision when apt would pick a package not chosen yet (the
   * frame stays on it, so the next call follows the chosen package), enters the true package it picks, or moves on.
   */
  private step(frame: Frame): number {
    const { hard, weak } = frame;
    if (frame.at >= hard.length + weak.length) {
      this.stack.pop();
      return 0;
    }
    const dependent = this.pool.get(frame.pkg);
    const d =
      frame.at < hard.length
        ? this.visit(hard[frame.at], this.rules.sat.clause(hard[frame.at]), this.rules.info[hard[frame.at]]?.relation, dependent)
        : this.visit(weak[frame.at - hard.length], weak[frame.at - hard.length].lits, weak[frame.at - hard.length].relation, dependent);
    if (d > 0) return d;
    frame.at++;
    if (d < 0) this.enter(-d);
    return 0;
  }

  /**
   * One dependency as apt sees it: met when a marked or installed package meets it (skipped, as apt skips it).
   * Otherwise apt picks among every candidate not ruled out — including one the core already made true by
   * propagation, which apt would not have marked yet — so a group "a | b" whose b is only implied still takes a.
   * Returns a decision (> 0), the negated true package to follow (< 0), or 0 to move on.
   */
  private visit(rule: number | WeakRule, lits: ArrayLike<number>, relation: Relation | undefined, dependent: PoolPackage | undefined): number {
    if (!relation || isRich(relation)) {
      // Rich rules keep the plain behaviour (their written order lives with the solver): decide when open.
      const d = typeof rule === 'number' ? this.choices.decideRule(rule) : this.choices.decideWeak(rule);
      if (d) return d;
    }
    const { sat } = this.rules;
    const candidates = this.candidates;
    candidates.length = 0;
    for (let k = 0; k < lits.length; k++) {
      const l = lits[k];
      const val = sat.litValue(l);
      if (val === -1) continue;
      // A true condition meets the rule; an unassigned one means it is not due yet (rich rules only).
      if (l & 1) return 0;
      const v = litVar(l);
      if (val === 1 && (this.marked[v] || this.pool.get(v).installed)) return 0;
      candidates.push(v);
    }
    if (candidates.length === 0) return 0;
    const picked = candidates.length === 1 || !relation ? candidates[0] : this.choices.prefer(relation, [...candidates], dependent);
    return sat.value[picked] === 1 ? -picked : lit(picked, true);
  }
}
