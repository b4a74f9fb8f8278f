import type { Backend } from '@ostree-layer/core';
import { dpkgBackend } from '@ostree-layer/dpkg';

/** Every backend the command knows, in detection order. A new format is one more entry here. */
export const BACKENDS: Backend[] = [dpkgBackend];

export function backendByName(name: string): Backend | undefined {
  return BACKENDS.find((b) => b.name === name);
}

/** The backend whose package files look like `file` (by magic), or undefined. */
export async function backendForFile(file: string): Promise<Backend | undefined> {
  for (const backend of BACKENDS) if (await backend.supportsFile(file)) return backend;
  return undefined;
}
