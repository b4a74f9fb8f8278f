/** The GLib key-file format of ostree's origin files: `[group]` headers and `key=value` lines. */
export type Ini = Record<string, Record<string, string>>;

export function parseIni(text: string): Ini {
  const out: Ini = {};
  let group: Record<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      group = out[header[1]] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (group && eq > 0) group[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

export function formatIni(ini: Ini): string {
  return Object.entries(ini)
    .map(([name, keys]) => `[${name}]\n` + Object.entries(keys).map(([k, v]) => `${k}=${v}\n`).join(''))
    .join('\n');
}
