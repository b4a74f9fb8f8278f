/**
 * `vercmp`: a version comparison as cheap as `dpkg --compare-versions`. Only the backend's version rules load (its
 * `/version` module), not the backend with its archive, repository and database code.
 */
import { UsageError } from '@ostree-layer/core/errors';
import { printJson } from './output.js';

/** Version order per backend name; the same functions the backends expose as `compareVersions`. */
const VERSION_RULES: Record<string, () => Promise<(a: string, b: string) => number>> = {
  dpkg: async () => (await import('@ostree-layer/dpkg/version')).compareDebVersions,
  rpm: async () => (await import('@ostree-layer/rpm/version')).compareEvrStrings,
};

const OPERATORS: Record<string, (c: number) => boolean> = {
  lt: (c) => c < 0, '<<': (c) => c < 0, 'lt-nl': (c) => c < 0,
  le: (c) => c <= 0, '<=': (c) => c <= 0,
  eq: (c) => c === 0, '=': (c) => c === 0,
  ne: (c) => c !== 0,
  ge: (c) => c >= 0, '>=': (c) => c >= 0,
  gt: (c) => c > 0, '>>': (c) => c > 0,
};

export async function runVercmp(a: string, op: string, b: string, opts: { backend: string; json?: boolean }): Promise<void> {
  const rules = VERSION_RULES[opts.backend];
  if (!rules) throw new UsageError(`unknown backend "${opts.backend}"; use ${Object.keys(VERSION_RULES).join(' or ')}`);
  const test = OPERATORS[op];
  if (!test) throw new UsageError(`unknown operator "${op}"; use one of ${Object.keys(OPERATORS).join(' ')}`);
  const cmp = (await rules())(a, b);
  const holds = test(cmp);
  if (opts.json) printJson({ a, op, b, backend: opts.backend, compare: Math.sign(cmp), result: holds });
  process.exitCode = holds ? 0 : 1;
}
