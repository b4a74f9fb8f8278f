/**
 * rpm's dependency model in the shared solver's terms: relations (plain, rich, file, rpmlib()), the installed rpmdb
 * as locked specs, rpm's version matching, multilib architecture rules, and a candidate policy that follows libsolv
 * as dnf configures it (highest EVR, best arch; among different providers, the name libsolv would sort first).
 */
import { arch as hostArch } from 'node:os';
import type {
  Alternative, InstalledDatabase, PackageSpec, PoolOptions, PoolPackage, Provide, Relation, RelationOp, RichRelation, SolverPolicy, TreeReader,
} from '@ostree-layer/core';
import { UsageError } from '@ostree-layer/core';
import type { RpmDatabase } from './database.js';
import { readDependencies, rpmlibSatisfies, type Operator, type RichDependency, type RpmDependency } from './dependencies.js';
import { Tag, type RpmHeader } from './header.js';
import { compareEvr, compareEvrStrings, parseEvr } from './version.js';

/** A dependency as both sources (header, rpm-md) give it. */
export interface DependencyLike {
  name: string;
  operator?: Operator;
  op?: Operator;
  version?: string;
  rich?: RichDependency;
}

/** Arches each system arch can run, best first (rpm's arch compatibility, what dnf's libsolv uses for scores). */
const COMPATIBLE: Record<string, string[]> = {
  x86_64: ['x86_64', 'noarch', 'athlon', 'i686', 'i586', 'i486', 'i386'],
  i686: ['i686', 'noarch', 'i586', 'i486', 'i386'],
  aarch64: ['aarch64', 'noarch'],
  ppc64le: ['ppc64le', 'noarch'],
  s390x: ['s390x', 'noarch'],
  riscv64: ['riscv64', 'noarch'],
};
/** ELF colour per arch: 64-bit and 32-bit builds of one name may be installed together (multilib). */
const COLOR: Record<string, number> = { x86_64: 2, i386: 1, i486: 1, i586: 1, i686: 1, athlon: 1, ppc64: 2, ppc: 1, s390x: 2, s390: 1 };

