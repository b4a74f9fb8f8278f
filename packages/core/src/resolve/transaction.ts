/**
 * The solver's answer: the packages to add, in an order where every package comes after what it requires
 * (pre-requirements first inside a dependency cycle), each with why it is there.
 */
import type { Pool, PoolPackage } from './pool.js';
import type { Relation } from './relation.js';
import { alternativesOf } from './relation.js';
import type { Request } from './rules.js';

export type InstallReason = 'request' | 'dependency' | 'recommends';

export interface TransactionStep {
  package: PoolPackage;
  reason: InstallReason;
  /** The package whose relation pulled this one in (absent for requests). */
  requiredBy?: PoolPackage;
}

export interface Transaction {
  /** Packages to install, dependencies before their dependents. */
  install: TransactionStep[];
  /** Requests that an installed base package already satisfies (nothing to do for them). */
  satisfiedByBase: Request[];
  /** Search statistics, for benchmarks and `--verbose`. */
  stats: { variables: number; clauses: number; decisions: number; conflicts: number };
}

interface Edge {
  to: number;
  pre: boolean;
  weak: boolean;
}

export function buildTransaction(
  pool: Pool,
  chosen: readonly number[],
  requests: readonly Request[],
  stats: Transaction['stats'],
): Transaction {
  const inSet = new Set(chosen);
  const edges = new Map<number, Edge[]>();
  for (const id of chosen) {
    const p = pool.get(id);
    const out: Edge[] = [];
    const link = (rels: Relation[] | undefined, pre: boolean, weak: boolean): void => {
      for (const rel of rels ?? []) {
        // A relation the base meets puts no order on the new packages (and must not invent cycles).
        if (Array.isArray(rel) && rel.some((alt) => pool.whatProvides(alt, p).some((q) => pool.get(q).installed))) continue;
        for (const alt of alternativesOf(rel)) {
          for (const q of pool.whatProvides(alt, p)) if (q !== id && inSet.has(q)) out.push({ to: q, pre, weak });
        }
      }
    };
    link(p.preRequires, true, false);
    link(p.requires, false, false);
    link(p.recommends, false, true);
    edges.set(id, out);
  }

  const satisfiedByBase: Request[] = [];
  const reason = new Map<number, TransactionStep>();
  const queue: number[] = [];
  for (const r of requests) {
    const providers = pool.whatProvides(r);
    const mine = providers.filter((id) => inSet.has(id));
    if (mine.length === 0 && providers.some((id) => pool.get(id).installed)) satisfiedByBase.push(r);
    for (const id of mine) {
      if (reason.has(id)) continue;
      reason.set(id, { package: pool.get(id), reason: 'request' });
      queue.push(id);
    }
  }
  // Hard edges first, so a package both required and recommended is reported as required.
  for (const followWeak of [false, true]) {
    if (followWeak) for (const id of reason.keys()) queue.push(id);
    for (let i = 0; i < queue.length; i++) {
      for (const e of edges.get(queue[i]) ?? []) {
        if (reason.has(e.to) || (e.weak && !followWeak)) continue;
        reason.set(e.to, { package: pool.get(e.to), reason: e.weak ? 'recommends' : 'dependency', requiredBy: pool.get(queue[i]) });
        queue.push(e.to);
      }
    }
    queue.length = 0;
  }
  // Anything left came in through a rich condition or a weak chain we did not follow: call it a dependency.
  for (const id of chosen) if (!reason.has(id)) reason.set(id, { package: pool.get(id), reason: 'dependency' });

  const order = installOrder(pool, chosen, edges);
  return { install: order.map((id) => reason.get(id)!), satisfiedByBase, stats };
}

/**
 * Tarjan's strongly connected components over the hard dependency edges: components come out with their
 * dependencies before them. Inside a cycle, members are ordered by a walk that follows pre-requirement edges first.
 */
function installOrder(pool: Pool, chosen: readonly number[], edges: Map<number, Edge[]>): number[] {
  const ids = [...chosen].sort((a, b) => compareNames(pool.get(a), pool.get(b)));
  // Package ids are dense: typed arrays beat maps here (a thousand-package answer is ordered in a few ms).
  const index = new Int32Array(pool.packages.length).fill(-1);
  const low = new Int32Array(pool.packages.length);
  const onStack = new Uint8Array(pool.packages.length);
  const stack: number[] = [];
  const result: number[] = [];
  let counter = 0;
  for (const root of ids) {
    if (index[root] >= 0) continue;
    // Iterative DFS: frames of (node, next edge position).
    const frames: [number, number][] = [[root, 0]];
    index[root] = counter;
    low[root] = counter++;
    stack.push(root);
    onStack[root] = 1;
    while (frames.length > 0) {
      const frame = frames[frames.length - 1];
      const [node, pos] = frame;
      const out = edges.get(node) ?? [];
      if (pos < out.length) {
        frame[1]++;
        if (out[pos].weak) continue;
        const next = out[pos].to;
        if (index[next] < 0) {
          index[next] = counter;
          low[next] = counter++;
          stack.push(next);
          onStack[next] = 1;
          frames.push([next, 0]);
        } else if (onStack[next]) low[node] = Math.min(low[node], index[next]);
        continue;
      }
      frames.pop();
      if (frames.length > 0) {
        const parent = frames[frames.length - 1][0];
        low[parent] = Math.min(low[parent], low[node]);
      }
      if (low[node] === index[node]) {
        const component: number[] = [];
        let member: number;
        do {
          member = stack.pop()!;
          onStack[member] = 0;
          component.push(member);
        } while (member !== node);
        result.push(...orderCycle(pool, component, edges));
      }
    }
  }
  return result;
}

function orderCycle(pool: Pool, component: number[], edges: Map<number, Edge[]>): number[] {
  if (component.length === 1) return component;
  const members = new Set(component);
  const preTargets = new Set<number>();
  for (const id of component) for (const e of edges.get(id) ?? []) if (e.pre && members.has(e.to)) preTargets.add(e.to);
  // The walk starts where it ends up last: start from packages nothing pre-requires.
  const sorted = component.sort(
    (a, b) => Number(preTargets.has(a)) - Number(preTargets.has(b)) || compareNames(pool.get(a), pool.get(b)),
  );
  const done = new Set<number>();
  const out: number[] = [];
  // Post-order DFS inside the cycle, pre-requirement edges first: the walk breaks the cycle at the edge where it
  // meets itself, so that edge is the only one not honoured, and a pre-requirement only when no other can be cut.
  const visit = (id: number, path: Set<number>): void => {
    if (done.has(id) || path.has(id)) return;
    path.add(id);
    const next = (edges.get(id) ?? []).filter((e) => !e.weak && members.has(e.to));
    for (const e of next) if (e.pre) visit(e.to, path);
    for (const e of next) if (!e.pre) visit(e.to, path);
    path.delete(id);
    done.add(id);
    out.push(id);
  };
  for (const id of sorted) visit(id, new Set());
  return out;
}

function compareNames(a: PoolPackage, b: PoolPackage): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id;
}
