/**
 * The sync repositories a deployment's pacman would use: `pacman.conf` from the tree (`/usr/etc`, where an OSTree
 * commit keeps /etc), its `[repo]` sections with `Server` lines (`$repo` and `$arch` expanded) and `Include`d mirror
 * lists, and `SigLevel` (judged in signature.ts). Extra repositories from the command line are "NAME URL" (`--source "extra
 * https://mirror/extra/os/x86_64"`).
 */
import { UsageError, type TreeReader } from '@ostree-layer/core';

export interface SyncRepoConfig {
  name: string;
  /** Server URLs in order, expanded. */
  servers: string[];
  /** The SigLevel words in the order pacman applies them: [options]'s, then the repository's own. */
  sigLevel: string[];
  /** Where it was configured ("/usr/etc/pacman.conf", "--source"). */
  configuredIn: string;
}

/** What `Architecture = auto` means on this machine, in pacman's names. */
export function hostArch(): string {
  return ({ x64: 'x86_64', arm64: 'aarch64', ia32: 'i686', arm: 'armv7h' } as Record<string, string>)[process.arch] ?? process.arch;
}

async function readConfigFile(tree: TreeReader, path: string): Promise<string | undefined> {
  // /etc of a commit is /usr/etc; a tree that still has /etc (not OSTree-ready) keeps it there.
  for (const candidate of path.startsWith('/etc/') ? [`/usr${path}`, path] : [path]) {
    if ((await tree.lstat(candidate))?.type === 'file') return (await tree.readFile(candidate)).toString('utf8');
  }
  return undefined;
}

interface Section {
  name: string;
  entries: Array<[string, string]>;
}

async function parseIni(tree: TreeReader, path: string, text: string, into: Section[], depth = 0): Promise<void> {
  if (depth > 8) throw new UsageError(`${path}: Include nested too deep`);
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      into.push({ name: section[1]!.trim(), entries: [] });
      continue;
    }
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    const value = eq < 0 ? '' : line.slice(eq + 1).trim();
    const current = into.at(-1);
    if (!current) continue;
    if (key === 'Include') {
      const included = await readConfigFile(tree, value);
      if (included === undefined) throw new UsageError(`${path}: Include = ${value}, which the deployment does not have`);
      const inner: Section[] = [{ name: current.name, entries: [] }];
      await parseIni(tree, value, included, inner, depth + 1);
      current.entries.push(...inner[0]!.entries);
      continue;
    }
    current.entries.push([key, value]);
  }
}

/** The tree's pacman.conf as sections, `Include`s resolved; none when the tree has no pacman.conf. */
async function readPacmanConf(tree: TreeReader): Promise<Section[]> {
  const sections: Section[] = [];
  const text = await readConfigFile(tree, CONF_PATH);
  if (text !== undefined) await parseIni(tree, CONF_PATH, text, sections);
  return sections;
}

const CONF_PATH = '/etc/pacman.conf';
const values = (s: Section | undefined, key: string) => s?.entries.filter(([k]) => k === key).map(([, v]) => v) ?? [];

/** `Architecture` of [options] when pacman.conf names one (not "auto"), else undefined. */
export async function configuredArch(tree: TreeReader): Promise<string | undefined> {
  const arch = values((await readPacmanConf(tree)).find((s) => s.name === 'options'), 'Architecture')[0]?.split(/\s+/)[0];
  return arch && arch !== 'auto' ? arch : undefined;
}

/** The enabled sync repositories, in pacman.conf order, then the extra ones; `$arch` is the target's architecture. */
export async function readSyncConfig(tree: TreeReader, arch: string, extraSources: string[] = []): Promise<SyncRepoConfig[]> {
  const sections = await readPacmanConf(tree);
  const options = sections.find((s) => s.name === 'options');
  const get = values;
  const globalSig = get(options, 'SigLevel').flatMap((v) => v.split(/\s+/));
  const expand = (url: string, repo: string) => url.replace(/\$repo/g, repo).replace(/\$arch/g, arch).replace(/\/+$/, '');
  const repos: SyncRepoConfig[] = sections
    .filter((s) => s.name !== 'options')
    .map((s) => {
      const sig = get(s, 'SigLevel').flatMap((v) => v.split(/\s+/));
      return { name: s.name, servers: get(s, 'Server').map((u) => expand(u, s.name)), sigLevel: [...globalSig, ...sig], configuredIn: `/usr${CONF_PATH}` };
    });
  for (const line of extraSources) {
    const [name, url, ...rest] = line.trim().split(/\s+/);
    if (!name || !url || rest.length > 0 || !/^(file|https?):/.test(url)) {
      throw new UsageError(`--source ${JSON.stringify(line)}: a pacman repository is "NAME URL" (the directory holding NAME.db)`);
    }
    repos.push({ name, servers: [expand(url, name)], sigLevel: globalSig, configuredIn: '--source' });
  }
  return repos;
}
