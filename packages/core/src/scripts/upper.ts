/**
 * Reading what scripts changed: the overlay's upper directory after the mount is gone. Overlayfs records a deletion as
 * a character device 0/0 (a whiteout) and a directory whose lower content is hidden as an "opaque" directory (the
 * `trusted.overlay.opaque` xattr), so both are reported as such instead of as content.
 */
import { run } from '../run.js';
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ToolError } from '../errors.js';

export interface UpperEntry {
  /** Path in the tree ("/usr/etc/passwd"). */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'whiteout' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkTarget?: string;
  /** Where the content is on the host. */
  hostPath: string;
  /** A directory that hides whatever the lower layers have below it. */
  opaque?: boolean;
}

/**
 * Every entry of `upper`, parents before children, names sorted (so the layer is the same for the same changes). The
 * walk is synchronous: a scratch directory of a few dozen entries, where a round trip per call cost more than the call.
 */
export async function readUpper(upper: string): Promise<UpperEntry[]> {
  const out: UpperEntry[] = [];
  const walk = (dir: string, treeDir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const hostPath = join(dir, name);
      const path = treeDir === '/' ? `/${name}` : `${treeDir}/${name}`;
      const st = lstatSync(hostPath);
      const meta = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size, hostPath, path };
      if (st.isDirectory()) {
        out.push({ ...meta, type: 'directory', size: 0 });
        walk(hostPath, path);
      } else if (st.isFile()) out.push({ ...meta, type: 'file' });
      else if (st.isSymbolicLink()) out.push({ ...meta, type: 'symlink', linkTarget: readlinkSync(hostPath) });
      else if (st.isCharacterDevice() && st.rdev === 0) out.push({ ...meta, type: 'whiteout', size: 0 });
      else out.push({ ...meta, type: 'other', size: 0 });
    }
  };
  walk(upper, '/');
  // Only directories can be opaque: an upper without any (a pass that changed nothing) needs no getfattr.
  if (out.some((e) => e.type === 'directory')) {
    const opaque = await opaqueDirectories(upper);
    for (const e of out) if (e.type === 'directory' && opaque.has(e.hostPath)) e.opaque = true;
  }
  return out;
}

/** Directories of `upper` carrying overlayfs's opaque mark, as host paths. */
async function opaqueDirectories(upper: string): Promise<Set<string>> {
  // Exits 1 whenever some file lacks the attribute (nearly all do); the ones that have it are on stdout.
  const ran = await run('getfattr', ['--recursive', '--absolute-names', '--physical', '--name=trusted.overlay.opaque', upper], { reject: false }).catch((err: Error) => {
    throw new ToolError(`getfattr (package attr) is needed to read the scripts' changes: ${err.message}`);
  });
  const found = new Set<string>();
  let current: string | undefined;
  for (const line of ran.stdout.split('\n')) {
    const file = /^# file: (.*)$/.exec(line);
    if (file) current = unescapeOctal(file[1]!);
    else if (current && /^trusted\.overlay\.opaque="y"$/.test(line)) found.add(current);
  }
  return found;
}

/** getfattr prints unusual bytes of a name as \ooo octal escapes. */
function unescapeOctal(text: string): string {
  if (!text.includes('\\')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const m = /^\\([0-7]{3})/.exec(text.slice(i));
    if (m) {
      bytes.push(parseInt(m[1]!, 8));
      i += 3;
    } else bytes.push(...Buffer.from(text[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}
