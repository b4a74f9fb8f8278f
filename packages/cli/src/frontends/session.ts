/**
 * What the apt and dnf front ends share: where they work (the booted system, or a sysroot on disk named by options or
 * by OSTREE_LAYER_SYSROOT / OSTREE_LAYER_OS), the deployment's database and repositories, and the yes/no prompt.
 */
import { createInterface } from 'node:readline';
import {
  DEFAULT_CACHE_DIR, DirectoryTree, detectBackend, readLayerState, Sysroot, UsageError,
  type Backend, type InstalledDatabase, type InstalledPackage, type LayerState, type RepositorySet, type TreeReader,
} from '@ostree-layer/core';
import { BACKENDS, REPOSITORY_BACKENDS } from '../backends.js';

/** Options every front end understands, parsed from its own syntax. */
export interface Session {
  /** The front end's name as invoked ("apt", "apt-get", "dnf"), for messages. */
  me: string;
  sysroot?: string;
  os?: string;
  cacheDir: string;
  sources: string[];
  allowUnauthenticated: boolean;
  noRecommends: boolean;
  /** -y answers yes, --assume-no answers no, otherwise the user is asked. */
  assume: 'ask' | 'yes' | 'no';
  simulate: boolean;
  quiet: boolean;
}

export function newSession(me: string): Session {
  const env = process.env;
  return {
    me,
    sysroot: env.OSTREE_LAYER_SYSROOT || undefined,
    os: env.OSTREE_LAYER_OS || undefined,
    cacheDir: env.OSTREE_LAYER_CACHE_DIR || DEFAULT_CACHE_DIR,
    sources: [],
    allowUnauthenticated: false,
    noRecommends: false,
    assume: 'ask',
    simulate: false,
    quiet: false,
  };
}

/**
 * Takes the options both front ends accept the same way (`--sysroot`, `--os`, `--source`, `--cache-dir`, with a
 * value after a space or `=`); returns how many arguments were consumed, 0 when `args[i]` is none of them.
 */
export function commonOption(session: Session, args: string[], i: number): number {
  const m = /^--(sysroot|os|source|cache-dir)(?:=(.*))?$/.exec(args[i]!);
  if (!m) return 0;
  const value = m[2] ?? args[i + 1];
  if (value === undefined) throw new UsageError(`${args[i]} needs a value`);
  if (m[1] === 'sysroot') session.sysroot = value;
  else if (m[1] === 'os') session.os = value;
  else if (m[1] === 'source') session.sources.push(value);
  else session.cacheDir = value;
  return m[2] === undefined ? 2 : 1;
}

/** The transaction target for the engine. */
export function targetOf(session: Session): { sysroot?: string; osName?: string } {
  return { sysroot: session.sysroot, osName: session.os };
}

export interface Deployed {
  tree: TreeReader;
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
  const { backend, location } = await detectBackend(BACKENDS, tree);
  const database = await backend.openDatabase(tree, location);
  const state = await readLayerState(tree);
  return {
    tree,
    backend,
    database,
    installed: await database.packages(),
    state,
    layered: new Set((state?.packages ?? []).map((p) => `${p.name}:${p.arch}`)),
  };
}

/** The deployment's repositories (its APT sources or .repo files plus `--source`), loaded and verified. */
export async function openRepositories(session: Session, deployed: Deployed): Promise<RepositorySet> {
  const rb = REPOSITORY_BACKENDS[deployed.backend.name];
  if (!rb) throw new UsageError(`the ${deployed.backend.name} backend has no repository support yet`);
  return rb.openRepositories({
    tree: deployed.tree,
    cacheDir: session.cacheDir,
    extraSources: session.sources,
    allowUnauthenticated: session.allowUnauthenticated,
    progress: (line) => process.stderr.write(`${line}\n`),
  });
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

/** What cannot work on OSTree, with the reason and what to use instead: exit 2 with the explanation. */
export function unavailable(session: Session, verb: string, why: string): never {
  throw new UsageError(`'${verb}' is not available on an OSTree system: ${why}`);
}
