/** Debian relationship fields (Depends, Conflicts, Replaces, Provides…) parsed into typed values. */
import type { PackageId } from '@ostree-layer/core';
import { compareDebVersions } from './version.js';

export type RelationOp = '<<' | '<=' | '=' | '>=' | '>>';

export interface VersionConstraint {
  op: RelationOp;
  version: string;
}

export interface Relation {
  name: string;
  /** ":any", ":native" or an architecture name after the package name, without the colon. */
  archQualifier?: string;
  constraint?: VersionConstraint;
  /** "[amd64 !i386]" restrictions as written (source-package fields only; kept for completeness). */
  archList?: string[];
  /** "<!nocheck>" build-profile restriction formulas as written. */
  profiles?: string[];
}

/** One comma-separated element: alternatives separated by "|" (only the first one of Provides etc. is meaningful). */
export type Alternatives = Relation[];

export const RELATION_FIELDS = [
  'Depends', 'Pre-Depends', 'Recommends', 'Suggests', 'Conflicts', 'Breaks', 'Replaces', 'Provides', 'Enhances',
] as const;
export type RelationField = (typeof RELATION_FIELDS)[number];

export class RelationSyntaxError extends Error {}

const RELATION = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^)\s<>=][^)\s]*)\s*\))?\s*(?:\[([^\]]*)\])?\s*((?:<[^>]*>\s*)*)$/i;

/** Parses one relation ("libc6:amd64 (>= 2.36) [amd64]"). The obsolete "<" and ">" mean "<=" and ">=" as in dpkg. */
export function parseRelation(text: string): Relation {
  const m = RELATION.exec(text.trim());
  if (!m) throw new RelationSyntaxError(`cannot parse relation "${text.trim()}"`);
  const rel: Relation = { name: m[1]! };
  if (m[2]) rel.archQualifier = m[2];
  if (m[3]) {
    const op = m[3] === '<' ? '<=' : m[3] === '>' ? '>=' : (m[3] as RelationOp);
    rel.constraint = { op, version: m[4]! };
  }
  if (m[5] !== undefined) rel.archList = m[5].trim().split(/\s+/).filter(Boolean);
  if (m[6]) rel.profiles = [...m[6].matchAll(/<([^>]*)>/g)].map((p) => p[1]!.trim());
  return rel;
}

/** Parses a whole field value ("a | b (>= 1), c:any"). An empty value gives []. */
export function parseRelationField(value: string | undefined): Alternatives[] {
  if (!value) return [];
  const out: Alternatives[] = [];
  for (const group of value.split(',')) {
    if (group.trim() === '') continue;
    out.push(group.split('|').map(parseRelation));
  }
  return out;
}

export function formatRelation(r: Relation): string {
  let s = r.name + (r.archQualifier ? `:${r.archQualifier}` : '');
  if (r.constraint) s += ` (${r.constraint.op} ${r.constraint.version})`;
  if (r.archList) s += ` [${r.archList.join(' ')}]`;
  if (r.profiles) s += r.profiles.map((p) => ` <${p}>`).join('');
  return s;
}

/** True when `version` meets the constraint (no constraint: always). */
export function satisfies(constraint: VersionConstraint | undefined, version: string): boolean {
  if (!constraint) return true;
  const c = compareDebVersions(version, constraint.version);
  switch (constraint.op) {
    case '<<': return c < 0;
    case '<=': return c <= 0;
    case '=': return c === 0;
    case '>=': return c >= 0;
    case '>>': return c > 0;
  }
}

/** Every relationship field of a control paragraph, parsed; absent fields are left out. */
export function parseRelations(get: (field: string) => string | undefined): Partial<Record<RelationField, Alternatives[]>> {
  const out: Partial<Record<RelationField, Alternatives[]>> = {};
  for (const f of RELATION_FIELDS) {
    const v = get(f);
    if (v !== undefined) out[f] = parseRelationField(v);
  }
  return out;
}

/**
 * dpkg lets a package overwrite another's file when its Replaces names the owner's package (not something the owner
 * Provides) with a version constraint the owner's version meets. An unqualified Replaces applies to every
 * architecture; a qualified one only to that architecture.
 */
export function replacesOwner(replaces: Alternatives[], owner: PackageId): boolean {
  for (const group of replaces) {
    for (const r of group) {
      if (r.name !== owner.name) continue;
      if (r.archQualifier && r.archQualifier !== 'any' && r.archQualifier !== owner.arch) continue;
      if (satisfies(r.constraint, owner.version)) return true;
    }
  }
  return false;
}
