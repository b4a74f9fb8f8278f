/**
 * The formats the command knows: one plugin per format, registered here once. The order is the detection order (the
 * first plugin whose database the tree carries wins). A new format is one more entry in {@link PLUGINS}.
 */
import { detectPlugin, pluginForFile as findPluginForFile, type FormatPlugin, type TreeReader } from '@ostree-layer/core';
import { dpkgPlugin } from '@ostree-layer/dpkg';
import { pacmanPlugin } from '@ostree-layer/pacman';
import { rpmPlugin } from '@ostree-layer/rpm';

export const PLUGINS: readonly FormatPlugin[] = [dpkgPlugin, rpmPlugin, pacmanPlugin];

/** The plugin of `--backend NAME`, or undefined. */
export function pluginByName(name: string): FormatPlugin | undefined {
  return PLUGINS.find((p) => p.backend.name === name);
}

/** The plugin whose package files look like `file` (by magic), or undefined. */
export function pluginForFile(file: string): Promise<FormatPlugin | undefined> {
  return findPluginForFile(PLUGINS, file);
}

/** The plugin whose database `tree` carries, and where; a SystemStateError naming every known format otherwise. */
export function detect(tree: TreeReader): Promise<{ plugin: FormatPlugin; location: string }> {
  return detectPlugin(PLUGINS, tree);
}
