/**
 * The ostree driver: the only place that runs the `ostree` binary. Every call names the repo explicitly and turns a
 * failure into a ToolError carrying ostree's own message.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { DiskFullError, ToolError } from './errors.js';
import { interruptSignal } from './interrupt.js';
import { ObjectReader } from './repo-objects.js';
import { CommandError, run } from './run.js';

export interface CommitOptions {
  /**
   * Trees overlaid in order; later ones win. `ref:` a commit or ref, `tar:` a stream fed on stdin, `linkedDir:` a
   * directory whose files are hardlinks of this repo's objects (a checkout): committed with `--link-checkout-speedup`,
   * so ostree takes each file's checksum from its inode instead of reading it.
   */
  trees: Array<{ ref: string } | { tar: Readable } | { linkedDir: string }>;
  /** Ref to point at the new commit; without one the commit is written as an orphan. */
  branch?: string;
  subject?: string;
  metadata?: Record<string, string>;
  /** Aborting kills ostree before it writes the commit or moves the ref. */
  signal?: AbortSignal;
}

/** ostree's ref syntax (ostree-core.c, OSTREE_REF_REGEXP), ASCII only: fragments of word characters, `-`, `.`, `_`. */
const REF_NAME = /^[A-Za-z0-9_][-._A-Za-z0-9_]*(\/[A-Za-z0-9_][-._A-Za-z0-9_]*)*$/;
let refWrites = 0;

export class OstreeRepo {
  private objectReader?: ObjectReader | null;
  /** The flush running, and the one waiting to start after it (see {@link flush}). */
  private flushing?: Promise<void>;
  private nextFlush?: Promise<void>;

  constructor(readonly path: string) {}

  /** The in-process reader of this repo's objects when it is `bare` (see repo-objects.ts); null: ask `ostree`. */
  objects(): ObjectReader | null {
    if (this.objectReader === undefined) this.objectReader = ObjectReader.open(this.path);
    return this.objectReader;
  }

  private async run(args: string[], input?: Readable, signal?: AbortSignal): Promise<string> {
    try {
      // A signal that stops the transaction kills writers too (interrupt.ts).
      const cancelSignal = signal ? AbortSignal.any([signal, interruptSignal]) : interruptSignal;
      return (await run('ostree', args, { input, signal: cancelSignal })).stdout;
    } catch (err) {
      const stderr = err instanceof CommandError ? err.stderr : '';
      if (/No space left on device|Disk quota exceeded|min-free-space-(percent|size) .* would be exceeded/.test(stderr)) {
        throw new DiskFullError(`no space left on the disk holding ${this.path} (ostree ${args[1] ?? args[0]}: ${stderr.trim()}); free some space (ostree admin cleanup, ostree prune) and run it again`, { cause: err });
      }
      throw toolError(`ostree ${args[0]}`, err);
    }
  }

  /**
   * The commit a local ref points to, read from the repo's refs/heads (ostree's on-disk layout) without spawning
   * ostree: the importer asks once per package.
   */
  async refCommit(ref: string): Promise<string | null> {
    try {
      const text = (await readFile(join(this.path, 'refs/heads', ref), 'utf8')).trim();
      return /^[0-9a-f]{64}$/.test(text) ? text : null;
    } catch {
      return null;
    }
  }

  /** The commit a ref or revision resolves to, or null when it does not exist. */
  async resolve(rev: string): Promise<string | null> {
    try {
      const out = await run('ostree', [`--repo=${this.path}`, 'rev-parse', rev]);
      return out.stdout.trim();
    } catch {
      return null;
    }
  }

  /**
   * Whether the commit object is in the repo (its file under objects/, ostree's on-disk layout): `rev-parse` of a
   * checksum answers without looking.
   */
  hasCommit(commit: string): boolean {
    return /^[0-9a-f]{64}$/.test(commit) && existsSync(join(this.path, 'objects', commit.slice(0, 2), `${commit.slice(2)}.commit`));
  }

