import { execa } from 'execa';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readUpper } from './upper.js';

// Needs root (an overlay mount in a private mount namespace); CI runs as root.
describe('reading what changed through an overlay', () => {
  it('reports new files, deletions (whiteouts) and directories that hide the lower content (opaque)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ostree-layer-upper-'));
    try {
      for (const d of ['lower/keep', 'lower/gone-dir', 'upper', 'work', 'merged']) mkdirSync(join(dir, d), { recursive: true });
      writeFileSync(join(dir, 'lower/keep/old'), 'old\n');
      writeFileSync(join(dir, 'lower/gone-dir/inside'), 'x\n');
      writeFileSync(join(dir, 'lower/deleted'), 'x\n');
      const m = join(dir, 'merged');
      const script = [
        `mount -t overlay overlay -o lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work,redirect_dir=off,metacopy=off,index=off,xino=off ${m}`,
        `rm ${m}/deleted`,
        `rm -r ${m}/gone-dir && mkdir ${m}/gone-dir && echo new >${m}/gone-dir/fresh`,
        `echo changed >${m}/keep/old && ln -s old ${m}/keep/link && chmod 0700 ${m}/keep`,
      ].join(' && ');
      await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script]);
      const entries = await readUpper(join(dir, 'upper'));
      const byPath = new Map(entries.map((e) => [e.path, e]));
      expect(byPath.get('/deleted')?.type).toBe('whiteout');
      expect(byPath.get('/gone-dir')).toMatchObject({ type: 'directory', opaque: true });
      expect(byPath.get('/gone-dir/fresh')?.type).toBe('file');
      expect(byPath.get('/gone-dir/inside')).toBeUndefined();
      expect(byPath.get('/keep')).toMatchObject({ type: 'directory', mode: 0o700 });
      expect(byPath.get('/keep')?.opaque).toBeUndefined();
      expect(byPath.get('/keep/old')).toMatchObject({ type: 'file', size: 8 });
      expect(byPath.get('/keep/link')).toMatchObject({ type: 'symlink', linkTarget: 'old' });
      // Parents come before their children, so a layer can be written in this order.
      expect(entries.findIndex((e) => e.path === '/keep')).toBeLessThan(entries.findIndex((e) => e.path === '/keep/old'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
