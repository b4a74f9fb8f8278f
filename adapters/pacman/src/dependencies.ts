/**
 * pacman's dependency strings ("libfoo>=2.0", "sh", "greeter=1.0" in provides, "python: for the scripts" in
 * optdepends) parsed into typed values, and libalpm's rule for when a package or one of its provisions satisfies one.
 */
import type { PackageId } from '@ostree-layer/core';
import { comparePacmanVersions } from './version.js';

export type DepOp = '<' | '<=' | '=' | '>=' | '>';

export interface PacmanDep {
  name: string;
  op?: DepOp;
  version?: string;
  /** optdepends: the text after "name: ". */
  description?: string;
}

export class DepSyntaxError extends Error {}

const DEP = /^([^<>=:\s]+)(?:(<=|>=|<|>|=)([^<>=\s]+))?(?::\s*(.*))?$/;

/** Parses one depend, provides, conflict or replaces entry (libalpm's alpm_dep_from_string). */
export function parseDep(text: string): PacmanDep {
  const m = DEP.exec(text.trim());
  if (!m) throw new DepSyntaxError(`cannot parse dependency "${text.trim()}"`);
  const dep: PacmanDep = { name: m[1]! };
  if (m[2]) {
    dep.op = m[2] as DepOp;
    dep.version = m[3]!;
  }
  if (m[4] !== undefined) dep.description = m[4];
  return dep;
}

export function formatDep(dep: PacmanDep): string {
  return dep.name + (dep.op ? `${dep.op}${dep.version}` : '') + (dep.description !== undefined ? `: ${dep.description}` : '');
}

/** True when `version` meets the dependency's constraint (none: always), compared as alpm_pkg_vercmp compares. */
export function versionSatisfies(dep: PacmanDep, version: string): boolean {
  if (!dep.op) return true;
  const c = comparePacmanVersions(version, dep.version!);
  switch (dep.op) {
    case '<': return c < 0;
    case '<=': return c <= 0;
    case '=': return c === 0;
    case '>=': return c >= 0;
    case '>': return c > 0;
  }
}

/** What a package offers to dependency resolution: its own name and version, and its provides. */
export interface Provider extends PackageId {
  provides: PacmanDep[];
}

/**
 * libalpm's _alpm_depcmp: the package itself by name and version, or a provision of the same name; an unversioned
 * provision satisfies only an unversioned dependency, a versioned one is compared with its own version.
 */
export function satisfiesDep(pkg: Provider, dep: PacmanDep): boolean {
  if (pkg.name === dep.name && versionSatisfies(dep, pkg.version)) return true;
  for (const p of pkg.provides) {
    if (p.name !== dep.name) continue;
    if (!dep.op) return true;
    if (p.op === '=' && p.version !== undefined && versionSatisfies(dep, p.version)) return true;
  }
  return false;
}

/** The dependencies of `pkg` that nothing in `available` satisfies, as written. */
export function unmetDependencies(depends: PacmanDep[], available: Provider[]): PacmanDep[] {
  return depends.filter((dep) => !available.some((p) => satisfiesDep(p, dep)));
}
