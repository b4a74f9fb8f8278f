/**
 * The pool: every package the solver may consider (installed base and repository candidates) as small integer ids,
 * with interned names and an index from each provided name to its providers. Like libsolv's Pool it knows no package
 * format: versions are compared and architectures judged only through the functions the backend injects.
 */
import type { Alternative, Provide, Relation, RelationOp } from './relation.js';
import { formatAlternative } from './relation.js';

/** What a backend hands the pool for one package. Relations are already parsed into {@link Relation} values. */
export interface PackageSpec {
  name: string;
  /** The backend's full version notation ("1:2.3-4", "2.3-4.fc40"). */
  version: string;
  arch: string;
  provides?: Provide[];
  requires?: Relation[];
  /** Needed before this package is unpacked (Pre-Depends, Requires(pre)): required, and ordered first. */
  preRequires?: Relation[];
  conflicts?: Relation[];
  /** rpm Obsoletes: matched against package names (not provides). */
  obsoletes?: Relation[];
  /** Weak forward dependencies: installed when installable, never a cause of failure. */
  recommends?: Relation[];
  /** Pin priority (apt); higher is preferred by the default candidate order. Defaults to 0. */
  priority?: number;
  /** Opaque backend value handed back in the transaction (the repository entry, the download URL…). */
  data?: unknown;
}

export interface PoolPackage extends Readonly<PackageSpec> {
  readonly id: number;
  readonly nameId: number;
  /** True for packages of the installed base: locked, they stay exactly as they are. */
  readonly installed: boolean;
}

export interface PoolOptions {
  /** The backend's version order (negative, zero, positive). */
  compareVersions(a: string, b: string): number;
  /**
   * Whether a provided version satisfies `op wanted`. Default: compareVersions against op. rpm backends override it so
   * that "foo = 1.2" matches "1.2-3" (a release-less requirement ignores the release).
   */
  versionMatches?(provided: string, op: RelationOp, wanted: string): boolean;
  /** rpm: an unversioned Provides satisfies every versioned requirement. Debian: it satisfies none. */
  unversionedProvidesMatchAny?: boolean;
  /** False for packages whose architecture the target system cannot run. Default: all installable. */
  installable?(pkg: PoolPackage): boolean;
  /**
   * Whether `candidate` may satisfy an alternative with arch qualifier `qualifier` written in `dependent`'s
   * relation (dependent undefined for a user request). Debian implements Multi-Arch here. Default: no qualifier
   * accepts all, otherwise the candidate's arch must equal it or the qualifier be "any".
   */
  archAllows?(candidate: PoolPackage, qualifier: string | undefined, dependent: PoolPackage | undefined): boolean;
  /**
   * Two packages of the same name may be installed together (Debian Multi-Arch: same of different arches, rpm
   * multilib). Default: never — only one version of a name.
   */
  mayCoexist?(a: PoolPackage, b: PoolPackage): boolean;
  /** Spelling of one alternative in messages ("libc6 (>= 2.38)" vs "libc6 >= 2.38"). */
  formatAlternative?(alt: Alternative): string;
}

const EMPTY: readonly number[] = Object.freeze([]);

/** Fixed-shape package record: one hidden class for every package keeps a 64k-package pool small and fast. */
class Package implements PoolPackage {
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly provides?: Provide[];
  readonly requires?: Relation[];
  readonly preRequires?: Relation[];
  readonly conflicts?: Relation[];
  readonly obsoletes?: Relation[];
  readonly recommends?: Relation[];
  readonly priority?: number;
  readonly data?: unknown;
  constructor(
    spec: PackageSpec,
    readonly id: number,
    readonly nameId: number,
    readonly installed: boolean,
  ) {
    this.name = spec.name;
    this.version = spec.version;
    this.arch = spec.arch;
    this.provides = spec.provides;
    this.requires = spec.requires;
    this.preRequires = spec.preRequires;
    this.conflicts = spec.conflicts;
    this.obsoletes = spec.obsoletes;
    this.recommends = spec.recommends;
    this.priority = spec.priority;
    this.data = spec.data;
  }
}

export class Pool {
  /** Index = package id; id 0 is unused so that ids can be signed literals. */
  readonly packages: PoolPackage[] = [undefined as unknown as PoolPackage];
  readonly options: PoolOptions;
  private readonly nameIds = new Map<string, number>();
  private readonly names: string[] = [];
  /**
   * Provides index as linked lists in flat arrays (libsolv's whatprovides idea): nameId → first entry; each entry
   * has the providing package, the version it provides and the next entry. No per-name arrays to allocate.
   */
  private readonly providerHead: number[] = [];
  private readonly entryPackage: number[] = [];
  private readonly entryVersion: (string | undefined)[] = [];
  private readonly entryNext: number[] = [];
  private readonly providesCache = new Map<string, readonly number[]>();
  private byAlternative = new WeakMap<Alternative, readonly number[]>();
  private readonly mark: number[] = [0];
  private markEpoch = 0;

  constructor(options: PoolOptions) {
    this.options = options;
  }

  get size(): number {
    return this.packages.length - 1;
  }

