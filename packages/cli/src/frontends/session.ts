/** What the apt and dnf front ends share once they run a verb: the deployment, its repositories, the prompt, tables. */
import { createInterface } from 'node:readline';
import {
  DEFAULT_CACHE_DIR, DirectoryTree, openRepositoryTarget, readLayerState, Sysroot, UsageError,
  type Backend, type FormatPlugin, type InstalledDatabase, type InstalledPackage, type LayerState, type RepositoryBackend, type RepositorySet, type RepositoryTarget,
  type TreeReader,
} from '@ostree-layer/core';
import { detect } from '../backends.js';
import { renderer } from '../progress.js';
import type { Session } from './options.js';

export interface Deployed {
  tree: TreeReader;
  plugin: FormatPlugin;
  backend: Backend;
  database: InstalledDatabase;
  installed: InstalledPackage[];
  state: LayerState | null;
  /** "name:arch" of every package ostree-layer layered. */
  layered: Set<string>;
}

/** The deployment a transaction would start from (booted, else the default one), opened read-only. */
export async function openDeployment(session: Session): Promise<Deployed> {
  const sysroot = Sysroot.open(session.sysroot);
  const deployment = await sysroot.target(session.os);
  const tree = new DirectoryTree(deployment.dir);
  const { plugin, location } = await detect(tree);
  const { backend } = plugin;
  const database = await backend.openDatabase(tree, location);
  const state = await readLayerState(tree);
  return {
    tree,
    plugin,
    backend,
    database,
    installed: await database.packages(),
    state,
    layered: new Set((state?.packages ?? []).map((p) => `${p.name}:${p.arch}`)),
  };
}

/** The deployment's repositories (its APT sources or .repo files plus `--source`), loaded and verified. */
export async function openRepositories(session: Session, deployed: Deployed): Promise<RepositorySet> {
  const { repositories, target } = await repositoryTarget(deployed);
  return repositories.openRepositories({
    ...target,
    cacheDir: session.cacheDir ?? DEFAULT_CACHE_DIR,
    extraSources: session.sources,
    allowUnauthenticated: session.allowUnauthenticated,
    report: renderer({ json: false }),
  });
}

/** The deployment's format's repository side with the target opened (its arch read from the database). */
export async function repositoryTarget(deployed: Deployed): Promise<{ repositories: RepositoryBackend; target: RepositoryTarget }> {
  const repositories = deployed.plugin.repositories;
  if (!repositories) throw new UsageError(`the ${deployed.backend.name} backend has no repository support yet`);
  return { repositories, target: await openRepositoryTarget(repositories, deployed.tree, deployed.database) };
}

/**
 * Asks on stdout and reads one line of stdin, as apt and dnf do (so `echo n | apt install x` answers no). An empty
 * answer takes the default; end of input answers no.
 */
export async function ask(question: string, defaultYes: boolean): Promise<boolean> {
  process.stdout.write(question);
  const answer = await readLine();
  if (answer === null) {
    process.stdout.write('\n');
    return false;
  }
  const a = answer.trim().toLowerCase();
  return a === '' ? defaultYes : a === 'y' || a === 'yes';
}

function readLine(): Promise<string | null> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, terminal: false });
    let done = false;
    rl.once('line', (line) => {
      done = true;
      rl.close();
      process.stdin.pause();
      resolve(line);
    });
    rl.once('close', () => {
      if (!done) resolve(null);
    });
  });
}

/** The answer the session's -y / --assume-no gives, or the user's. */
export async function confirm(session: Session, question: string, defaultYes: boolean): Promise<boolean> {
  if (session.assume === 'yes') return true;
  if (session.assume === 'no') {
    process.stdout.write(`${question}N\n`);
    return false;
  }
  return ask(question, defaultYes);
}

/** Columns padded to their widest cell, as apt and dnf line up their tables. */
export function table(rows: string[][], indent = ''): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** Names wrapped to 80 columns under a heading, two spaces in, as apt lists packages. */
export function wrapNames(names: string[]): string[] {
  const lines: string[] = [];
  let line = ' ';
  for (const n of names) {
    if (line.length + n.length + 1 > 79 && line.trim()) {
      lines.push(line);
      line = ' ';
    }
    line += ` ${n}`;
  }
  if (line.trim()) lines.push(line);
  return lines;
}

