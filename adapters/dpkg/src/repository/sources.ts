/**
 * APT source configuration: one-line `sources.list` entries ("deb [arch=amd64 signed-by=/k.gpg] URI SUITE COMP…")
 * and deb822 `*.sources` stanzas, read from the deployment's /usr/etc/apt and /etc/apt (duplicates merged: on a
 * deployed system /etc is a copy of /usr/etc plus the admin's changes).
 */
import { UsageError, type TreeReader } from '@ostree-layer/core';
import { parseParagraphs } from '../control.js';

export interface SourceEntry {
  /** Base URI without a trailing slash. */
  uri: string;
  /** Suite ("bookworm") or, for a flat repository, a path ending in "/" ("./"). */
  suite: string;
  /** Empty for a flat repository. */
  components: string[];
  /** `arch=` / `Architectures:`: restricts the architectures fetched. */
  architectures?: string[];
  /** Keyring files, or one inline armored key block, trusted for this source only. */
  signedBy?: string[];
  signedByInline?: string;
  /** `trusted=yes`: no signature needed (as apt). */
  trusted?: boolean;
  /** Where the entry was written, for messages ("/etc/apt/sources.list:3", "--source"). */
  origin: string;
  /** Keyring paths are read from the host file system (command-line sources) instead of the tree. */
  hostPaths?: boolean;
}

export class SourceSyntaxError extends UsageError {}

const APT_DIRS = ['/usr/etc/apt', '/etc/apt'];

function splitList(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

/** Parses one sources.list line; null for blank lines, comments and `deb-src`. */
export function parseSourceLine(line: string, origin: string): SourceEntry | null {
  const text = line.replace(/#.*$/, '').trim();
  if (text === '') return null;
  const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)((?:\s+\S+)*)$/.exec(text);
  if (!m) throw new SourceSyntaxError(`${origin}: cannot parse "${text}"; expected "deb [options] URI SUITE [COMPONENT…]"`);
  if (m[1] === 'deb-src') return null;
  const entry: SourceEntry = { uri: m[3].replace(/\/+$/, ''), suite: m[4], components: splitList(m[5] ?? ''), origin };
  // Options are separated by spaces; commas belong to a value (arch=amd64,i386).
  for (const opt of (m[2] ?? '').split(/\s+/).filter(Boolean)) {
    const eq = opt.indexOf('=');
    if (eq < 0) throw new SourceSyntaxError(`${origin}: option "${opt}" needs a value (name=value)`);
    const key = opt.slice(0, eq).toLowerCase().replace(/[+-]$/, '');
    const value = opt.slice(eq + 1);
    if (key === 'arch') entry.architectures = value.split(',');
    else if (key === 'signed-by') entry.signedBy = value.split(',');
    else if (key === 'trusted') entry.trusted = value === 'yes';
  }
  checkEntry(entry);
  return entry;
}

function checkEntry(entry: SourceEntry): void {
  if (entry.suite.endsWith('/') ? entry.components.length > 0 : entry.components.length === 0) {
    throw new SourceSyntaxError(
      `${entry.origin}: "${entry.suite}" ${entry.suite.endsWith('/') ? 'is a flat repository path and takes no components' : 'needs at least one component (e.g. main)'}`,
    );
  }
}

/** Parses a deb822 `.sources` file into one entry per URI × suite. Disabled stanzas (`Enabled: no`) are skipped. */
export function parseSourcesFile(text: string, origin: string): SourceEntry[] {
  const out: SourceEntry[] = [];
  let paragraphs;
  try {
    paragraphs = parseParagraphs(text);
  } catch (err) {
    throw new SourceSyntaxError(`${origin}: ${(err as Error).message}`);
  }
  for (const p of paragraphs) {
    if ((p.get('Enabled') ?? 'yes').trim().toLowerCase() === 'no') continue;
    const types = splitList(p.get('Types') ?? '');
    if (!types.includes('deb')) continue;
    const uris = splitList(p.get('URIs') ?? '');
    const suites = splitList(p.get('Suites') ?? '');
    if (uris.length === 0 || suites.length === 0) throw new SourceSyntaxError(`${origin}: a stanza needs URIs and Suites`);
    const signed = p.get('Signed-By')?.trim();
    const inline = signed?.includes('BEGIN PGP PUBLIC KEY BLOCK') ? unfoldKey(signed) : undefined;
    for (const uri of uris) {
      for (const suite of suites) {
        const entry: SourceEntry = { uri: uri.replace(/\/+$/, ''), suite, components: splitList(p.get('Components') ?? ''), origin };
        const arches = p.get('Architectures');
        if (arches) entry.architectures = splitList(arches);
        if (inline) entry.signedByInline = inline;
        else if (signed) entry.signedBy = splitList(signed);
        if ((p.get('Trusted') ?? '').trim() === 'yes') entry.trusted = true;
        checkEntry(entry);
        out.push(entry);
      }
    }
  }
  return out;
}

/** deb822 folds the key block: continuation lines start with a space and empty lines are written as " .". */
function unfoldKey(value: string): string {
  return value
    .split('\n')
    .map((l) => l.replace(/^ /, ''))
    .map((l) => (l === '.' ? '' : l))
    .join('\n');
}

async function readIfFile(tree: TreeReader, path: string): Promise<string | undefined> {
  const st = await tree.lstat(path);
  if (!st || (st.type !== 'file' && st.type !== 'symlink')) return undefined;
  try {
    return (await tree.readFile(path)).toString('utf8');
  } catch {
    return undefined;
  }
}

/** Every source the tree configures (both /usr/etc/apt and /etc/apt), then `extra` command-line lines. */
export async function readSources(tree: TreeReader, extra: string[] = []): Promise<SourceEntry[]> {
  const found: SourceEntry[] = [];
  for (const dir of APT_DIRS) {
    const main = await readIfFile(tree, `${dir}/sources.list`);
    if (main !== undefined) {
      main.split('\n').forEach((line, i) => {
        const e = parseSourceLine(line, `${dir}/sources.list:${i + 1}`);
        if (e) found.push(e);
      });
    }
    const d = `${dir}/sources.list.d`;
    if ((await tree.lstat(d))?.type !== 'directory') continue;
    for (const name of (await tree.readdir(d)).sort()) {
      const text = await readIfFile(tree, `${d}/${name}`);
      if (text === undefined) continue;
      if (name.endsWith('.list')) {
        text.split('\n').forEach((line, i) => {
          const e = parseSourceLine(line, `${d}/${name}:${i + 1}`);
          if (e) found.push(e);
        });
      } else if (name.endsWith('.sources')) found.push(...parseSourcesFile(text, `${d}/${name}`));
    }
  }
  for (const line of extra) {
    const e = line.includes('\n') || /^types:/im.test(line) ? parseSourcesFile(line, '--source') : [parseSourceLine(line, '--source')];
    for (const entry of e) if (entry) found.push({ ...entry, hostPaths: true });
  }
  const seen = new Set<string>();
  return found.filter((e) => {
    const key = `${e.uri} ${e.suite} ${e.components.join(',')} ${e.architectures?.join(',') ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
