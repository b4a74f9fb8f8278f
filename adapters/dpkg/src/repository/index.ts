/**
 * APT repositories of a deployment: sources from its configuration (plus `--source` lines), each suite's signed
 * Release verified, the Packages index of every component × architecture loaded through the compact cache, and the
 * candidates handed to the solver as specs whose `data` is the {@link Download} of the .deb.
 */
import { SystemStateError, UnreachableError, type CandidateSpec, type Download, type LoadedRepository, type RepositoryOptions, type RepositorySet } from '@ostree-layer/core';
import { parseParagraphs } from '../control.js';
import type { Compression } from '../decompress.js';
import { compareDebVersions as compare } from '../version.js';
import { debArchitectures, specFromRow, type DebCandidate } from '../resolve-model.js';
import { F, loadIndex, readIndexText, type IndexRow } from './packages-index.js';
import { fetchRelease } from './release.js';
import { readSources, type SourceEntry } from './sources.js';

export { parseSourceLine, parseSourcesFile, readSources, type SourceEntry } from './sources.js';
export { fetchRelease, parseRelease, sourceKeys, type Release } from './release.js';
export { INDEX_FIELDS, loadIndex, scanPackages, type IndexRow } from './packages-index.js';

interface LoadedIndex {
  source: SourceEntry;
  origin: string;
  priority: number;
  rows: IndexRow[];
  file: string;
  compression: Compression;
}

/** apt's file name for a downloaded .deb: name_version_arch.deb with the epoch colon escaped. */
export function debFileName(name: string, version: string, arch: string): string {
  return `${name}_${version.replace(/:/g, '%3a')}_${arch}.deb`;
}

export class DebRepositorySet implements RepositorySet {
  private cached?: CandidateSpec[];

  constructor(
    readonly indexes: LoadedIndex[],
    readonly architectures: string[],
  ) {}

  specs(): CandidateSpec[] {
    if (this.cached) return this.cached;
    const seen = new Set<string>();
    const out: CandidateSpec[] = [];
    const allowed = new Set([...this.architectures, 'all']);
    for (const idx of this.indexes) {
      for (const row of idx.rows) {
        // The same version in two suites or two arch indexes (arch: all) is one candidate, as in apt.
        const key = `${row[F.Package]}\0${row[F.Version]}\0${row[F.Architecture]}`;
        if (seen.has(key) || !allowed.has(row[F.Architecture])) continue;
        seen.add(key);
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
        out.push(specFromRow(row, data, idx.priority, download));
      }
    }
    this.cached = out;
    return out;
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
      if (have) have.packages += idx.rows.length;
      else byOrigin.set(key, { id: idx.origin, name: key, url: idx.source.uri, packages: idx.rows.length, configuredIn: idx.source.origin, priority: idx.priority });
    }
    return [...byOrigin.values()];
  }

  /** Full paragraphs of every candidate of `name` (read back from the cached index text). */
  async show(name: string): Promise<Array<Record<string, unknown>>> {
    const out: Array<Record<string, unknown>> = [];
    for (const idx of this.indexes) {
      if (!idx.rows.some((r) => r[F.Package] === name)) continue;
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
