/**
 * Whether a scriptlet's interpreter exists in the tree the sandbox will show: the base, and for scripts run after the
 * payload also the new packages' files. Checked before anything runs, so a missing /bin/bash is a clear refusal and
 * not an exit 127 halfway through the transaction.
 */
import { PathPlacer, type TreeReader } from '@ostree-layer/core';
import { posix } from 'node:path';
import type { RpmPackage } from './package.js';

const MAX_SYMLINK_HOPS = 40;

type Found = { kind: 'executable' } | { kind: 'symlink'; target: string } | { kind: 'missing' };

export class InterpreterLookup {
  private readonly placer: PathPlacer;
  private addedByPath?: Promise<Map<string, Found>>;

  constructor(private readonly base: TreeReader, private readonly added: RpmPackage[]) {
    this.placer = new PathPlacer(base);
  }

  /** True when `path` resolves, through symlinks, to an executable file in the base (or in a new package). */
  async exists(path: string, withPayloads: boolean): Promise<boolean> {
    let current = path.startsWith('/') ? path : `/${path}`;
    for (let hop = 0; hop < MAX_SYMLINK_HOPS; hop++) {
      const canonical = await this.placer.canonical(current, false);
      let found = await this.inBase(canonical);
      if (found.kind === 'missing' && withPayloads) found = (await this.inAdded()).get(canonical) ?? found;
      if (found.kind !== 'symlink') return found.kind === 'executable';
      current = found.target.startsWith('/') ? found.target : posix.join(posix.dirname(canonical), found.target);
    }
    return false;
  }

  private async inBase(path: string): Promise<Found> {
    const st = await this.placer.stat(path);
    if (!st) return { kind: 'missing' };
    if (st.type === 'symlink') return { kind: 'symlink', target: await this.base.readlink(path) };
    return st.type === 'file' && st.mode & 0o111 ? { kind: 'executable' } : { kind: 'missing' };
  }

  /** The new packages' files by the path they land on (directories resolved through the base's symlinks). */
  private inAdded(): Promise<Map<string, Found>> {
    this.addedByPath ??= (async () => {
      const byPath = new Map<string, Found>();
      for (const pkg of this.added) {
        for (const file of pkg.files) {
          if (file.type !== 'file' && file.type !== 'symlink') continue;
          const found: Found = file.type === 'symlink' ? { kind: 'symlink', target: file.linkTo } : file.mode & 0o111 ? { kind: 'executable' } : { kind: 'missing' };
          byPath.set(await this.placer.canonical(file.path, false), found);
        }
      }
      return byPath;
    })();
    return this.addedByPath;
  }
}
