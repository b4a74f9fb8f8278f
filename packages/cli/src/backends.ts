import type { Backend, RepositoryBackend } from '@ostree-layer/core';
import { dpkgBackend, dpkgRepositories } from '@ostree-layer/dpkg';
import { pacmanBackend, pacmanRepositories } from '@ostree-layer/pacman';
import { rpmBackend, rpmRepositories } from '@ostree-layer/rpm';

/** Every backend the command knows, in detection order. A new format is one more entry here. */
export const BACKENDS: Backend[] = [dpkgBackend, rpmBackend, pacmanBackend];

/** Install by name, per backend name (a backend without repository support installs files only). */
export const REPOSITORY_BACKENDS: Record<string, RepositoryBackend> = { dpkg: dpkgRepositories, rpm: rpmRepositories, pacman: pacmanRepositories };

export function backendByName(name: string): Backend | undefined {
  return BACKENDS.find((b) => b.name === name);
}

/** The backend whose package files look like `file` (by magic), or undefined. */
export async function backendForFile(file: string): Promise<Backend | undefined> {
  for (const backend of BACKENDS) if (await backend.supportsFile(file)) return backend;
  return undefined;
}
