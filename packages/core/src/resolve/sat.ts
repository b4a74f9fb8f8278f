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
  /**
   * Every clause's literals live in one growing arena (offset and length per clause): a hundred thousand small
   * typed arrays would cost more in allocation and GC than the search itself.
   */
  private arena = new Int32Array(1 << 16);
  private arenaUsed = 0;
  private readonly clauseStart: number[] = [];
  private readonly clauseLength: number[] = [];
  /** For learned clauses: the clauses resolved to derive them. */
  readonly derivedFrom: (number[] | undefined)[] = [];
  private readonly trailLimits: number[] = [];
  /** Literal → clauses watching it; created on first use (most pool packages never appear in a clause). */
  private readonly watches: (number[] | undefined)[];
  private readonly units: number[] = [];
  private emptyClause = -1;
  private head = 0;
  private seen: Uint8Array;
  conflicts = 0;
  decisions = 0;

  constructor(readonly varCount: number) {
    this.value = new Int8Array(varCount + 1);
    this.level = new Int32Array(varCount + 1);
    this.reason = new Int32Array(varCount + 1).fill(-1);
    this.watches = new Array(2 * varCount + 2);
    this.seen = new Uint8Array(varCount + 1);
  }

  get clauseCount(): number {
    return this.clauseStart.length;
  }

  /** A clause's literals (a view: read it before the next clause is added). */
  clause(id: number): Int32Array {
    const start = this.clauseStart[id];
    return this.arena.subarray(start, start + this.clauseLength[id]);
  }

  /**
   * For decision making: when no literal of clause `id` is true and every negative literal is false (its premises
   * hold), fills `out` with the variables of its unassigned positive literals and returns true.
   */
  openPositives(id: number, out: number[]): boolean {
    out.length = 0;
    const s = this.clauseStart[id];
    const end = s + this.clauseLength[id];
    for (let k = s; k < end; k++) {
      const l = this.arena[k];
      const val = this.litValue(l);
      if (val === 1) return false;
      if (val === 0) {
        if (l & 1) return false;
        out.push(l >> 1);
      }
    }
    return out.length > 0;
  }

  private store(lits: ArrayLike<number>): number {
    if (this.arenaUsed + lits.length > this.arena.length) {
      const bigger = new Int32Array(Math.max(this.arena.length * 2, this.arenaUsed + lits.length));
      bigger.set(this.arena.subarray(0, this.arenaUsed));
      this.arena = bigger;
    }
    const id = this.clauseStart.length;
    this.clauseStart.push(this.arenaUsed);
    this.clauseLength.push(lits.length);
    for (let k = 0; k < lits.length; k++) this.arena[this.arenaUsed++] = lits[k];
    return id;
  }

  /** Adds an original clause before solving; returns its id. Duplicate literals must already be removed. */
  addClause(lits: number[]): number {
    const id = this.store(lits);
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
    const { watches, clauseStart, clauseLength } = this;
    const a = this.arena;
    while (this.head < this.trail.length) {
      const falseLit = this.trail[this.head++] ^ 1;
      const ws = watches[falseLit];
      if (!ws) continue;
      let i = 0;
      let j = 0;
      while (i < ws.length) {
        const ci: number = ws[i++];
        const s = clauseStart[ci];
        const end = s + clauseLength[ci];
        if (a[s] === falseLit) {
          a[s] = a[s + 1];
          a[s + 1] = falseLit;
        }
        const first = a[s];
        if (this.litValue(first) === 1) {
          ws[j++] = ci;
          continue;
        }
        let moved = false;
        for (let k = s + 2; k < end; k++) {
          if (this.litValue(a[k]) !== -1) {
            a[s + 1] = a[k];
            a[k] = falseLit;
            this.watch(a[s + 1], ci);
            moved = true;
            break;
          }
        }
        if (moved) continue;
        ws[j++] = ci;
        if (this.litValue(first) === -1) {
          while (i < ws.length) ws[j++] = ws[i++];
          ws.length = j;
          return ci;
        }
        this.assign(first, ci);
      }
      ws.length = j;
    }
    return -1;
  }

  /** First-UIP analysis: returns the learned clause (asserting literal first) and the backjump level. */
  private analyze(conflict: number): { learned: number[]; backLevel: number; from: number[] } {
    const seen = this.seen;
    const touched: number[] = [];
    const learned: number[] = [0];
    const from: number[] = [];
    const current = this.decisionLevel;
    let pending = 0;
    let index = this.trail.length - 1;
    let clause = conflict;
    let pivot = -1;
    for (;;) {
      from.push(clause);
      const s = this.clauseStart[clause];
      const end = s + this.clauseLength[clause];
      for (let k = s; k < end; k++) {
        const l = this.arena[k];
        const v = l >> 1;
        if (l === pivot || seen[v]) continue;
        seen[v] = 1;
        touched.push(v);
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
    for (const v of touched) seen[v] = 0;
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
      const l = this.arena[this.clauseStart[id]];
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
        const id = this.store(learned);
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
