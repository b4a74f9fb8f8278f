/**
 * The Debian dependency model for the generic solver: status and index entries as solver specs, Debian version
 * order, Multi-Arch rules for the pool, and the choices apt makes (candidate by pin priority then version; in an
 * "a | b" group the first alternative that can be installed; a real package before a virtual one; among several
 * providers the one apt's provider order puts first; dependencies met depth-first in apt's MarkInstall order).
 */
import { arch as hostArch } from 'node:os';
import type {
  Alternative, CandidateSpec, Download, InstalledDatabase, PackageSpec, PoolOptions, PoolPackage, Provide, Relation, RepositoryBackend, RepositoryTarget,
  SolverPolicy,
} from '@ostree-layer/core';
import { DpkgDatabase } from './database.js';
import { formatRelation as formatDebRelation, parseRelation, type Relation as DebRelation } from './dependencies.js';
import { openDebRepositories } from './repository/index.js';
import { F, type IndexRow } from './repository/packages-index.js';
import { compareDebVersions } from './version.js';

/** What a dpkg spec carries in `data`: the fields the pool rules and the policy read. */
export interface DebCandidate {
  multiArch?: string;
  essential?: boolean;
  /** The index's Priority field (required, important, standard, optional, extra). */
  priorityField?: string;
  summary?: string;
}

const OPS: Record<string, Alternative['op']> = { '<<': '<', '<=': '<=', '=': '=', '>=': '>=', '>>': '>' };

function toAlternative(r: DebRelation): Alternative {
  const alt: Alternative = { name: r.name };
  if (r.archQualifier) alt.arch = r.archQualifier;
  if (r.constraint) {
    alt.op = OPS[r.constraint.op];
    alt.version = r.constraint.version;
  }
  return alt;
}

/**
 * Parsed "a | b (>= 1)" groups, shared by text: thousands of packages write the same "libc6 (>= 2.34)", and the
 * pool caches provider lookups by Alternative identity, so sharing the objects makes both parsing and solving cheaper.
 */
const groupCache = new Map<string, Alternative[]>();

export function parseField(value: string | undefined): Relation[] {
  if (!value) return [];
  const out: Relation[] = [];
  for (const raw of value.split(',')) {
    const text = raw.trim();
    if (text === '') continue;
    let group = groupCache.get(text);
    if (!group) {
      group = text.split('|').map((t) => toAlternative(parseRelation(t)));
      groupCache.set(text, group);
    }
    out.push(group);
  }
  return out;
}

function parseProvides(value: string | undefined): Provide[] {
  if (!value) return [];
  return value
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => {
      const r = parseRelation(t);
      return { name: r.name, version: r.constraint?.op === '=' ? r.constraint.version : undefined };
    });
}

function buildSpec(get: (f: string) => string, data: DebCandidate, priority?: number): PackageSpec {
  const conflicts = parseField(get('Conflicts'));
  // A layered install never upgrades or removes anything, so Breaks acts exactly like Conflicts here.
  for (const b of parseField(get('Breaks'))) conflicts.push(b);
  const spec: PackageSpec = {
    name: get('Package'),
    version: get('Version'),
    arch: get('Architecture'),
    data,
  };
  const provides = parseProvides(get('Provides'));
  if (provides.length) spec.provides = provides;
  const requires = parseField(get('Depends'));
  if (requires.length) spec.requires = requires;
  const pre = parseField(get('Pre-Depends'));
  if (pre.length) spec.preRequires = pre;
  if (conflicts.length) spec.conflicts = conflicts;
  const recommends = parseField(get('Recommends'));
  if (recommends.length) spec.recommends = recommends;
  if (priority !== undefined) spec.priority = priority;
  return spec;
}

/** A repository candidate from a compact index row. */
export function specFromRow(row: IndexRow, data: DebCandidate, priority: number, download: Download): CandidateSpec {
  return { ...buildSpec((f) => row[F[f as keyof typeof F]] ?? '', data, priority), download };
}

const archFileCache = new WeakMap<DpkgDatabase, string[]>();

/** The database's `arch` file: every architecture dpkg was told about, the native one first. */
async function archFile(db: DpkgDatabase): Promise<string[]> {
  let listed = archFileCache.get(db);
  if (!listed) {
    const path = `${db.location}/arch`;
    const st = await db.tree.lstat(path);
    listed = st?.type === 'file' ? (await db.tree.readFile(path)).toString('utf8').split(/\s+/).filter(Boolean) : [];
    archFileCache.set(db, listed);
  }
  return listed;
}

