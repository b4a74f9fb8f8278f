/**
 * A one-line-per-package text notation for small universes, used by the solver's tests and benchmarks and handy for
 * a backend's own resolution tests:
 *
 *   htop 3.2-1 amd64 ; requires: libc6 (>= 2.38), libncursesw6 | libncurses6 ; recommends: lsof
 *   libc6 2.36-9 amd64 @base
 *
 * The arch is optional (see {@link NO_ARCH}). Fields after the first ";" are `key: relations` with keys requires, pre,
 * provides, conflicts, obsoletes, recommends, priority. Relations use Debian spelling ("a (>= 1) | b:any"); `@base` marks an installed package.
 * Versions here are compared by {@link compareSimpleVersions} unless the caller passes another comparator.
 */
import { Pool, type PackageSpec, type PoolOptions } from './pool.js';
import type { Alternative, Provide, RelationOp } from './relation.js';

const OPS: Record<string, RelationOp> = { '<<': '<', '<': '<', '<=': '<=', '=': '=', '>=': '>=', '>>': '>', '>': '>', '!=': '!=' };

export function parseAlternative(text: string): Alternative {
  const m = /^\s*([^\s(:]+)(?::(\S+))?\s*(?:\(\s*(<<|<=|>=|>>|<|>|=|!=)\s*([^\s)]+)\s*\))?\s*$/.exec(text);
  if (!m) throw new SyntaxError(`bad relation: ${text}`);
  const alt: Alternative = { name: m[1] };
  if (m[2]) alt.arch = m[2];
  if (m[3]) {
    alt.op = OPS[m[3]];
    alt.version = m[4];
  }
  return alt;
}

/** "a (>= 1) | b, c" → [[a>=1, b], [c]] */
export function parseRelations(text: string): Alternative[][] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => s.split('|').map(parseAlternative));
}

/**
 * The arch of a line that names none: no format's word, so that only the pool's own `installable`/`archAllows` rules
 * (none by default) give arches a meaning in a test universe.
 */
export const NO_ARCH = '-';

export interface UniverseLine {
  spec: PackageSpec;
  installed: boolean;
}

export function parsePackageLine(line: string): UniverseLine {
  const [head, ...fields] = line.split(';');
  const words = head.trim().split(/\s+/);
  const installed = words.includes('@base');
  const [name, version, arch = NO_ARCH] = words.filter((w) => w !== '@base');
  if (!name || !version) throw new SyntaxError(`bad package line: ${line}`);
  const spec: PackageSpec = { name, version, arch };
  for (const field of fields) {
    const at = field.indexOf(':');
    const key = field.slice(0, at).trim();
    const value = field.slice(at + 1);
    if (key === 'priority') spec.priority = Number(value);
    else if (key === 'provides') {
      spec.provides = parseRelations(value).map(([a]): Provide => ({ name: a.name, version: a.version }));
    } else if (key === 'requires' || key === 'conflicts' || key === 'obsoletes' || key === 'recommends') {
      spec[key] = parseRelations(value);
    } else if (key === 'pre') spec.preRequires = parseRelations(value);
    else throw new SyntaxError(`unknown field "${key}" in: ${line}`);
  }
  return { spec, installed };
}

/** Builds a pool from notation lines (blank lines and "#" comments ignored). */
export function universe(text: string, options: Partial<PoolOptions> = {}): Pool {
  const pool = new Pool({ compareVersions: compareSimpleVersions, ...options });
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const { spec, installed } = parsePackageLine(line);
    pool.add(spec, installed);
  }
  return pool;
}

/** Compares dotted/dashed versions piecewise, numbers numerically ("1.10" > "1.9"); enough for test universes. */
export function compareSimpleVersions(a: string, b: string): number {
  const pa = a.split(/[.\-:+~]/);
  const pb = b.split(/[.\-:+~]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    if (x === y) continue;
    if (x === '') return -1;
    if (y === '') return 1;
    const nx = Number(x);
    const ny = Number(y);
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) return nx - ny;
    return x < y ? -1 : 1;
  }
  return 0;
}