  /**
   * Points `ref` at `commit` (creating or moving it). Written as the loose ref file ostree keeps (`refs/heads/<ref>`:
   * the checksum and a newline; {@link refCommit} reads it the same way), made under the repo's tmp and renamed into
   * place, so a reader sees the old commit or the new one: a process per ref was most of what holding a deployment's
   * layers cost before a deploy. A name ostree's ref syntax refuses, a commit not in the repo, or a path in the way
   * goes through `ostree refs`, which says why. `durable: false` skips the file's fsync, for a ref that an
   * `ostree admin deploy` right after puts on disk with everything else (it syncs the file system before it switches
   * the boot loader to the new deployment).
   */
  async setRef(ref: string, commit: string, { durable = true }: { durable?: boolean } = {}): Promise<void> {
    if (REF_NAME.test(ref) && this.hasCommit(commit)) {
      const file = join(this.path, 'refs/heads', ref);
      const temp = join(this.path, 'tmp', `ostree-layer-ref-${process.pid}-${++refWrites}`);
      try {
        await mkdir(dirname(file), { recursive: true });
        const handle = await open(temp, 'wx', 0o644);
        try {
          await handle.writeFile(`${commit}\n`);
          if (durable) await handle.sync();
        } finally {
          await handle.close();
        }
        // A stop may be putting the transaction's refs back right now: this one must not land after that.
        if (interruptSignal.aborted) throw new Error('interrupted');
        await rename(temp, file);
        return;
      } catch (err) {
        await rm(temp, { force: true });
        if (interruptSignal.aborted) throw err;
      }
    }
    await this.run([`--repo=${this.path}`, 'refs', '--force', `--create=${ref}`, commit]);
  }

  /**
   * Flushes the file system holding the repo (`sync -f`), so that objects written in-process (object-writer.ts) are on
   * disk before a ref names them, as ostree's own commit does before it moves a ref. Calls that come while a flush
   * runs share the next one, which starts after it: each caller's writes are covered, with one process for them all.
   */
  flush(): Promise<void> {
    this.nextFlush ??= this.flushAfter(this.flushing);
    return this.nextFlush;
  }

  private async flushAfter(previous: Promise<void> | undefined): Promise<void> {
    await previous?.catch(() => undefined);
    // Running now: later callers wait for the one after this.
    this.flushing = this.nextFlush;
    this.nextFlush = undefined;
    try {
      await run('sync', ['-f', join(this.path, 'objects')], { signal: interruptSignal });
    } catch (err) {
      throw toolError('sync', err);
    }
  }

