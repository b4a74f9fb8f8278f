/**
 * `vercmp`: a version comparison as cheap as `dpkg --compare-versions`. Only the backend's version rules load (its
 * `/version` module), not the backend with its archive, repository and database code. The relation is the one the
 * format's own tool answers (operators, empty versions, warnings), the same the backends expose as `versionRelation`.
 */
import { UsageError } from '@ostree-layer/core/errors';
import { printJson } from './output.js';

type Relation = (a: string, op: string, b: string) => { holds: boolean; compare: number | null; warnings: string[] };

/** Each backend's relation and the error class its version parser throws for a version the tool refuses. */
const VERSION_RULES: Record<string, () => Promise<{ relation: Relation; invalid: new (...args: never[]) => Error }>> = {
  dpkg: async () => {
    const m = await import('@ostree-layer/dpkg/version');
    return { relation: m.dpkgCompareVersions, invalid: m.DebVersionError };
  },
  rpm: async () => {
    const m = await import('@ostree-layer/rpm/version');
    return { relation: m.rpmCompareVersions, invalid: m.RpmVersionError };
  },
  pacman: async () => {
    const m = await import('@ostree-layer/pacman/version');
    return { relation: m.pacmanCompareVersions, invalid: m.PacmanVersionError };
  },
};

export async function runVercmp(a: string, op: string, b: string, opts: { backend: string; json?: boolean }): Promise<void> {
  const rules = VERSION_RULES[opts.backend];
  if (!rules) throw new UsageError(`unknown backend "${opts.backend}"; use ${Object.keys(VERSION_RULES).join(' or ')}`);
  const { relation, invalid } = await rules();
  let answer: ReturnType<Relation>;
  try {
    answer = relation(a, op, b);
  } catch (err) {
    if (err instanceof invalid) throw new UsageError(`vercmp: ${err.message}`);
    throw err;
  }
  for (const warning of answer.warnings) process.stderr.write(`ostree-layer: warning: ${warning}\n`);
  if (opts.json) printJson({ a, op, b, backend: opts.backend, compare: answer.compare, result: answer.holds, warnings: answer.warnings });
  process.exitCode = answer.holds ? 0 : 1;
}
