/** Human output goes to stdout, progress to stderr; with --json stdout holds exactly one JSON document. */
import { classifySystemError, LayerError } from '@ostree-layer/core/errors';

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function progress(json: boolean): (line: string) => void {
  return json ? () => undefined : (line) => process.stderr.write(`${line}\n`);
}

/** Maps an error to the process exit status, printing it as a sentence or as a JSON object. */
export function reportError(thrown: unknown, json: boolean, prefix = 'ostree-layer: '): number {
  const err = classifySystemError(thrown);
  const known = err instanceof LayerError;
  const kind = known ? err.kind : 'internal';
  const message = err instanceof Error ? err.message : String(err);
  if (json) printJson({ error: { kind, message } });
  else process.stderr.write(`${prefix}${known ? '' : 'internal error: '}${message}\n`);
  if (!known && process.env.OSTREE_LAYER_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return known ? err.exitCode : 70;
}

/**
 * A metadata value as text: relations ({name, op, version} lists) as "a (>= 1), b", groups of them as one line per
 * kind, other objects as JSON; never "[object Object]".
 */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return value.map((v) => (isRelation(v) ? relationText(v) : formatValue(v))).join(', ');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.every(([, v]) => Array.isArray(v))) {
    return entries.filter(([, v]) => (v as unknown[]).length > 0).map(([k, v]) => `${k}: ${formatValue(v)}`).join('\n');
  }
  return JSON.stringify(value);
}

function isRelation(v: unknown): v is { name: string; op?: string; version?: string } {
  return typeof v === 'object' && v !== null && typeof (v as { name?: unknown }).name === 'string';
}

function relationText(r: { name: string; op?: string; version?: string }): string {
  return r.op && r.version !== undefined ? `${r.name} ${r.op} ${r.version}` : r.name;
}
