/** Opening a package file with the backend of the deployment it is meant for. */
import type { Backend, PackageFile } from '../backend.js';
import { PackageFormatError } from '../errors.js';
import type { FormatPlugin } from '../plugin.js';

/**
 * Opens `file` with `backend`. A file that another known backend recognises is refused by name (an .rpm offered to a
 * dpkg-based deployment), rather than with the first backend's complaint about its magic.
 */
export async function openPackageFor(backend: Backend, plugins: readonly FormatPlugin[], file: string): Promise<PackageFile> {
  if (!(await backend.supportsFile(file))) {
    for (const { backend: other } of plugins) {
      if (other === backend || !(await other.supportsFile(file))) continue;
      throw new PackageFormatError(
        file,
        `refusing this ${other.name} package (.${other.extension}): the deployment is ${backend.name}-based; only .${backend.extension} packages can be layered onto it`,
      );
    }
  }
  return backend.openPackage(file);
}
