/**
 * primary.xml and filelists.xml, streamed: every package with its identity, location, checksum and relationships
 * (primary), and — only when asked — the complete file lists of the packages that own a needed path (filelists).
 */
import { Sense, type DependencyKind } from '../dependencies.js';
import { parseXml } from './xml.js';

/** One relationship entry as rpm-md writes it; `version` is the EVR text ("1:2.0-3"). */
export interface RepoDependency {
  name: string;
  op?: '<' | '<=' | '=' | '>=' | '>';
  version?: string;
  pre?: boolean;
}

export interface RepoPackage {
  name: string;
  /** "[epoch:]version-release", epoch omitted when 0 (as PackageId.version of the downloaded file shows it). */
  evr: string;
  epoch: string;
  version: string;
  release: string;
  arch: string;
  summary: string;
  description: string;
  url: string;
  license: string;
  sourcerpm: string;
  /** Path relative to the repository root (or to `base` when the entry has its own xml:base). */
  href: string;
  base?: string;
  checksum: { type: string; value: string };
  size: number;
  installedSize: number;
  deps: Partial<Record<DependencyKind, RepoDependency[]>>;
  /** Primary's subset of files (/etc, bin dirs…) — completed from filelists for needed paths. */
  files: string[];
}

const FLAGS: Record<string, RepoDependency['op']> = { EQ: '=', LT: '<', LE: '<=', GT: '>', GE: '>=' };
const KINDS = new Set<string>(['provides', 'requires', 'conflicts', 'obsoletes', 'recommends', 'suggests', 'supplements', 'enhances']);

export function formatRepoEvr(epoch: string | undefined, version: string | undefined, release: string | undefined): string {
  const e = epoch && epoch !== '0' ? `${epoch}:` : '';
  return `${e}${version ?? ''}${release ? `-${release}` : ''}`;
}

/** Reads primary.xml from decompressed chunks; calls `each` per package (callers keep what they need). */
export async function parsePrimary(chunks: AsyncIterable<Buffer>, what: string, each: (pkg: RepoPackage) => void): Promise<void> {
  let pkg: RepoPackage | undefined;
  let kind: DependencyKind | undefined;
  let checksumType = '';
  await parseXml(chunks, what, {
    open(name, a) {
      if (name === 'package') {
        pkg = {
          name: '', evr: '', epoch: '0', version: '', release: '', arch: '', summary: '', description: '', url: '', license: '',
          sourcerpm: '', href: '', checksum: { type: '', value: '' }, size: 0, installedSize: 0, deps: {}, files: [],
        };
        return;
      }
      if (!pkg) return;
      switch (name) {
        case 'version':
          pkg.epoch = a.epoch || '0';
          pkg.version = a.ver ?? '';
          pkg.release = a.rel ?? '';
          pkg.evr = formatRepoEvr(a.epoch, a.ver, a.rel);
          break;
        case 'checksum':
          checksumType = a.type ?? '';
          break;
        case 'location':
          pkg.href = a.href ?? '';
          if (a['xml:base']) pkg.base = a['xml:base'].replace(/\/+$/, '');
          break;
        case 'size':
          pkg.size = Number(a.package ?? 0);
          pkg.installedSize = Number(a.installed ?? 0);
          break;
        case 'rpm:entry':
          if (kind) {
            const dep: RepoDependency = { name: a.name ?? '' };
            const op = a.flags ? FLAGS[a.flags] : undefined;
            if (op && a.ver !== undefined) {
              dep.op = op;
              dep.version = formatRepoEvr(a.epoch, a.ver, a.rel);
            }
            if (a.pre === '1' || a.pre === 'true') dep.pre = true;
            (pkg.deps[kind] ??= []).push(dep);
          }
          break;
        default: {
          const k = name.startsWith('rpm:') ? name.slice(4) : '';
          if (KINDS.has(k)) kind = k as DependencyKind;
        }
      }
    },
    close(name, text) {
      if (!pkg) return;
      switch (name) {
        case 'name': pkg.name = text; break;
        case 'arch': pkg.arch = text; break;
        case 'summary': pkg.summary = text; break;
        case 'description': pkg.description = text; break;
        case 'url': pkg.url = text; break;
        case 'rpm:license': pkg.license = text; break;
        case 'rpm:sourcerpm': pkg.sourcerpm = text; break;
        case 'checksum': pkg.checksum = { type: checksumType, value: text.trim().toLowerCase() }; break;
        case 'file':
          // Directories and ghosts satisfy file dependencies too: rpm looks paths up in its basenames index.
          pkg.files.push(text);
          break;
        case 'package':
          each(pkg);
          pkg = undefined;
          break;
        default:
          if (name.startsWith('rpm:') && KINDS.has(name.slice(4))) kind = undefined;
      }
    },
  });
}

/**
 * Reads filelists.xml and returns, per package id (its checksum), the files among `needed`. Only paths a dependency
 * names are kept, so a 400 MB filelists costs memory in proportion to the answer.
 */
export async function parseFilelists(chunks: AsyncIterable<Buffer>, what: string, needed: ReadonlySet<string>): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  let pkgid = '';
  await parseXml(chunks, what, {
    open(name, a) {
      if (name === 'package') pkgid = (a.pkgid ?? '').toLowerCase();
    },
    close(name, text) {
      if (name !== 'file' || !needed.has(text)) return;
      const list = out.get(pkgid);
      if (list) list.push(text);
      else out.set(pkgid, [text]);
    },
  });
  return out;
}

/** rpm's sense flags for a dependency read from rpm-md, for code that shares header-based helpers. */
export function senseOf(dep: RepoDependency): number {
  const map: Record<string, number> = { '<': Sense.Less, '<=': Sense.Less | Sense.Equal, '=': Sense.Equal, '>=': Sense.Greater | Sense.Equal, '>': Sense.Greater };
  return (dep.op ? map[dep.op] : 0) | (dep.pre ? Sense.PreReq : 0);
}
