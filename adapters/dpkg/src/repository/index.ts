/**
 * APT repositories of a deployment: sources from its configuration (plus `--source` lines), each suite's signed
 * Release verified, the Packages index of every component × architecture loaded through the compact cache, and the
 * candidates handed to the solver as specs whose `data` is the {@link Download} of the .deb.
 */
import { reachableSpecs, SystemStateError, UnreachableError, type CandidateSpec, type Download, type LoadedRepository, type RepositoryOptions, type RepositorySet } from '@ostree-layer/core';
import { parseParagraphs } from '../control.js';
import type { Compression } from '../decompress.js';
import { compareDebVersions as compare } from '../version.js';
import { debArchitectures, specFromRow, type DebCandidate } from '../resolve-model.js';
import type { CompactIndex } from './index-cache.js';
import { F, loadIndex, readIndexText, type IndexRow } from './packages-index.js';
import { fetchRelease } from './release.js';
import { readSources, type SourceEntry } from './sources.js';

export { parseSourceLine, parseSourcesFile, readSources, type SourceEntry } from './sources.js';
export { fetchRelease, parseRelease, sourceKeys, type Release } from './release.js';
export { INDEX_FIELDS, loadIndex, scanPackages, type IndexRow } from './packages-index.js';
export { CompactIndex, INDEX_CACHE_FORMAT, readIndexCache, writeIndexCache } from './index-cache.js';

interface LoadedIndex {
  source: SourceEntry;
  origin: string;
  priority: number;
  index: CompactIndex;
  file: string;
  compression: Compression;
}

/** apt's file name for a downloaded .deb: name_version_arch.deb with the epoch colon escaped. */
export function debFileName(name: string, version: string, arch: string): string {
  return `${name}_${version.replace(/:/g, '%3a')}_${arch}.deb`;
}

/** Rows of all indexes are numbered in one sequence (index by index), which is the order candidates are listed in. */
const ROW_BITS = 2 ** 24;

export class DebRepositorySet implements RepositorySet {
  private cached?: CandidateSpec[];
  private readonly allowed: Set<string>;
  /** Candidate key → the first position holding it: the same version in two suites or two arch indexes (arch: all) is one candidate, as in apt. */
  private readonly firstAt = new Map<string, number>();

  constructor(
    readonly indexes: LoadedIndex[],
    readonly architectures: string[],
  ) {
    this.allowed = new Set([...architectures, 'all']);
  }

  specs(): CandidateSpec[] {
    if (this.cached) return this.cached;
    const out: CandidateSpec[] = [];
    this.indexes.forEach((idx, n) => {
      for (let i = 0; i < idx.index.size; i++) {
        const spec = this.specAt(n * ROW_BITS + i);
        if (spec) out.push(spec);
      }
    });
    this.cached = out;
    return out;
  }

  reachable(names: string[]): CandidateSpec[] {
    return reachableSpecs(names, {
      candidatesNamed: (name) => this.indexes.flatMap((idx, n) => idx.index.rowsFor(name).map((i) => n * ROW_BITS + i)),
      specAt: (position) => this.specAt(position),
    });
  }

  /** The candidate at a position, unless its arch is not the target's or an earlier position holds the same one. */
  private specAt(position: number): CandidateSpec | undefined {
    const idx = this.indexes[Math.floor(position / ROW_BITS)];
    const row = idx.index.row(position % ROW_BITS);
    if (!this.allowed.has(row[F.Architecture])) return undefined;
    const key = `${row[F.Package]}\0${row[F.Version]}\0${row[F.Architecture]}`;
    if (this.firstBefore(key, position)) return undefined;
    return candidate(idx, row);
  }

  /** Whether a position before `position` holds the candidate `key` (looked up by its name in the earlier indexes). */
  private firstBefore(key: string, position: number): boolean {
    let first = this.firstAt.get(key);
    if (first === undefined) {
      const name = key.slice(0, key.indexOf('\0'));
      first = position;
      for (let n = 0; n * ROW_BITS <= position && first === position; n++) {
        const index = this.indexes[n].index;
        for (const i of index.rowsFor(name)) {
          const at = n * ROW_BITS + i;
          if (at >= position) break;
          const r = index.row(i);
          if (`${r[F.Package]}\0${r[F.Version]}\0${r[F.Architecture]}` === key) {
            first = at;
            break;
          }
        }
      }
      this.firstAt.set(key, first);
    }
    return first < position;
  }