  /**
   * Every local ref under the ref directory `prefix` (full names): the files below `refs/heads/<prefix>`, where ostree
   * keeps loose refs (as {@link refCommit} reads them), without a process.
   */
  async listRefs(prefix: string): Promise<string[]> {
    const found: string[] = [];
    const walk = async (name: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(join(this.path, 'refs/heads', name), { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const entry of entries) {
        if (entry.isDirectory()) await walk(`${name}/${entry.name}`);
        else if (entry.isFile()) found.push(`${name}/${entry.name}`);
      }
    };
    await walk(prefix);
    return found.sort();
  }

  /** Deletes these exact refs (never a prefix: each is a full name that `listRefs` returned). */
  async deleteRefs(refs: string[]): Promise<void> {
    for (let i = 0; i < refs.length; i += 200) await this.run([`--repo=${this.path}`, 'refs', '--delete', ...refs.slice(i, i + 200)]);
  }

  /** `ostree pull REMOTE REF`: fetches the remote's newest commit of `ref` into the repo. */
  async pull(remote: string, ref: string): Promise<void> {
    await this.run([`--repo=${this.path}`, 'pull', remote, ref]);
  }

  /** The exact bytes of a file in a commit, or null when there is none. */
  async readFile(commit: string, path: string): Promise<Buffer | null> {
    const objects = this.objects();
    if (objects) {
      const file = await objects.regularFile(commit, path);
      return file === null ? null : readFile(file);
    }
    try {
      const out = await run('ostree', [`--repo=${this.path}`, 'cat', commit, path], { encoding: 'buffer' });
      return out.stdout;
    } catch {
      return null;
    }
  }

  /**
   * Writes a commit. Deliberately offers no commit modifiers (--owner-uid, --statoverride, --skip-list…): any of them
   * makes ostree walk and re-read every file of a `--tree=ref=` base, turning an O(changes) compose into O(base).
   * Ownership and modes are fixed while building each layer's tar stream instead.
   */
  async commit(options: CommitOptions): Promise<string> {
    const tars = options.trees.filter((t): t is { tar: Readable } => 'tar' in t);
    if (tars.length > 1) throw new Error('ostree commit reads at most one tar stream (stdin) per call');
    const args = [`--repo=${this.path}`, 'commit', options.branch ? `--branch=${options.branch}` : '--orphan'];
    args.push(`--subject=${options.subject ?? 'ostree-layer'}`);
    for (const tree of options.trees) {
      args.push('ref' in tree ? `--tree=ref=${tree.ref}` : 'linkedDir' in tree ? `--tree=dir=${tree.linkedDir}` : '--tree=tar=-');
    }
    // Not a commit modifier: a `--tree=ref=` base stays lazy (measured: 33 ms for base + a 117 MB layer).
    if (options.trees.some((t) => 'linkedDir' in t)) args.push('--link-checkout-speedup');
    for (const [key, value] of Object.entries(options.metadata ?? {})) args.push(`--add-metadata-string=${key}=${value}`);
    return this.run(args, tars[0]?.tar, options.signal);
  }

  /**
   * Checks `commit` out into `dir` (hardlinks into the repo: never write to the result). With `union`, files of this
   * commit replace what `dir` already holds, so several layers can be stacked into one directory.
   */
  async checkout(commit: string, dir: string, options: { union?: boolean } = {}): Promise<void> {
    if (this.objects()?.checkout([commit], dir)) return;
    await this.run([`--repo=${this.path}`, 'checkout', ...(options.union ? ['--union'] : []), commit, dir]);
  }

  /**
   * `commits` checked out into `dir` as one tree, later ones winning as in a stacked commit: in-process for a bare repo
   * (see ObjectReader.checkout), else null (the caller stacks or checks out one by one with `ostree`).
   */
  checkoutStacked(commits: readonly string[], dir: string): boolean {
    return this.objects()?.checkout(commits, dir) ?? false;
  }

  /**
   * `ostree diff FROM TO`: the paths added, modified or deleted, directories included (an added directory is followed
   * by its content). OSTree skips subtrees whose checksums match, so the cost follows what differs.
   */
  async diff(from: string, to: string): Promise<Array<{ change: 'added' | 'modified' | 'deleted'; path: string }>> {
    const out = await this.run([`--repo=${this.path}`, 'diff', from, to]);
    const kinds = { A: 'added', M: 'modified', D: 'deleted' } as const;
    return out.split('\n').flatMap((line) => {
      const m = /^([AMD])\s+(\/.*)$/.exec(line);
      return m ? [{ change: kinds[m[1] as 'A' | 'M' | 'D'], path: m[2]! }] : [];
    });
  }

  /** `ostree ls -d` of one path in a commit: null when missing. */
  async lsDir(commit: string, path: string): Promise<string | null> {
    return (await this.lsDirs(commit, [path]))[0]!;
  }

  /**
   * `ostree ls -d` of many paths in one process per run of present paths: ostree stops at the first missing path and
   * names it, so the answer resumes after it. One line per path, null when missing.
   */
  async lsDirs(commit: string, paths: string[]): Promise<Array<string | null>> {
    const out: Array<string | null> = [];
    while (out.length < paths.length) {
      const rest = paths.slice(out.length, out.length + 500);
      const ran = await run('ostree', [`--repo=${this.path}`, 'ls', '-d', commit, '--', ...rest], { reject: false });
      const lines = ran.stdout === '' ? [] : ran.stdout.split('\n');
      out.push(...lines.slice(0, rest.length));
      if (ran.exitCode === 0) {
        if (lines.length !== rest.length) throw new ToolError(`ostree ls -d answered ${lines.length} lines for ${rest.length} paths in ${commit}`);
        continue;
      }
      // The path after the last answered one is the missing one (or the failure is not about a path at all).
      if (!/No such file or directory|Not a directory/.test(String(ran.stderr))) throw toolError('ostree ls', ran);
      out.push(null);
    }
    return out;
  }
}

export function toolError(what: string, err: unknown): ToolError {
  if (err instanceof CommandError) {
    const detail = err.stderr.trim() || err.shortMessage;
    return new ToolError(`${what} failed: ${detail}`, { cause: err });
  }
  return new ToolError(`${what} failed: ${(err as Error).message}`, { cause: err });
}