/** dpkg's name for the host's architecture: only for a database that names none at all. */
function hostDebArch(): string {
  return ({ x64: 'amd64', ia32: 'i386', arm64: 'arm64', arm: 'armhf', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[hostArch()] ?? hostArch();
}

/**
 * The target's native architecture as `dpkg --print-architecture` inside the tree would say: the arch of the installed
 * dpkg package, else the first line of the `arch` file, else the arch most installed packages have.
 */
export async function debNativeArch(db: DpkgDatabase): Promise<string> {
  const records = db.records();
  const dpkg = records.find((r) => r.name === 'dpkg' && r.arch !== 'all');
  if (dpkg) return dpkg.arch;
  const listed = await archFile(db);
  if (listed.length > 0) return listed[0];
  const counts = new Map<string, number>();
  for (const r of records) if (r.arch && r.arch !== 'all') counts.set(r.arch, (counts.get(r.arch) ?? 0) + 1);
  const [common] = [...counts].sort((a, b) => b[1] - a[1]);
  return common?.[0] ?? hostDebArch();
}

/** Native architecture (the target's, see {@link RepositoryTarget.arch}) and foreign ones (the `arch` file). */
export async function debArchitectures(target: RepositoryTarget): Promise<{ native: string; foreign: string[] }> {
  const native = target.arch;
  return { native, foreign: (await archFile(asDpkg(target.database))).filter((a) => a !== native) };
}

function asDpkg(database: InstalledDatabase): DpkgDatabase {
  if (!(database instanceof DpkgDatabase)) throw new TypeError('the dpkg resolve model needs a database opened by the dpkg backend');
  return database;
}

const mult = (p: PoolPackage): string | undefined => (p.data as DebCandidate | undefined)?.multiArch;

export function debPoolOptions(native: string, foreign: string[]): PoolOptions {
  const runnable = new Set([native, ...foreign, 'all']);
  /** Debian: an unqualified dependency is met by the dependent's own arch, arch:all, or a Multi-Arch: foreign package. */
  const plain = (c: PoolPackage, dependentArch: string): boolean =>
    c.arch === 'all' || c.arch === dependentArch || mult(c) === 'foreign';
  return {
    compareVersions: compareDebVersions,
    installable: (p) => runnable.has(p.arch),
    archAllows(c, qualifier, dependent) {
      const depArch = !dependent || dependent.arch === 'all' ? native : dependent.arch;
      if (qualifier === undefined) return plain(c, depArch);
      if (qualifier === 'any') return mult(c) === 'allowed' || plain(c, depArch);
      if (qualifier === 'native') return c.arch === native || c.arch === 'all';
      return c.arch === qualifier || (c.arch === 'all' && qualifier === native);
    },
    mayCoexist: (a, b) => a.arch !== b.arch && mult(a) === 'same' && mult(b) === 'same' && a.version === b.version,
    formatAlternative: (alt) => {
      const rel: DebRelation = { name: alt.name };
      if (alt.arch) rel.archQualifier = alt.arch;
      if (alt.op && alt.version !== undefined) rel.constraint = { op: alt.op === '<' ? '<<' : alt.op === '>' ? '>>' : (alt.op as '<=' | '=' | '>='), version: alt.version };
      return formatDebRelation(rel);
    },
  };
}

const PRIORITY_RANK: Record<string, number> = { required: 5, important: 4, standard: 3, optional: 2, extra: 1 };

/**
 * apt's provider order (CompareProviders): Essential first, then the stronger Priority field; on a tie apt takes the
 * package its cache created last, which for one sorted index is the one listed later (zutty over xterm).
 */
function providerRank(p: PoolPackage): number {
  const d = p.data as DebCandidate | undefined;
  return (d?.essential ? 10 : 0) + (PRIORITY_RANK[d?.priorityField ?? ''] ?? 0);
}

export const debSolverPolicy: SolverPolicy = {
  // apt marks a package, then follows each of its Pre-Depends, Depends and Recommends (in that order, as its cache
  // lists them) into the chosen candidate before the next one, which decides which side of "a | b" it takes when
  // another path needs b too.
  order: 'depth-first',
  compareCandidates: (a, b) => (b.priority ?? 0) - (a.priority ?? 0) || compareDebVersions(b.version, a.version) || a.id - b.id,
  choose(groups, alternatives) {
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i];
      if (group.length === 0) continue;
      const real = group.find((p) => p.name === alternatives[i].name);
      if (real) return real;
      return [...group].sort((a, b) => providerRank(b) - providerRank(a) || b.id - a.id)[0];
    }
    return undefined;
  },
};

/** "htop", "libfoo:i386", "foo=1.2-3", "foo>=2" (no spaces) as a request. */
export function parseDebRequest(text: string): { name: string; op?: '<' | '<=' | '=' | '>=' | '>'; version?: string; arch?: string } {
  const m = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?(?:\s*(<<|<=|>=|>>|=|<|>)\s*(\S+))?$/i.exec(text.trim());
  if (!m) throw new TypeError(`"${text}" is not a package request (name, name:arch or name=version)`);
  const out: { name: string; op?: '<' | '<=' | '=' | '>=' | '>'; version?: string; arch?: string } = { name: m[1].toLowerCase() };
  if (m[2]) out.arch = m[2];
  if (m[3]) {
    out.op = m[3] === '<<' || m[3] === '<' ? '<' : m[3] === '>>' || m[3] === '>' ? '>' : (m[3] as '<=' | '=' | '>=');
    out.version = m[4];
  }
  return out;
}

export const dpkgRepositories: RepositoryBackend = {
  targetArch: ({ database }) => debNativeArch(asDpkg(database)),

  openRepositories: openDebRepositories,

  async installedSpecs({ database }) {
    const db = asDpkg(database);
    return db.records().map((r) => {
      const p = r.paragraph;
      const data: DebCandidate = { multiArch: p.get('Multi-Arch')?.trim(), essential: p.get('Essential')?.trim() === 'yes', priorityField: p.get('Priority')?.trim() };
      return buildSpec((f) => p.get(f)?.trim() ?? '', data);
    });
  },

  async poolOptions(target) {
    const { native, foreign } = await debArchitectures(target);
    return debPoolOptions(native, foreign);
  },

  solverPolicy: () => debSolverPolicy,

  parseRequest: parseDebRequest,
};