  search(pattern: string): Array<{ name: string; version: string; arch: string; summary: string }> {
    const glob = /[*?[]/.test(pattern);
    const re = glob
      ? new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i')
      : undefined;
    const needle = pattern.toLowerCase();
    const best = new Map<string, CandidateSpec>();
    for (const spec of this.specs()) {
      const summary = (spec.data as DebCandidate).summary ?? '';
      const hit = re ? re.test(spec.name) : spec.name.includes(needle) || summary.toLowerCase().includes(needle);
      if (!hit) continue;
      const key = `${spec.name}:${spec.arch}`;
      const have = best.get(key);
      if (!have || (spec.priority ?? 0) > (have.priority ?? 0) || ((spec.priority ?? 0) === (have.priority ?? 0) && compare(spec.version, have.version) > 0)) best.set(key, spec);
    }
    return [...best.values()]
      .map((s) => ({ name: s.name, version: s.version, arch: s.arch, summary: (s.data as DebCandidate).summary ?? '' }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  repositories(): LoadedRepository[] {
    const byOrigin = new Map<string, LoadedRepository>();
    for (const idx of this.indexes) {
      const key = `${idx.source.uri} ${idx.origin}`;
      const have = byOrigin.get(key);
      if (have) have.packages += idx.index.size;
      else byOrigin.set(key, { id: idx.origin, name: key, url: idx.source.uri, packages: idx.index.size, configuredIn: idx.source.origin, priority: idx.priority });
    }
    return [...byOrigin.values()];
  }

  /** Full paragraphs of every candidate of `name` (read back from the cached index text). */
  async show(name: string): Promise<Array<Record<string, unknown>>> {
    const out: Array<Record<string, unknown>> = [];
    for (const idx of this.indexes) {
      if (!idx.index.rowsFor(name).some((i) => idx.index.row(i)[F.Package] === name)) continue;
      const text = await readIndexText(idx.file, idx.compression);
      const start = new RegExp(`^Package: ${name.replace(/[.+]/g, '\\$&')}$`, 'gm');
      for (let m = start.exec(text); m; m = start.exec(text)) {
        const end = text.indexOf('\n\n', m.index);
        const [p] = parseParagraphs(text.slice(m.index, end < 0 ? undefined : end));
        if (!p) continue;
        const record: Record<string, unknown> = {};
        for (const [k, v] of p.fields) record[k] = v;
        record['APT-Sources'] = `${idx.source.uri} ${idx.origin}`;
        out.push(record);
      }
    }
    return out;
  }
}

/** A candidate spec for an index row: the solver's fields plus the download. */
function candidate(idx: LoadedIndex, row: IndexRow): CandidateSpec {
  const data: DebCandidate = {
    multiArch: row[F['Multi-Arch']] || undefined,
    essential: row[F.Essential] === 'yes',
    priorityField: row[F.Priority] || undefined,
    summary: row[F.Description],
  };
  const download: Download = {
    url: `${idx.source.uri}/${row[F.Filename]}`,
    size: Number(row[F.Size]),
    sha256: row[F.SHA256] || undefined,
    sha512: row[F.SHA512] || undefined,
    fileName: debFileName(row[F.Package], row[F.Version], row[F.Architecture]),
    origin: idx.origin,
    installedSize: Number(row[F['Installed-Size']] || 0) * 1024,
  };
  return specFromRow(row, data, idx.priority, download);
}

/** Reads the sources, verifies every Release and loads every index (in parallel across suites). */
export async function openDebRepositories(options: RepositoryOptions): Promise<DebRepositorySet> {
  const say = (text: string) => options.report.emit({ type: 'message', text });
  const warn = (text: string) => options.report.emit({ type: 'warning', text });
  const { tree } = options;
  const arches = await debArchitectures(options);
  const architectures = [arches.native, ...arches.foreign];
  const sources = await readSources(tree, options.extraSources);
  if (sources.length === 0) {
    throw new SystemStateError(
      `no APT sources configured in ${tree.description} (/usr/etc/apt, /etc/apt); add one with --source "deb [signed-by=KEYRING] URI SUITE COMPONENT"`,
    );
  }
  const loaded = await Promise.all(
    sources.map(async (source) => {
      try {
        return await loadSource(source);
      } catch (err) {
        // As apt: a mirror that cannot be reached (and was never fetched) is a warning; the request fails later
        // only if it needs a package from there. Verification failures stay errors.
        if (!(err instanceof UnreachableError)) throw err;
        warn(`${source.uri} ${source.suite} (${source.origin}) is unreachable and has no cached index (${err.message}); its packages are left out`);
        return [];
      }
    }),
  );
  return new DebRepositorySet(loaded.flat(), architectures);

  async function loadSource(source: SourceEntry): Promise<LoadedIndex[]> {
    const release = await fetchRelease(source, { tree, allowUnauthenticated: options.allowUnauthenticated, warn, cacheDir: options.cacheDir });
    const out: LoadedIndex[] = [];
    const flat = source.suite.endsWith('/');
    const components = flat ? [''] : source.components;
    const wanted = source.architectures ?? architectures;
    for (const component of components) {
      for (const arch of wanted) {
        const path = flat ? 'Packages' : `${component}/binary-${arch}/Packages`;
        const idx = await loadIndex({ path, release }, options.cacheDir, say);
        if (!idx) {
          if (!flat && arch === arches.native) warn(`${release.base} lists no ${path} index; skipping ${component} for ${arch}`);
          continue;
        }
        const origin = flat ? source.suite : `${release.codename || source.suite}/${component}`;
        out.push({ source, origin, priority: release.priority, ...idx });
      }
      if (flat) break;
    }
    return out;
  }
}
