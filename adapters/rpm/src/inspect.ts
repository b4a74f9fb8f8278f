/** `inspect --json` for an .rpm: identity, relationships and the file list, as plain JSON. */
import { openRpm } from './package.js';

export async function inspectRpm(file: string): Promise<Record<string, unknown>> {
  return (await openRpm(file)).metadata;
}
