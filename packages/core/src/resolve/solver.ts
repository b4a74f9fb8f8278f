/**
 * The solver: builds rules for the part of the pool the request reaches, then runs the CDCL core with decisions
 * taken the way package managers take them: first satisfy the requests, then the requirements of the chosen
 * packages, then — if enabled — recommendations, and finally leave everything else uninstalled, so that nothing
 * optional is pulled in. Which requirement comes next is the policy's `order`: libsolv's breadth-first (all
 * requirements in the order packages were chosen, then all recommendations) or apt's depth-first (see
 * depth-first.ts). Within a requirement, the backend's policy picks the candidate; conflicts found later are learned
 * and undone without losing completeness.
 */
import type { Pool, PoolPackage } from './pool.js';
import type { Alternative } from './relation.js';
import { isRich } from './relation.js';
import { buildRules, type Request, type RuleSet, type WeakRule } from './rules.js';
import { type DecisionSource, lit, litVar } from './sat.js';
import { DepthFirstWalk } from './depth-first.js';
import { explain, UnsatisfiableError } from './problem.js';
import { buildTransaction, type Transaction } from './transaction.js';

/** How the backend steers choices, so that ordinary answers match apt or dnf. */
export interface SolverPolicy {
  /**
   * Orders candidates for one name, best first (dpkg: pin priority, then highest version; rpm: highest EVR, best
   * arch). Default: `priority` descending, then version descending, then pool order.
   */
  compareCandidates?(a: PoolPackage, b: PoolPackage): number;
  /**
   * Picks the package to try for an unsatisfied dependency. `groups[i]` holds the still-possible candidates of
   * `alternatives[i]`, already ordered by {@link compareCandidates}. Default: the first alternative with a
   * candidate, a package of that very name before a virtual provider (what apt does).
   */
  choose?(groups: PoolPackage[][], alternatives: readonly Alternative[], dependent: PoolPackage | undefined): PoolPackage | undefined;
  /**
   * Which open requirement is met next; it decides which side of an "a | b" group is already met when the search
   * reaches it. `breadth-first` (default, libsolv): the requirements of every chosen package in the order packages
   * were chosen, then all recommendations. `depth-first` (apt's MarkInstall): a chosen package's pre-requires,
   * requires, then recommends, each followed into the chosen candidate's own before the next is looked at.
   */
  order?: 'breadth-first' | 'depth-first';
}

export interface SolveOptions {
  /** Install Recommends when installable (default true). */
  recommends?: boolean;
  policy?: SolverPolicy;
}

/**
 * Resolves `requests` against the pool with the installed base locked. Returns the packages to add in install order;
 * throws {@link UnsatisfiableError} (a ResolutionError) explaining the chain when no answer exists.
 */
export function solve(pool: Pool, requests: readonly Request[], options: SolveOptions = {}): Transaction {
  const withWeak = options.recommends !== false;
  const rules = buildRules(pool, requests, withWeak);
  const decisions = new PolicyDecisions(pool, rules, options.policy ?? {}, withWeak);
  const result = rules.sat.solve(decisions);
  if (!result.sat) throw new UnsatisfiableError(explain(pool, rules, result.conflict));
  const chosen = rules.vars.filter((v) => rules.sat.value[v] === 1 && !pool.get(v).installed);
  return buildTransaction(pool, chosen, requests, {
    variables: rules.vars.length,
    clauses: rules.sat.clauseCount,
    decisions: rules.sat.decisions,
    conflicts: rules.sat.conflicts,
  });
}

