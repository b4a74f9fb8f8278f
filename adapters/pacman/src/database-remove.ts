/**
 * The database after an uninstall: the base's own entries are in the base layer already, so the layer holds the
 * entries of every layered package that stays, copied from the current tree, and the link for pacman.
 */
import type { DatabaseWithoutOptions, LayerFile } from '@ostree-layer/core';
import { PacmanDatabase, packageDir } from './database.js';
import { nativeToolFiles } from './native-tools.js';

export async function databaseWithout({ tree, database, base, remove }: DatabaseWithoutOptions): Promise<LayerFile[]> {
  const current = database instanceof PacmanDatabase ? database : new PacmanDatabase(tree, database.location);
  const inBase = new Set((await new PacmanDatabase(base, database.location).packages().catch(() => [])).map((p) => p.dir));
  const removed = new Set(remove.map(packageDir));
  const files: LayerFile[] = [];
  for (const pkg of await current.packages()) {
    if (inBase.has(pkg.dir) || removed.has(pkg.dir)) continue;
    const dir = `${current.localDir}/${pkg.dir}`;
    files.push({ path: dir, type: 'directory', mode: 0o755 });
    for (const name of (await tree.readdir(dir)).sort()) {
      if ((await tree.lstat(`${dir}/${name}`))?.type !== 'file') continue;
      files.push({ path: `${dir}/${name}`, type: 'file', mode: 0o644, content: await tree.readFile(`${dir}/${name}`) });
    }
  }
  return [...files, ...nativeToolFiles(database.location)];
}
