/**
 * The deployment's yum/dnf repository configuration: `.repo` files from `/usr/etc/yum.repos.d` and `/etc/yum.repos.d`
 * (an OSTree deployment keeps its /etc defaults in /usr/etc), `[main]` defaults from dnf.conf, `$releasever` from
 * os-release and `$basearch` from the installed packages.
 */
import { readFile } from 'node:fs/promises';
import { UsageError, parseIni, type TreeReader } from '@ostree-layer/core';

export interface RepoConfig {
  id: string;
  name: string;
  /** Mirrors of the repository root (the directory holding `repodata/`), tried in order. */
  baseurls: string[];
  enabled: boolean;
  /** Packages must carry a header signature by one of `gpgkeys`. */
  gpgcheck: boolean;
  /** repomd.xml must have a valid detached signature (repomd.xml.asc) by one of `gpgkeys`. */
  repoGpgcheck: boolean;
  /** Key locations as written (file:// or http(s)://), variables substituted. */
  gpgkeys: string[];
  /** Where the definition came from, for messages. */
  source: string;
}

export interface RepoVariables {
  releasever: string;
  basearch: string;
  arch: string;
}

const REPO_DIRS = ['/usr/etc/yum.repos.d', '/etc/yum.repos.d'];
const DNF_CONF = ['/usr/etc/dnf/dnf.conf', '/etc/dnf/dnf.conf', '/usr/etc/yum.conf', '/etc/yum.conf'];

export function parseBool(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  const v = value.toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(v)) return true;
  if (['0', 'no', 'false', 'off'].includes(v)) return false;
  return fallback;
}

/** rpm's basearch for an arch (i686 → i386, the family name repositories use in their URLs). */
export function baseArchOf(arch: string): string {
  if (/^i[3-6]86$|^athlon$|^geode$|^pentium[34]$/.test(arch)) return 'i386';
  if (/^armv[67]h/.test(arch)) return 'armhfp';
  return arch;
}

export function substitute(text: string, vars: RepoVariables): string {
  const table: Record<string, string> = { releasever: vars.releasever, basearch: vars.basearch, arch: vars.arch };
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => table[braced ?? bare ?? ''] ?? whole);
}

/** VERSION_ID of the tree's os-release, as dnf derives $releasever (without the system-release package lookup). */
export async function releaseVersion(tree: TreeReader): Promise<string> {
  for (const path of ['/usr/etc/os-release', '/etc/os-release', '/usr/lib/os-release']) {
    const text = await readTreeText(tree, path);
    if (text === undefined) continue;
    const m = /^VERSION_ID=("?)([^"\n]*)\1\s*$/m.exec(text);
    if (m) return m[2];
  }
  return '';
}

/** Text of a file in the tree, following symlinks inside the tree; undefined when absent. */
export async function readTreeText(tree: TreeReader, path: string): Promise<string | undefined> {
  let current = path;
  for (let hops = 0; hops < 8; hops++) {
    const st = await tree.lstat(current).catch(() => null);
    if (!st) return undefined;
    if (st.type === 'file') return (await tree.readFile(current)).toString('utf8');
    if (st.type !== 'symlink') return undefined;
    const target = await tree.readlink(current);
    current = target.startsWith('/') ? target : joinPosix(current.slice(0, current.lastIndexOf('/')) || '/', target);
  }
  return undefined;
}

function joinPosix(dir: string, rel: string): string {
  const parts = `${dir}/${rel}`.split('/');
  const out: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') out.pop();
    else out.push(p);
  }
  return '/' + out.join('/');
}

/** URL lists in .repo files are separated by whitespace or commas (and continuation lines, joined by parseIni's caller). */
function splitList(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,]+/).filter(Boolean);
}

/** Joins the continuation lines of a .repo file (an indented line continues the previous value), then parses INI. */
function parseRepoText(text: string): Record<string, Record<string, string>> {
  const joined = text.replace(/\n[ \t]+(?=\S)/g, ' ');
  return parseIni(joined);
}

export function reposFromText(text: string, source: string, vars: RepoVariables, defaults: { gpgcheck: boolean; repoGpgcheck: boolean }): RepoConfig[] {
  const out: RepoConfig[] = [];
  for (const [id, keys] of Object.entries(parseRepoText(text))) {
    if (id === 'main') continue;
    const sub = (v: string | undefined) => (v === undefined ? undefined : substitute(v, vars));
    out.push({
      id,
      name: sub(keys.name) ?? id,
      baseurls: splitList(sub(keys.baseurl)).map((u) => u.replace(/\/+$/, '')),
      enabled: parseBool(keys.enabled, true),
      gpgcheck: parseBool(keys.gpgcheck, defaults.gpgcheck),
      repoGpgcheck: parseBool(keys.repo_gpgcheck, defaults.repoGpgcheck),
      gpgkeys: splitList(sub(keys.gpgkey)),
      source,
    });
  }
  return out;
}

/**
 * Every repository the tree configures, plus the command line's: a path to a `.repo` file, or a baseurl optionally
 * followed by `key=value` options ("file:///srv/repo gpgcheck=1 gpgkey=file:///srv/key.asc").
 */
export async function readRepoConfigs(tree: TreeReader, vars: RepoVariables, extra: string[] = []): Promise<RepoConfig[]> {
  let defaults = { gpgcheck: false, repoGpgcheck: false };
  for (const path of DNF_CONF) {
    const text = await readTreeText(tree, path);
    if (text === undefined) continue;
    const main = parseRepoText(text).main ?? {};
    defaults = { gpgcheck: parseBool(main.gpgcheck, defaults.gpgcheck), repoGpgcheck: parseBool(main.repo_gpgcheck, defaults.repoGpgcheck) };
    break;
  }
  const byId = new Map<string, RepoConfig>();
  for (const dir of REPO_DIRS) {
    const names = await tree.readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('.repo')).sort()) {
      const text = await readTreeText(tree, `${dir}/${name}`);
      // /etc overrides /usr/etc defaults repo by repo, as the 3-way merged /etc would.
      for (const repo of reposFromText(text ?? '', `${tree.description}${dir}/${name}`, vars, defaults)) byId.set(repo.id, repo);
    }
  }
  let n = 0;
  for (const line of extra) {
    const words = line.trim().split(/\s+/);
    if (words[0].endsWith('.repo') && !/^\w+:\/\//.test(words[0])) {
      let text: string;
      try {
        text = await readFile(words[0], 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read repository file ${words[0]} (${(err as Error).message}); give a .repo file or a baseurl`);
      }
      for (const repo of reposFromText(text, words[0], vars, defaults)) byId.set(repo.id, { ...repo, enabled: true });
      continue;
    }
    if (!/^(file|https?):\/\//.test(words[0])) throw new UsageError(`repository "${line}": give a .repo file or a file://, http:// or https:// baseurl`);
    const options = Object.fromEntries(words.slice(1).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
    const id = `cmdline-${++n}`;
    byId.set(id, {
      id, name: words[0], baseurls: [substitute(words[0], vars).replace(/\/+$/, '')], enabled: true,
      gpgcheck: parseBool(options.gpgcheck, defaults.gpgcheck), repoGpgcheck: parseBool(options.repo_gpgcheck, defaults.repoGpgcheck),
      gpgkeys: splitList(options.gpgkey && substitute(options.gpgkey, vars)), source: 'command line',
    });
  }
  return [...byId.values()];
}
