/** Human output goes to stdout, progress to stderr; with --json stdout holds exactly one JSON document. */
import { classifySystemError, LayerError } from '@ostree-layer/core/errors';

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function progress(json: boolean): (line: string) => void {
  return json ? () => undefined : (line) => process.stderr.write(`${line}\n`);
}

/** Maps an error to the process exit status, printing it as a sentence or as a JSON object. */
export function reportError(thrown: unknown, json: boolean): number {
  const err = classifySystemError(thrown);
  const known = err instanceof LayerError;
  const kind = known ? err.kind : 'internal';
  const message = err instanceof Error ? err.message : String(err);
  if (json) printJson({ error: { kind, message } });
  else process.stderr.write(`ostree-layer: ${known ? '' : 'internal error: '}${message}\n`);
  if (!known && process.env.OSTREE_LAYER_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return known ? err.exitCode : 70;
}
