/**
 * `inspect --json` for pacman packages: the fields `pacman -Qip` prints, named in camelCase, lists as arrays (pacman
 * prints "None" for an empty one), plus `files` as every backend lists them (`pacman -Qlp` gives the same paths).
 */
import type { InspectedFile } from '@ostree-layer/core';
import type { PacmanPackage } from './archive.js';

/** The package's metadata as plain JSON (what PackageFile.metadata holds). */
export function buildMetadata(pkg: PacmanPackage): Record<string, unknown> {
  const { info } = pkg;
  return {
    name: info.pkgname,
    version: info.pkgver,
    base: info.pkgbase,
    description: info.pkgdesc,
    arch: info.arch,
    url: info.url,
    licenses: info.lists.license,
    groups: info.lists.group,
    provides: info.lists.provides,
    depends: info.lists.depend,
    optdepends: info.lists.optdepend,
    conflicts: info.lists.conflict,
    replaces: info.lists.replaces,
    installedSize: info.size,
    packager: info.packager,
    buildDate: info.builddate,
    installScript: pkg.hasScripts,
    backup: pkg.backup,
  };
}

/** Metadata and every payload entry of an opened package. */
export async function inspectPacman(pkg: PacmanPackage): Promise<Record<string, unknown>> {
  const files: InspectedFile[] = [];
  for await (const { entry, body } of pkg.payload()) {
    if (body) for await (const _ of body) void _;
    const item: InspectedFile = { path: entry.path, type: entry.type, mode: entry.mode, user: entry.user, group: entry.group, size: entry.size };
    if (entry.linkTarget !== undefined) item.linkTarget = entry.linkTarget;
    if (entry.config) item.config = true;
    files.push(item);
  }
  return { ...pkg.metadata, files };
}
