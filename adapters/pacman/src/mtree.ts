/**
 * `.MTREE`: the gzip'd mtree listing makepkg writes (bsdtar's mtree writer) and pacman copies into the local
 * database as `mtree`, where `pacman -Qkk` checks files against it. Lines are "./path key=value…", with `/set` and
 * `/unset` carrying defaults; names escape unusual bytes as "\ooo" octal.
 */
import { gunzipSync } from 'node:zlib';

export interface MtreeEntry {
  /** Absolute path ("/usr/bin/hello"). */
  path: string;
  keywords: Map<string, string>;
}

export class MtreeError extends Error {}

/** Undoes the "\ooo" escapes of an mtree name (bytes, then UTF-8). */
function unescapeName(name: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const m = name[i] === '\\' ? /^[0-7]{3}/.exec(name.slice(i + 1)) : null;
    if (m) {
      bytes.push(parseInt(m[0], 8));
      i += 3;
    } else {
      for (const b of Buffer.from(name[i]!, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Parses a (gzip'd or plain) mtree listing into entries with the `/set` defaults applied. */
export function parseMtree(data: Buffer): MtreeEntry[] {
  const text = (data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data).toString('utf8');
  const defaults = new Map<string, string>();
  const out: MtreeEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [first, ...words] = line.split(/\s+/);
    const pairs = words.map((w) => {
      const eq = w.indexOf('=');
      return eq < 0 ? [w, ''] : [w.slice(0, eq), w.slice(eq + 1)];
    });
    if (first === '/set') {
      for (const [k, v] of pairs) defaults.set(k!, v!);
      continue;
    }
    if (first === '/unset') {
      for (const [k] of pairs) if (k === 'all') defaults.clear(); else defaults.delete(k!);
      continue;
    }
    if (!first!.startsWith('./') && first !== '.') throw new MtreeError(`entry ${JSON.stringify(first)} is not relative to "."`);
    const keywords = new Map(defaults);
    for (const [k, v] of pairs) keywords.set(k!, k === 'link' ? unescapeName(v!) : v!);
    out.push({ path: unescapeName(first!).slice(1) || '/', keywords });
  }
  return out;
}

/** The md5 of each regular file the listing records, by absolute path (for the database's %BACKUP%). */
export function mtreeMd5s(entries: MtreeEntry[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of entries) {
    const md5 = e.keywords.get('md5digest') ?? e.keywords.get('md5');
    if (md5 && (e.keywords.get('type') ?? 'file') === 'file') out.set(e.path, md5);
  }
  return out;
}
