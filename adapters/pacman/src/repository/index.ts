/** pacman sync repositories as a {@link RepositorySet}: what `pacman -S NAME` would choose from. */
import { VerificationError, type RepositoryOptions, type RepositorySet } from '@ostree-layer/core';
import { packageSpec } from '../dependencies.js';
import { checksNoSignatures, readSyncConfig } from './config.js';
import { loadSyncRepo, type SyncPackage } from './sync-db.js';

export async function openPacmanRepositories(options: RepositoryOptions): Promise<RepositorySet> {
  const configs = await readSyncConfig(options.tree, options.extraSources);
  const loaded: Array<{ config: (typeof configs)[number]; server: string; packages: SyncPackage[] }> = [];
  for (const config of configs) {
    // Signature checks (the keyring in /etc/pacman.d/gnupg, .sig files) are not implemented: only an explicit
    // SigLevel = Never, or the user's --allow-unauthenticated, lets a repository in.
    if (!checksNoSignatures(config.sigLevel) && !options.allowUnauthenticated) {
      throw new VerificationError(`pacman repository [${config.name}] (${config.configuredIn}) asks for signature checks (SigLevel = ${config.sigLevel.join(' ')}), which ostree-layer does not implement for pacman yet; set SigLevel = Never for it, or pass --allow-unauthenticated`);
    }
    loaded.push({ config, ...(await loadSyncRepo(config, options.cacheDir, options.progress)) });
  }
  const all = loaded.flatMap((r) => r.packages);
  // pacman takes a name from the first repository that has it: later repositories' priority is lower.
  const priority = new Map(loaded.map((r, i) => [r.config.name, loaded.length - i]));
  return {
    specs: () =>
      all.map((p) => ({
        ...packageSpec(p),
        priority: priority.get(p.download.origin),
        data: p.download,
      })),
    search(pattern) {
      const needle = pattern.toLowerCase();
      return all.filter((p) => p.name.includes(needle) || p.description.toLowerCase().includes(needle)).map((p) => ({ name: p.name, version: p.version, arch: p.arch, summary: p.description }));
    },
    show(name) {
      return all.filter((p) => p.name === name).map((p) => ({ repository: p.download.origin, ...Object.fromEntries([...p.fields].map(([k, v]) => [k.toLowerCase(), v.length === 1 ? v[0] : v])) }));
    },
    repositories: () => loaded.map((r) => ({ id: r.config.name, name: r.config.name, url: r.server, packages: r.packages.length, configuredIn: r.config.configuredIn })),
  };
}
