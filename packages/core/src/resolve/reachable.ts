/**
 * The candidates a request can reach, found by name before any pool exists: from the requested names, every package
 * named so or providing the name, then the names in its pre-requires, requires and recommends, until nothing new
 * turns up. This is a superset of what the solver's rules make variables of (rules.ts follows the same relations
 * through version and arch checks), so a pool of just these packages gives the same answer as a pool of every
 * candidate, while a repository of 60k packages builds a few thousand specs.
 */
import type { PackageSpec } from './pool.js';
import { alternativesOf } from './relation.js';

export interface ReachableSource<T extends PackageSpec> {
  /** Positions (in the repository's own order) of the candidates named `name` or providing it. */
  candidatesNamed(name: string): Iterable<number>;
  /** The candidate at a position, or undefined for one the repository leaves out (foreign arch, duplicate). */
  specAt(position: number): T | undefined;
}

/** The reachable candidates in repository order (the order pool ids and so the solver's tie-breaks follow). */
export function reachableSpecs<T extends PackageSpec>(roots: Iterable<string>, source: ReachableSource<T>): T[] {
  const names = new Set<string>();
  const queue = [...roots];
  const found = new Map<number, T>();
  for (let q = 0; q < queue.length; q++) {
    const name = queue[q];
    if (names.has(name)) continue;
    names.add(name);
    for (const position of source.candidatesNamed(name)) {
      if (found.has(position)) continue;
      const spec = source.specAt(position);
      if (!spec) continue;
      found.set(position, spec);
      for (const list of [spec.preRequires, spec.requires, spec.recommends]) {
        for (const rel of list ?? []) for (const alt of alternativesOf(rel)) if (!names.has(alt.name)) queue.push(alt.name);
      }
    }
  }
  return [...found.keys()].sort((a, b) => a - b).map((position) => found.get(position)!);
}
