/** What the conformance suite's parts share: the path shape the contract promises, and payloads listed as the engine lists them. */
import type { Backend, LayeredPackage, PackageEntry, PackageFile, PackageId } from '@ostree-layer/core';

/** Absolute and normalised: no empty, "." or ".." segment, no trailing slash. */
export const ABSOLUTE_NORMALISED = /^\/(?!.*\/\/)(?!.*\/\.\.?(\/|$))(?!.*\/$).+$/;

/** Lists a package's payload, consuming every body as the engine does before it asks for the next entry. */
export async function listPayload(pkg: PackageFile): Promise<PackageEntry[]> {
  const out: PackageEntry[] = [];
  for await (const { entry, body } of pkg.payload()) {
    out.push(entry);
    if (body) for await (const _ of body) void _;
  }
  return out;
}

/** Opens package files and lists them as the engine hands them to writeDatabase: nothing taken over. */
export async function layeredPackages(backend: Backend, files: string[]): Promise<LayeredPackage[]> {
  const out: LayeredPackage[] = [];
  for (const file of files) {
    const pkg = await backend.openPackage(file);
    out.push({ package: pkg, entries: await listPayload(pkg), takenOver: new Map<string, string[]>() });
  }
  return out;
}

/** "name version arch", for messages and for comparing lists of packages. */
export const idText = (id: PackageId): string => `${id.name} ${id.version} ${id.arch}`;
