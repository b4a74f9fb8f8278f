/** `ostree-layer inspect --json` for a .deb: control fields (relationships parsed) and the file list. */
import type { InspectedFile } from '@ostree-layer/core';
import type { Paragraph } from './control.js';
import { RELATION_FIELDS, parseRelationField } from './dependencies.js';

const RELATION_KEYS = new Map<string, string>(RELATION_FIELDS.map((f) => [f.toLowerCase(), f]));

/** Plain-JSON metadata of a control paragraph: name/version/arch, parsed relationships, every other field as text. */
export function buildMetadata(control: Paragraph, conffiles: string[]): Record<string, unknown> {
  const relations: Record<string, unknown> = {};
  const fields: Record<string, string> = {};
  for (const [name, value] of control.fields) {
    const rel = RELATION_KEYS.get(name.toLowerCase());
    if (rel) relations[rel] = parseRelationField(value);
    else fields[name] = value;
  }
  return {
    name: control.get('Package'),
    version: control.get('Version'),
    arch: control.get('Architecture'),
    multiArch: control.get('Multi-Arch') ?? 'no',
    installedSize: control.has('Installed-Size') ? Number(control.get('Installed-Size')) : undefined,
    relations,
    fields,
    conffiles,
  };
}

/** Opens a .deb and describes it as plain JSON, its payload listed in archive order. */
export async function inspectDeb(file: string): Promise<Record<string, unknown>> {
  const { openDeb } = await import('./archive.js');
  const pkg = await openDeb(file);
  const files: InspectedFile[] = [];
  for await (const { entry } of pkg.payload()) {
    const f: InspectedFile = { path: entry.path, type: entry.type, mode: entry.mode, user: entry.user, group: entry.group, size: entry.size };
    if (entry.linkTarget !== undefined) f.linkTarget = entry.linkTarget;
    files.push(f);
  }
  const scripts = pkg.infoMembers().map((m) => m.name);
  return { ...pkg.metadata, scripts, dataCompression: pkg.dataCompression, files };
}