class PolicyDecisions implements DecisionSource {
  private scanRequires = 0;
  private scanWeak = 0;
  private scanRest = 0;
  private readonly open: number[] = [];
  private readonly compare: (a: PoolPackage, b: PoolPackage) => number;
  private readonly walk: DepthFirstWalk | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly rules: RuleSet,
    private readonly policy: SolverPolicy,
    private readonly withWeak: boolean,
  ) {
    const versions = pool.options.compareVersions;
    this.compare =
      policy.compareCandidates ??
      ((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || versions(b.version, a.version) || a.id - b.id);
    if (policy.order === 'depth-first') {
      this.walk = new DepthFirstWalk(pool, rules, withWeak, {
        decideRule: (ci) => this.decideRule(ci),
        decideWeak: (w) => this.decideWeak(w),
        prefer: (relation, vars, dependent) => (isRich(relation) ? this.best(vars) : this.choose(relation, vars, dependent)),
      });
    }
  }

  backjumped(): void {
    // Clauses seen satisfied before the conflict may have lost their satisfying literal: look again.
    this.scanRequires = 0;
    this.scanWeak = 0;
    this.scanRest = 0;
    this.walk?.reset();
  }

  next(): number {
    const { sat, triggered, weak, requestRules } = this.rules;
    // Every request is marked before any is followed (apt-get marks all named packages, then their dependencies).
    for (const ci of requestRules) {
      const d = this.decideRule(ci);
      if (d) return d;
    }
    if (this.walk) {
      // The scans below then only find rules the walk passed before they were due (rich conditions met later).
      const d = this.walk.next();
      if (d) return d;
    }
    const trail = sat.trail;
    for (; this.scanRequires < trail.length; this.scanRequires++) {
      const l = trail[this.scanRequires];
      if (l & 1) continue;
      for (const ci of triggered.get(litVar(l)) ?? []) {
        const d = this.decideRule(ci);
        if (d) return d;
      }
    }
    if (this.withWeak) {
      for (; this.scanWeak < trail.length; this.scanWeak++) {
        const l = trail[this.scanWeak];
        if (l & 1) continue;
        for (const w of weak.get(litVar(l)) ?? []) {
          const d = this.decideWeak(w);
          if (d) return d;
        }
      }
    }
    return this.rest();
  }

  /** Everything nothing asked for stays uninstalled. */
  private rest(): number {
    const { sat, vars } = this.rules;
    for (; this.scanRest < vars.length; this.scanRest++) {
      const v = vars[this.scanRest];
      if (sat.value[v] === 0) return lit(v, false);
    }
    return 0;
  }

  /** A decision for a hard rule whose premises all hold and that no literal satisfies yet; 0 when none is due. */
  private decideRule(ci: number): number {
    const { sat, info } = this.rules;
    const open = this.open;
    if (!sat.openPositives(ci, open)) return 0;
    const why = info[ci];
    const dependent = why?.pkg === undefined ? undefined : this.pool.get(why.pkg);
    if (why?.relation && !isRich(why.relation)) return lit(this.choose(why.relation, open, dependent), true);
    // Rich rules: the first open literal as written ("A if C else B" tries B before C).
    const first = why?.order?.find((l) => !(l & 1) && sat.value[litVar(l)] === 0);
    return first ?? lit(this.best(open), true);
  }

  private decideWeak(w: WeakRule): number {
    const open: number[] = [];
    for (const l of w.lits) {
      const val = this.rules.sat.litValue(l);
      if (val === 1) return 0;
      if (val === 0) {
        if (l & 1) return 0;
        open.push(litVar(l));
      }
    }
    if (open.length === 0) return 0;
    const dependent = this.pool.get(w.pkg);
    if (!isRich(w.relation)) return lit(this.choose(w.relation, open, dependent), true);
    return w.lits.find((l) => !(l & 1) && this.rules.sat.value[litVar(l)] === 0) ?? lit(this.best(open), true);
  }

  private best(open: number[]): number {
    return open.map((id) => this.pool.get(id)).sort(this.compare)[0].id;
  }

  private choose(alternatives: Alternative[], open: number[], dependent: PoolPackage | undefined): number {
    const allowed = new Set(open);
    const groups = alternatives.map((alt) =>
      this.pool
        .whatProvides(alt, dependent)
        .filter((id) => allowed.has(id))
        .map((id) => this.pool.get(id))
        .sort(this.compare),
    );
    const picked = this.policy.choose ? this.policy.choose(groups, alternatives, dependent) : defaultChoice(groups, alternatives);
    // A policy that declines (or picks something impossible) must not stall the search.
    return picked && allowed.has(picked.id) ? picked.id : this.best(open);
  }
}

function defaultChoice(groups: PoolPackage[][], alternatives: readonly Alternative[]): PoolPackage | undefined {
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i];
    if (group.length === 0) continue;
    return group.find((p) => p.name === alternatives[i].name) ?? group[0];
  }
  return undefined;
}
