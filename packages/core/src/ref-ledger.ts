/**
 * The refs one transaction creates or moves (package cache refs, script-layer refs, the base and layer refs put on
 * before the deploy). Until the deploy has made them part of a deployment, a transaction that fails or is stopped by
 * a signal puts them back as they were: created ones deleted, moved ones pointed at their old commit, so that
 * `ostree refs` reads as before. Refs are named exactly, never by prefix, and refs nobody noted are never touched.
 */
import { execFile } from 'node:child_process';
import { undoOnStop } from './interrupt.js';
import type { OstreeRepo } from './ostree.js';

export class RefLedger {
  /** Each noted ref with the commit it pointed at before the transaction (null: it did not exist). */
  private readonly before = new Map<string, string | null>();
  private readonly unregister: () => void;
  /** The take-back under way: a stop and the failing transaction's own unwinding share it (the stop exits after it). */
  private undoing: Promise<void> | undefined;

  constructor(private readonly repo: OstreeRepo) {
    this.unregister = undoOnStop(() => this.takeBack());
  }

  /**
   * Notes that `ref`, which pointed at `previous` (null: absent), is about to be created or moved. Noted before the
   * write, so a stop that lands during it still takes the ref back; the first note of a ref is what it was before.
   */
  note(ref: string, previous: string | null): void {
    if (!this.before.has(ref)) this.before.set(ref, previous);
  }

  /** Points `ref` at `commit`, noting what it was. */
  async setRef(ref: string, commit: string): Promise<void> {
    this.note(ref, await this.repo.refCommit(ref));
    await this.repo.setRef(ref, commit);
  }

  /** The deploy has run: what was noted belongs to a deployment now and is kept whatever happens next. */
  settle(): void {
    this.before.clear();
  }

  /**
   * Puts every noted ref back. Runs ostree directly rather than through the repo, whose commands a stop has already
   * cancelled; failures are ignored (the transaction's own error, or the stop, is what gets reported).
   */
  takeBack(): Promise<void> {
    this.undoing ??= this.undo();
    return this.undoing;
  }

  private async undo(): Promise<void> {
    const noted = [...this.before];
    this.before.clear();
    const created = noted.filter(([, previous]) => previous === null).map(([ref]) => ref);
    for (let i = 0; i < created.length; i += 200) await this.refs(['--delete', ...created.slice(i, i + 200)]);
    for (const [ref, previous] of noted) if (previous !== null) await this.refs(['--force', `--create=${ref}`, previous]);
  }

  /** The transaction is over: a later signal takes nothing back. */
  close(): void {
    this.unregister();
  }

  private refs(args: string[]): Promise<void> {
    return new Promise((done) => execFile('ostree', [`--repo=${this.repo.path}`, 'refs', ...args], () => done()));
  }
}
