/**
 * What removing layered packages does to the rest, judged on the installed database with the backend's resolve model
 * (the same relations the solver uses): which layered packages would lose a dependency (dependents), and which
 * packages the solver pulled in are needed by nothing that stays (autoremove, as apt and dnf do). Base packages are
 * never candidates for removal; they count as needs-givers and as roots.
 */
import type { InstalledDatabase, PackageId } from './backend.js';
import type { LayeredRecord } from './discover/sysroot.js';
import { openRepositoryTarget } from './plugin.js';
import type { RepositoryBackend } from './repository.js';
import type { TreeReader } from './tree.js';
import { alternativesOf, formatRelation, isRich, Pool, type PoolPackage, type Relation } from './resolve/index.js';

export interface Dependent {
  package: PackageId;
  /** The removed package it needs, and the relation as written. */
  needs: PackageId;
  relation: string;
}

export interface RemovalPlan {
  /** Layered packages that need something removed (directly or through another dependent), in discovery order. */
  dependents: Dependent[];
  /** Pulled-in packages nothing that stays needs or recommends. */
  autoremove: PackageId[];
}

export interface RemovalInput {
  /** The resolve model of the tree's format (its plugin's repository side); no repository is read. */
  repositories: RepositoryBackend;
  tree: TreeReader;
  database: InstalledDatabase;
  /** Every layered package of the tree. */
  layered: LayeredRecord[];
  /** The layered packages to remove. */
  remove: PackageId[];
  /** Packages the user asked for that stay (name, version, arch joined by NUL): never autoremoved. */
  requested: Set<string>;
  /** Also count packages that depend on the removed ones as removed (and look further), as `apt remove` does. */
  cascade: boolean;
}

/** The identity the removal plan keys packages by (also what `requested` holds). */
export function packageKey(p: PackageId): string {
  return `${p.name}\0${p.version}\0${p.arch}`;
}
const key = packageKey;

export async function planRemoval(input: RemovalInput): Promise<RemovalPlan> {
  const rb = input.repositories;
  const target = await openRepositoryTarget(rb, input.tree, input.database);
  const pool = new Pool(await rb.poolOptions(target));
  for (const spec of await rb.installedSpecs(target)) pool.add(spec, true);
  const ids = new Map<string, number>();
  for (let id = 1; id <= pool.size; id++) ids.set(key(pool.get(id)), id);
  const layeredIds = new Set(input.layered.map((p) => ids.get(key(p))).filter((id): id is number => id !== undefined));
  const removed = new Set(input.remove.map((p) => ids.get(key(p))).filter((id): id is number => id !== undefined));

  const present = (id: number) => !removed.has(id);
  const dependents: Dependent[] = [];
  // A relation counts only when removing breaks it: one that was unmet before (a file dependency dpkg does not track,
  // say) is not this removal's doing.
  for (let changed = true; changed; ) {
    changed = false;
    for (const id of layeredIds) {
      if (removed.has(id)) continue;
      const pkg = pool.get(id);
      for (const relation of [...(pkg.preRequires ?? []), ...(pkg.requires ?? [])]) {
        if (satisfied(pool, relation, pkg, present) || !satisfied(pool, relation, pkg, () => true)) continue;
        const lost = alternativesOf(relation).flatMap((alt) => pool.whatProvides(alt, pkg)).find((p) => removed.has(p)) ?? id;
        dependents.push({ package: idOf(pkg), needs: idOf(pool.get(lost)), relation: formatRelation(relation, (a) => pool.formatAlternative(a)) });
        if (input.cascade) {
          removed.add(id);
          changed = true;
        }
        break;
      }
    }
    if (!input.cascade) break;
  }

  // Reachability from what stays: the base and every requested layered package, over requires and recommends. A
  // relation the base meets keeps no layered package alive; otherwise every layered provider that stays is kept.
  const kept = new Set<number>();
  const queue: number[] = [];
  const visit = (id: number) => {
    if (kept.has(id) || removed.has(id)) return;
    kept.add(id);
    queue.push(id);
  };
  for (let id = 1; id <= pool.size; id++) {
    if (!layeredIds.has(id) || input.requested.has(key(pool.get(id)))) visit(id);
  }
  while (queue.length > 0) {
    const pkg = pool.get(queue.pop()!);
    for (const relation of [...(pkg.preRequires ?? []), ...(pkg.requires ?? []), ...(pkg.recommends ?? [])]) {
      const providers = alternativesOf(relation).flatMap((alt) => pool.whatProvides(alt, pkg)).filter(present);
      if (!isRich(relation) && providers.some((p) => !layeredIds.has(p))) continue;
      for (const p of providers) if (layeredIds.has(p)) visit(p);
    }
  }
  const autoremove = [...layeredIds].filter((id) => !kept.has(id) && !removed.has(id)).map((id) => idOf(pool.get(id)));
  return { dependents, autoremove };
}

function idOf(p: PoolPackage): PackageId {
  return { name: p.name, version: p.version, arch: p.arch };
}

/** Whether `relation`, written by `pkg`, is met by the packages `present` accepts. */
function satisfied(pool: Pool, relation: Relation, pkg: PoolPackage, present: (id: number) => boolean): boolean {
  if (!isRich(relation)) return relation.some((alt) => pool.whatProvides(alt, pkg).some(present));
  switch (relation.op) {
    case 'atom':
      return pool.whatProvides(relation.alt, pkg).some(present);
    case 'and':
      return relation.args.every((r) => satisfied(pool, r, pkg, present));
    case 'or':
      return relation.args.some((r) => satisfied(pool, r, pkg, present));
    case 'if': {
      const cond = satisfied(pool, relation.cond, pkg, present);
      return cond ? satisfied(pool, relation.then, pkg, present) : relation.else ? satisfied(pool, relation.else, pkg, present) : true;
    }
    case 'unless': {
      const cond = satisfied(pool, relation.cond, pkg, present);
      return !cond ? satisfied(pool, relation.then, pkg, present) : relation.else ? satisfied(pool, relation.else, pkg, present) : true;
    }
    case 'with':
    case 'without':
      // One package must meet both sides (with) or the first and not the second; approximated by the first side.
      return satisfied(pool, relation.args[0], pkg, present);
  }
}
