/** Trees on disk standing for a composed commit: a copy of a base directory with a backend's LayerFiles written over it. */
import { chmod, copyFile, cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { LayerFile } from '@ostree-layer/core';

/** Writes `files` under `root` as the engine's database layer would put them in the new tree (later files win). */
export async function applyLayerFiles(root: string, files: LayerFile[]): Promise<void> {
  for (const file of files) {
    const target = join(root, file.path);
    await mkdir(dirname(target), { recursive: true });
    await rm(target, { recursive: file.type !== 'directory', force: true }).catch(() => undefined);
    if (file.type === 'directory') {
      await mkdir(target, { recursive: true });
      await chmod(target, file.mode);
    } else if (file.type === 'symlink') {
      await symlink(String(file.content), target);
    } else {
      if (file.source) await copyFile(file.source, target);
      else await writeFile(target, file.content ?? '');
      await chmod(target, file.mode);
    }
  }
}

/**
 * A fresh directory holding a copy of `base` with `files` over it; every file's `dispose` is called once it is
 * written, as the engine does once a layer is committed. The caller removes the directory.
 */
export async function treeWithLayer(base: string, files: LayerFile[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'layered-tree-'));
  try {
    await cp(base, dir, { recursive: true, verbatimSymlinks: true });
    await applyLayerFiles(dir, files);
  } finally {
    for (const file of files) await file.dispose?.();
  }
  return dir;
}
