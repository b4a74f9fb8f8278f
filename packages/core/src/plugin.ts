/**
 * A package format as the engine sees it: one object per format, registered once, holding everything the format plugs
 * in (files, database, version order, repositories). The command keeps one list of plugins in detection order; the engine
 * picks the plugin whose {@link Backend.detect} finds a database in the tree, or whose {@link Backend.supportsFile}
 * recognises a package file. Core names no format: a new one is one more plugin in that list.
 */
import type { Backend, InstalledDatabase } from './backend.js';
import { SystemStateError } from './errors.js';
import type { RepositoryBackend, RepositoryTarget } from './repository.js';
import type { TreeReader } from './tree.js';

export interface FormatPlugin {
  /** Package files, the installed database, the version order, the database layer and the scripts. */
  readonly backend: Backend;
  /** Install by name from the format's repositories. Absent: the format layers package files only. */
  readonly repositories?: RepositoryBackend;
}

/** The plugin whose database the tree carries, and where that database is; the first in list order wins. */
export async function detectPlugin(plugins: readonly FormatPlugin[], tree: TreeReader): Promise<{ plugin: FormatPlugin; location: string }> {
  for (const plugin of plugins) {
    const location = await plugin.backend.detect(tree);
    if (location) return { plugin, location };
  }
  const names = plugins.map((p) => p.backend.name).join(', ');
  throw new SystemStateError(
    `no package database of a known format (${names}) found in ${tree.description}: is this the deployment of an OS one of them manages?`,
  );
}

/** The plugin whose package files look like `file` (by magic bytes), or undefined. */
export async function pluginForFile(plugins: readonly FormatPlugin[], file: string): Promise<FormatPlugin | undefined> {
  for (const plugin of plugins) if (await plugin.backend.supportsFile(file)) return plugin;
  return undefined;
}

/**
 * The target a format's repository side works for: the tree, its opened database and the architecture that database
 * declares (never the host's: a server composes for other machines).
 */
export async function openRepositoryTarget(repositories: RepositoryBackend, tree: TreeReader, database: InstalledDatabase): Promise<RepositoryTarget> {
  return { tree, database, arch: await repositories.targetArch({ tree, database }) };
}
