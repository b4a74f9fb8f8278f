/** Install-by-name helpers and the repository verbs (`search`, `show`) over the deployment's configured sources. */
import { existsSync, statSync } from 'node:fs';
import { DEFAULT_CACHE_DIR, DirectoryTree, formatBytes, openRepositoryTarget, Sysroot, UsageError, type InstallResult, type TreeReader } from '@ostree-layer/core';
import { detect, PLUGINS } from './backends.js';
import { formatValue, printJson } from './output.js';
import { renderer } from './progress.js';

export interface RepoOpts {
  sysroot?: string;
  os?: string;
  json?: boolean;
  source?: string[];
  cacheDir?: string;
  allowUnauthenticated?: boolean;
  /** commander's negated `--no-install-recommends`. */
  installRecommends?: boolean;
}

/** An argument that is an existing file or ends in a package extension is a file; anything else is a name. */
export function splitArguments(args: string[]): { files: string[]; names: string[] } {
  const files: string[] = [];
  const names: string[] = [];
  const extensions = PLUGINS.map((p) => `.${p.backend.extension}`);
  for (const a of args) {
    let isFile = extensions.some((e) => a.endsWith(e));
    try {
      isFile ||= statSync(a).isFile();
    } catch {
      // Not a path on disk: a name.
    }
    (isFile ? files : names).push(a);
  }
  return { files, names };
}

/** apt-get -s style: the new packages, the counts, download and installed size, then one Inst line each. */
export function printAptPlan(result: InstallResult): void {
  console.log('The following NEW packages will be installed:');
  const names = result.install.map((p) => p.name);
  let line = ' ';
  for (const n of names) {
    if (line.length + n.length + 1 > 79) {
      console.log(line);
      line = ' ';
    }
    line += ` ${n}`;
  }
  console.log(line);
  console.log(`0 upgraded, ${names.length} newly installed, 0 to remove and 0 not upgraded.`);
  console.log(`Need to get ${formatBytes(result.downloadSize ?? 0)} of archives.`);
  console.log(`After this operation, ${formatBytes(result.installedSize ?? 0)} of additional disk space will be used.`);
  for (const p of result.install) console.log(`Inst ${p.name} (${p.version} [${p.arch}])`);
}

async function openTree(opts: RepoOpts): Promise<TreeReader> {
  if (!opts.sysroot && !existsSync('/run/ostree-booted')) return new DirectoryTree('/');
  const sysroot = Sysroot.open(opts.sysroot);
  const deployment = await sysroot.target(opts.os);
  return new DirectoryTree(deployment.dir);
}

async function openRepositories(opts: RepoOpts) {
  const tree = await openTree(opts);
  const { plugin, location } = await detect(tree);
  const rb = plugin.repositories;
  if (!rb) throw new UsageError(`the ${plugin.backend.name} backend has no repository support yet`);
  const database = await plugin.backend.openDatabase(tree, location);
  return rb.openRepositories({
    ...(await openRepositoryTarget(rb, tree, database)),
    cacheDir: opts.cacheDir ?? DEFAULT_CACHE_DIR,
    extraSources: opts.source,
    allowUnauthenticated: opts.allowUnauthenticated,
    report: renderer({ json: Boolean(opts.json) }),
  });
}

export async function runSearch(pattern: string, opts: RepoOpts): Promise<void> {
  const hits = (await openRepositories(opts)).search(pattern);
  if (opts.json) return printJson(hits);
  for (const h of hits) console.log(`${h.name}/${h.version} ${h.arch}\n  ${h.summary}\n`);
  if (hits.length === 0) process.exitCode = 1;
}

export async function runShow(name: string, opts: RepoOpts): Promise<void> {
  const records = await (await openRepositories(opts)).show(name);
  if (records.length === 0) throw new UsageError(`no package named ${name} in the configured repositories`);
  if (opts.json) return printJson(records);
  console.log(records.map((r) => Object.entries(r).map(([k, v]) => `${k}: ${formatValue(v).replace(/\n/g, '\n  ')}`).join('\n')).join('\n\n'));
}
