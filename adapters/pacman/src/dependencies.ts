/**
 * pacman's dependency strings ("libfoo>=2.0", "sh", "greeter=1.0" in provides, "python: for the scripts" in
 * optdepends) parsed into typed values, and libalpm's rule for when a package or one of its provisions satisfies one.
 */
import type { Alternative, PackageId, PackageSpec } from '@ostree-layer/core';
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

/** A package of a transaction as the checks below see it. */
export interface TransactionPackage extends Provider {
  depends: PacmanDep[];
  conflicts: PacmanDep[];
  /** Where it comes from, for messages (a package file, or "the deployment"). */
  origin: string;
}

const label = (p: PackageId) => `${p.name} ${p.version}`;

/**
 * What `pacman -U` checks before it changes anything, on the installed packages plus the new ones: every depend of a
 * new package is met by some package of the result, and no package of the result declares a conflict with another
 * (pacman would offer to remove the installed one; base packages cannot go, so it is a refusal). Returns the problems
 * as sentences; empty when the transaction is sound.
 */
export function transactionProblems(installed: TransactionPackage[], added: TransactionPackage[]): string[] {
  const result = [...installed.filter((i) => !added.some((a) => a.name === i.name)), ...added];
  const problems: string[] = [];
  for (const pkg of added) {
    for (const dep of unmetDependencies(pkg.depends, result)) {
      problems.push(`${label(pkg)} (${pkg.origin}) depends on ${formatDep(dep)}, which neither the deployment nor the other package files provide; add a package file that provides it`);
    }
  }
  for (const pkg of result) {
    for (const dep of pkg.conflicts) {
      for (const other of result) {
        if (other.name === pkg.name || !satisfiesDep(other, dep)) continue;
        if (!added.includes(pkg) && !added.includes(other)) continue;
        problems.push(`${label(pkg)} (${pkg.origin}) conflicts with ${label(other)} (${other.origin}): it declares "${formatDep(dep)}"`);
      }
    }
  }
  return problems;
}

const alternative = (dep: PacmanDep): Alternative => (dep.op ? { name: dep.name, op: dep.op, version: dep.version } : { name: dep.name });

/** A package in the solver's terms: its depends as requirements, its versioned provisions with their version. */
export function packageSpec(pkg: Provider & { depends: PacmanDep[]; conflicts: PacmanDep[] }): PackageSpec {
  return {
    name: pkg.name,
    version: pkg.version,
    arch: pkg.arch,
    provides: pkg.provides.map((p) => (p.op === '=' ? { name: p.name, version: p.version } : { name: p.name })),
    requires: pkg.depends.map((d) => [alternative(d)]),
    conflicts: pkg.conflicts.map((d) => [alternative(d)]),
  };
}
