/**
 * A conflict-driven clause-learning SAT core: two watched literals, first-UIP learning, non-chronological
 * backjumping. It has no heuristics of its own: the caller decides which literal to try next, so that package policy
 * (pins, alternative order, minimal installs) stays in solver.ts. Learned clauses are never deleted, which keeps
 * the search complete whatever the caller decides, and each records the clauses it was derived from so that an
 * unsatisfiable result can be traced back to the original rules for the explanation.
 *
 * Literals: variable v ≥ 1 is `2v` when true and `2v + 1` when false.
 */

export const lit = (v: number, positive: boolean): number => (v << 1) | (positive ? 0 : 1);
export const litVar = (l: number): number => l >> 1;
export const litPositive = (l: number): boolean => (l & 1) === 0;

export interface DecisionSource {
  /** The next literal to make true, or 0 when every variable is assigned. */
  next(): number;
  /** The trail was cut back to `length` entries (after a conflict). */
  backjumped(length: number): void;
}

export type SatResult = { sat: true } | { sat: false; conflict: number };

export class Sat {
  /** Per variable: 0 unassigned, 1 true, -1 false. */
  readonly value: Int8Array;
  readonly level: Int32Array;
  /** Clause that implied the variable, or -1 for decisions and unassigned variables. */
  readonly reason: Int32Array;
  readonly trail: number[] = [];
  readonly clauses: Int32Array[] = [];
  /** For learned clauses: the clauses resolved to derive them. */
  readonly derivedFrom: (number[] | undefined)[] = [];
  private readonly trailLimits: number[] = [];
  /** Literal → clauses watching it; created on first use (most pool packages never appear in a clause). */
  private readonly watches: (number[] | undefined)[];
  private readonly units: number[] = [];
  private emptyClause = -1;
  private head = 0;
  conflicts = 0;
  decisions = 0;

  constructor(readonly varCount: number) {
    this.value = new Int8Array(varCount + 1);
    this.level = new Int32Array(varCount + 1);
    this.reason = new Int32Array(varCount + 1).fill(-1);
    this.watches = new Array(2 * varCount + 2);
  }

  /** Adds an original clause before solving; returns its id. Duplicate literals must already be removed. */
  addClause(lits: number[]): number {
    const id = this.clauses.length;
    this.clauses.push(Int32Array.from(lits));
    this.derivedFrom.push(undefined);
    if (lits.length === 0) {
      if (this.emptyClause < 0) this.emptyClause = id;
    } else if (lits.length === 1) this.units.push(id);
    else {
      this.watch(lits[0], id);
      this.watch(lits[1], id);
    }
    return id;
  }

  private watch(l: number, clause: number): void {
    const list = this.watches[l];
    if (list) list.push(clause);
    else this.watches[l] = [clause];
  }

  litValue(l: number): number {
    const v = this.value[l >> 1];
    return l & 1 ? -v : v;
  }

  get decisionLevel(): number {
    return this.trailLimits.length;
  }

  private assign(l: number, reason: number): void {
    const v = l >> 1;
    this.value[v] = l & 1 ? -1 : 1;
    this.level[v] = this.trailLimits.length;
    this.reason[v] = reason;
    this.trail.push(l);
  }

  /** Unit propagation; returns the id of a falsified clause, or -1. */
  private propagate(): number {
    const { clauses, watches } = this;
    while (this.head < this.trail.length) {
      const falseLit = this.trail[this.head++] ^ 1;
      const ws = watches[falseLit];
      if (!ws) continue;
      let i = 0;
      let j = 0;
      while (i < ws.length) {
        const ci = ws[i++];
        const c = clauses[ci];
        if (c[0] === falseLit) {
          c[0] = c[1];
          c[1] = falseLit;
        }
        if (this.litValue(c[0]) === 1) {
          ws[j++] = ci;
          continue;
        }
        let moved = false;
        for (let k = 2; k < c.length; k++) {
          if (this.litValue(c[k]) !== -1) {
            c[1] = c[k];
            c[k] = falseLit;
            this.watch(c[1], ci);
            moved = true;
            break;
          }
        }
        if (moved) continue;
        ws[j++] = ci;
        if (this.litValue(c[0]) === -1) {
          while (i < ws.length) ws[j++] = ws[i++];
          ws.length = j;
          return ci;
        }
        this.assign(c[0], ci);
      }
      ws.length = j;
    }
    return -1;
  }

  /** First-UIP analysis: returns the learned clause (asserting literal first) and the backjump level. */
  private analyze(conflict: number): { learned: number[]; backLevel: number; from: number[] } {
    const seen = new Uint8Array(this.varCount + 1);
    const learned: number[] = [0];
    const from: number[] = [];
    const current = this.decisionLevel;
    let pending = 0;
    let index = this.trail.length - 1;
    let clause = conflict;
    let pivot = -1;
    for (;;) {
      from.push(clause);
      const c = this.clauses[clause];
      for (let k = 0; k < c.length; k++) {
        const l = c[k];
        const v = l >> 1;
        if (l === pivot || seen[v]) continue;
        seen[v] = 1;
        if (this.level[v] === current) pending++;
        else if (this.level[v] > 0) learned.push(l);
        // Level-0 literals are permanently false: dropped, but their reasons stay reachable for explanations.
      }
      while (!seen[this.trail[index] >> 1]) index--;
      pivot = this.trail[index];
      index--;
      pending--;
      if (pending <= 0) break;
      clause = this.reason[pivot >> 1];
    }
    learned[0] = pivot ^ 1;
    let backLevel = 0;
    let at = 1;
    for (let k = 1; k < learned.length; k++) {
      const lv = this.level[learned[k] >> 1];
      if (lv > backLevel) {
        backLevel = lv;
        at = k;
      }
    }
    if (learned.length > 1) [learned[1], learned[at]] = [learned[at], learned[1]];
    return { learned, backLevel, from };
  }

  private backjump(level: number): void {
    if (this.decisionLevel <= level) return;
    const keep = this.trailLimits[level];
    for (let k = this.trail.length - 1; k >= keep; k--) {
      const v = this.trail[k] >> 1;
      this.value[v] = 0;
      this.reason[v] = -1;
    }
    this.trail.length = keep;
    this.trailLimits.length = level;
    this.head = keep;
  }

  solve(decisions: DecisionSource): SatResult {
    if (this.emptyClause >= 0) return { sat: false, conflict: this.emptyClause };
    for (const id of this.units) {
      const l = this.clauses[id][0];
      const val = this.litValue(l);
      if (val === -1) return { sat: false, conflict: id };
      if (val === 0) this.assign(l, id);
    }
    for (;;) {
      const conflict = this.propagate();
      if (conflict >= 0) {
        this.conflicts++;
        if (this.decisionLevel === 0) return { sat: false, conflict };
        const { learned, backLevel, from } = this.analyze(conflict);
        this.backjump(backLevel);
        decisions.backjumped(this.trail.length);
        const id = this.clauses.length;
        this.clauses.push(Int32Array.from(learned));
        this.derivedFrom.push(from);
        if (learned.length > 1) {
          this.watch(learned[0], id);
          this.watch(learned[1], id);
        }
        this.assign(learned[0], id);
        continue;
      }
      const next = decisions.next();
      if (next === 0) return { sat: true };
      if (this.value[next >> 1] !== 0) throw new Error(`solver decided an assigned variable ${next >> 1}`);
      this.decisions++;
      this.trailLimits.push(this.trail.length);
      this.assign(next, -1);
    }
  }
}