  /** The integer id of a name (package or virtual), interning it. */
  intern(name: string): number {
    let id = this.nameIds.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.nameIds.set(name, id);
      this.providerHead.push(-1);
    }
    return id;
  }

  nameOf(nameId: number): string {
    return this.names[nameId];
  }

  /** Adds a package; `installed` marks it as part of the locked base. Returns its id. */
  add(spec: PackageSpec, installed = false): number {
    const id = this.packages.length;
    const nameId = this.intern(spec.name);
    this.packages.push(new Package(spec, id, nameId, installed));
    this.mark.push(0);
    this.addProvider(nameId, id, spec.version);
    for (const p of spec.provides ?? []) {
      const pid = this.intern(p.name);
      // rpm packages list their own "name = evr" among Provides; indexing it twice would only duplicate results.
      if (pid === nameId && p.version === spec.version) continue;
      this.addProvider(pid, id, p.version);
    }
    if (this.providesCache.size > 0) {
      this.providesCache.clear();
      this.byAlternative = new WeakMap();
    }
    return id;
  }

  private addProvider(nameId: number, id: number, version: string | undefined): void {
    const entry = this.entryPackage.length;
    this.entryPackage.push(id);
    this.entryVersion.push(version);
    this.entryNext.push(this.providerHead[nameId]);
    this.providerHead[nameId] = entry;
  }

  get(id: number): PoolPackage {
    return this.packages[id];
  }

  /** Packages whose own name is `name` (not virtual providers), in pool order. */
  packagesNamed(name: string): readonly number[] {
    const nameId = this.nameIds.get(name);
    if (nameId === undefined) return EMPTY;
    const out: number[] = [];
    for (let e = this.providerHead[nameId]; e >= 0; e = this.entryNext[e]) {
      const id = this.entryPackage[e];
      if (this.packages[id].nameId === nameId && !out.includes(id)) out.push(id);
    }
    return out.sort((a, b) => a - b);
  }

  /** Whether a provided version satisfies the alternative's range. */
  versionMatches(provided: string | undefined, alt: Alternative): boolean {
    if (!alt.op || alt.version === undefined) return true;
    if (provided === undefined) return this.options.unversionedProvidesMatchAny === true;
    if (this.options.versionMatches) return this.options.versionMatches(provided, alt.op, alt.version);
    return testOp(this.options.compareVersions(provided, alt.version), alt.op);
  }

  /**
   * Ids of every package (installed or not) that satisfies one alternative written by `dependent` (undefined for a
   * user request), without duplicates, in pool order.
   */
  whatProvides(alt: Alternative, dependent?: PoolPackage): readonly number[] {
    // Relations are parsed once, so the same Alternative object comes back many times: look it up by identity
    // first, then by text (many packages write the same "libc6 (>= 2.34)").
    let ids = this.byAlternative.get(alt);
    if (ids === undefined) {
      const key = alt.op ? `${alt.name}\0${alt.op}\0${alt.version}` : alt.name;
      ids = this.providesCache.get(key);
      if (ids === undefined) {
        ids = this.computeProviders(alt);
        this.providesCache.set(key, ids);
      }
      this.byAlternative.set(alt, ids);
    }
    const archAllows = this.options.archAllows;
    if (!archAllows && alt.arch === undefined) return ids;
    const allows = archAllows ?? defaultArchAllows;
    // Usually every provider passes: only copy when one does not.
    for (let i = 0; i < ids.length; i++) {
      if (!allows(this.packages[ids[i]], alt.arch, dependent)) {
        return ids.filter((id) => allows(this.packages[id], alt.arch, dependent));
      }
    }
    return ids;
  }

  /** Packages whose own name and version match (rpm Obsoletes semantics). */
  whatMatchesName(alt: Alternative): number[] {
    return this.packagesNamed(alt.name).filter((id) => this.versionMatches(this.packages[id].version, alt));
  }

  private computeProviders(alt: Alternative): readonly number[] {
    const nameId = this.nameIds.get(alt.name);
    if (nameId === undefined) return EMPTY;
    const epoch = ++this.markEpoch;
    const out: number[] = [];
    for (let e = this.providerHead[nameId]; e >= 0; e = this.entryNext[e]) {
      const id = this.entryPackage[e];
      if (this.mark[id] === epoch || !this.versionMatches(this.entryVersion[e], alt)) continue;
      this.mark[id] = epoch;
      out.push(id);
    }
    return out.sort((a, b) => a - b);
  }

  /** "htop 3.2.2-2 (amd64)" style label used in messages. */
  label(id: number): string {
    const p = this.packages[id];
    return `${p.name} ${p.version} (${p.arch})`;
  }

  formatAlternative(alt: Alternative): string {
    return (this.options.formatAlternative ?? formatAlternative)(alt);
  }
}

function defaultArchAllows(candidate: PoolPackage, qualifier: string | undefined): boolean {
  return qualifier === undefined || qualifier === 'any' || candidate.arch === qualifier;
}

export function testOp(cmp: number, op: RelationOp): boolean {
  switch (op) {
    case '<':
      return cmp < 0;
    case '<=':
      return cmp <= 0;
    case '=':
      return cmp === 0;
    case '>=':
      return cmp >= 0;
    case '>':
      return cmp > 0;
    case '!=':
      return cmp !== 0;
  }
}