/** rpm's name for the host's architecture: only for a target whose database and configuration name none. */
function hostRpmArch(): string {
  return ({ x64: 'x86_64', ia32: 'i686', arm64: 'aarch64', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[hostArch()] ?? hostArch();
}

/** `/etc/rpm/platform` ("aarch64-redhat-linux-gnu"), which overrides rpm's own guess, in the tree (/usr/etc first). */
async function platformArch(tree: TreeReader): Promise<string | undefined> {
  for (const path of ['/usr/etc/rpm/platform', '/etc/rpm/platform']) {
    const st = await tree.lstat(path).catch(() => null);
    if (st?.type !== 'file') continue;
    const first = (await tree.readFile(path)).toString('utf8').trim().split(/\s+/)[0] ?? '';
    const arch = first.split('-')[0];
    if (arch) return arch;
  }
  return undefined;
}

/**
 * The arch the target is built for, as rpm inside it would see it: `/etc/rpm/platform` when present, else the arch of
 * the installed rpm package, else the most common arch of the installed packages (noarch aside).
 */
export async function targetArchOf(tree: TreeReader, database: InstalledDatabase): Promise<string> {
  const platform = await platformArch(tree);
  if (platform) return platform;
  const packages = await database.packages();
  const rpm = packages.find((p) => p.name === 'rpm' && p.arch !== 'noarch');
  if (rpm) return rpm.arch;
  const counts = new Map<string, number>();
  for (const p of packages) {
    if (p.arch === 'noarch' || p.arch === '(none)' || !(p.arch in COMPATIBLE)) continue;
    counts.set(p.arch, (counts.get(p.arch) ?? 0) + 1);
  }
  let best: string | undefined;
  for (const [arch, n] of counts) if (best === undefined || n > counts.get(best)!) best = arch;
  return best ?? hostRpmArch();
}

function altOf(name: string, op: Operator | undefined, version: string | undefined): Alternative {
  return op && version !== undefined ? { name, op: op as RelationOp, version } : { name };
}

function leadName(node: RichDependency): string {
  if (node.op === 'atom') return node.name;
  return leadName('operands' in node ? node.operands[0] : node.left);
}

function richOf(node: RichDependency): RichRelation {
  switch (node.op) {
    case 'atom':
      return { op: 'atom', alt: altOf(node.name, node.operator, node.version) };
    case 'and':
      return { op: node.op, args: node.operands.map(richOf) };
    case 'or':
      // The solver tries "or" operands as written; libsolv sorts the candidates by name. Sorting the operands by
      // the name they start with gives libsolv's (and so dnf's) choice for the usual "(a or b)".
      return { op: node.op, args: [...node.operands].sort((a, b) => byName(leadName(a), leadName(b))).map(richOf) };
    case 'with':
    case 'without':
      return { op: node.op, args: [richOf(node.operands[0]), richOf(node.operands[1])] };
    case 'if':
    case 'unless':
      return { op: node.op, then: richOf(node.left), cond: richOf(node.right), ...(node.otherwise ? { else: richOf(node.otherwise) } : {}) };
  }
}

/** One rpm dependency as a solver relation. rpmlib() requirements rpm meets itself are dropped by the caller. */
export function relationOf(dep: DependencyLike): Relation {
  if (dep.rich) return richOf(dep.rich);
  return [altOf(dep.name, dep.operator ?? dep.op, dep.version)];
}

/** Requires split into plain and pre; rpmlib() features rpm 4.18 has are satisfied internally (never by a package). */
export function requiresOf(deps: Array<DependencyLike & { pre?: boolean }>): { requires: Relation[]; preRequires: Relation[] } {
  const requires: Relation[] = [];
  const preRequires: Relation[] = [];
  for (const dep of deps) {
    if (dep.name.startsWith('rpmlib(') && rpmlibSatisfies({ name: dep.name, operator: dep.operator ?? dep.op, version: dep.version, flags: 0 })) continue;
    (dep.pre ? preRequires : requires).push(relationOf(dep));
  }
  return { requires, preRequires };
}

export function providesOf(deps: DependencyLike[]): Provide[] {
  return deps.map((d) => (d.version !== undefined && (d.operator ?? d.op) ? { name: d.name, version: d.version } : { name: d.name }));
}

/** Every path a header lists (files, directories, ghosts): rpm's basenames index answers file dependencies. */
export function headerPaths(h: RpmHeader): string[] {
  const basenames = h.strings(Tag.BaseNames);
  if (basenames.length === 0) return h.strings(Tag.OldFileNames);
  const dirnames = h.strings(Tag.DirNames);
  const indexes = h.numbers(Tag.DirIndexes);
  return basenames.map((b, i) => (dirnames[indexes[i]] ?? '') + b);
}

/** The installed base as locked solver specs, file provides included. gpg-pubkey pseudo-packages are left out. */
export async function installedSpecsOf(database: RpmDatabase): Promise<PackageSpec[]> {
  const specs: PackageSpec[] = [];
  for (const { header, id } of await database.headers()) {
    if (id.name === 'gpg-pubkey') continue;
    const deps = readDependencies(header, `${database.dbFile} (${id.name})`);
    const { requires, preRequires } = requiresOf(deps.requires);
    const provides = providesOf(deps.provides);
    for (const path of headerPaths(header)) provides.push({ name: path });
    specs.push({
      name: id.name, version: id.version, arch: id.arch, provides, requires, preRequires,
      conflicts: deps.conflicts.map(relationOf), obsoletes: deps.obsoletes.map(relationOf),
      recommends: deps.recommends.map(relationOf),
    });
  }
  return specs;
}

function rpmFormat(alt: Alternative): string {
  const name = alt.arch ? `${alt.name}.${alt.arch}` : alt.name;
  return alt.op && alt.version !== undefined ? `${name} ${alt.op} ${alt.version}` : name;
}

/** Version order, rpm's range matching, arch compatibility and multilib for the pool. */
export function rpmPoolOptions(baseArch: string): PoolOptions {
  const compatible = new Set(COMPATIBLE[baseArch] ?? [baseArch, 'noarch']);
  return {
    compareVersions: compareEvrStrings,
    // A requirement without a release ("foo >= 1.0") matches every release of 1.0, as rpmdsCompare does.
    versionMatches(provided, op, wanted) {
      const c = compareEvr(parseEvr(provided), parseEvr(wanted), true);
      switch (op) {
        case '<': return c < 0;
        case '<=': return c <= 0;
        case '=': return c === 0;
        case '>=': return c >= 0;
        case '>': return c > 0;
        case '!=': return c !== 0;
      }
    },
    unversionedProvidesMatchAny: true,
    installable: (pkg) => pkg.installed || compatible.has(pkg.arch),
    archAllows: (candidate, qualifier) => qualifier === undefined || candidate.arch === qualifier,
    mayCoexist(a, b) {
      const ca = COLOR[a.arch];
      const cb = COLOR[b.arch];
      return ca !== undefined && cb !== undefined && ca !== cb;
    },
    formatAlternative: rpmFormat,
  };
}

/** Lower is better: the system's own arch, then noarch, then the compatible older ones in order. */
export function archScore(baseArch: string, arch: string): number {
  const order = COMPATIBLE[baseArch] ?? [baseArch, 'noarch'];
  const i = order.indexOf(arch);
  return i === -1 ? order.length : i === 1 ? 0 : i;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * dnf's choices as libsolv makes them: one name → highest EVR, then best arch; several names providing what is
 * needed → a package of the very name asked for, else the name sorting first (libsolv sorts candidates by name).
 */
export function rpmSolverPolicy(baseArch: string): SolverPolicy {
  const compareCandidates = (a: PoolPackage, b: PoolPackage): number =>
    byName(a.name, b.name) || compareEvrStrings(b.version, a.version) || archScore(baseArch, a.arch) - archScore(baseArch, b.arch) || a.id - b.id;
  return {
    compareCandidates,
    choose(groups, alternatives, dependent) {
      for (let i = 0; i < groups.length; i++) {
        let group = groups[i];
        if (group.length === 0) continue;
        // A 32-bit package's dependency prefers a 32-bit provider (libsolv's multilib colour preference).
        const color = dependent ? COLOR[dependent.arch] : undefined;
        if (color !== undefined) {
          const same = group.filter((p) => COLOR[p.arch] === color || p.arch === 'noarch');
          if (same.length) group = same;
        }
        return group.find((p) => p.name === alternatives[i].name) ?? [...group].sort(compareCandidates)[0];
      }
      return undefined;
    },
  };
}

const REQUEST = /^([^\s<>=]+)\s*(?:(<=|>=|=|==|<|>)\s*(\S+))?$/;

/** "htop", "htop.x86_64", "htop >= 3", "htop = 1:3.2-1", "/usr/bin/htop", "libfoo.so.1()(64bit)". */
export function parseRpmRequest(text: string): { name: string; op?: '<' | '<=' | '=' | '>=' | '>'; version?: string; arch?: string } {
  const m = REQUEST.exec(text.trim());
  if (!m) throw new UsageError(`cannot read the request "${text}"; write NAME, NAME.ARCH or "NAME >= VERSION"`);
  let name = m[1];
  let arch: string | undefined;
  const dot = name.lastIndexOf('.');
  if (dot > 0 && !name.startsWith('/') && !name.includes('(')) {
    const suffix = name.slice(dot + 1);
    if (suffix === 'noarch' || suffix === 'src' || suffix in COMPATIBLE || suffix in COLOR) {
      arch = suffix;
      name = name.slice(0, dot);
    }
  }
  const op = m[2] === '==' ? '=' : (m[2] as '<' | '<=' | '=' | '>=' | '>' | undefined);
  return { name, ...(op ? { op, version: m[3] } : {}), ...(arch ? { arch } : {}) };
}
