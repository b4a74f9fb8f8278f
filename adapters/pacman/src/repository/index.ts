/** pacman sync repositories as a {@link RepositorySet}: what `pacman -S NAME` would choose from. */
import { UnreachableError, VerificationError, type Download, type RepositoryOptions, type RepositorySet } from '@ostree-layer/core';
import { packageSpec } from '../dependencies.js';
import { readSyncConfig } from './config.js';
import { readKeyring, sigPolicy, verifyDetached } from './signature.js';
import { fetchAllBytes, loadSyncRepo, type SyncPackage } from './sync-db.js';
import type * as openpgp from 'openpgp';
import { loadOpenpgp } from '../lazy.js';

/** %PGPSIG% of the packages the last loaded databases offer, by download URL, for {@link verifyPacmanDownload}. */
const embeddedSignatures = new Map<string, Buffer>();

export async function openPacmanRepositories(options: RepositoryOptions): Promise<RepositorySet> {
  const configs = await readSyncConfig(options.tree, options.arch, options.extraSources);
  const warn = (text: string) => options.report.emit({ type: 'warning', text });
  const loaded: Array<{ config: (typeof configs)[number]; server: string; packages: SyncPackage[] }> = [];
  const keyring = await readKeyring(options.tree);
  for (const config of configs) {
    const policy = sigPolicy(config.sigLevel);
    // --allow-unauthenticated is pacman's SigLevel = Never for this run.
    if (options.allowUnauthenticated) policy.database = policy.package = 'never';
    const keys = (all: boolean) => (all ? keyring.all : keyring.trusted);
    let repo: Awaited<ReturnType<typeof loadSyncRepo>>;
    try {
      repo = await loadSyncRepo(config, options.cacheDir, { level: policy.database, keys: keys(policy.trustAll.database) }, warn);
    } catch (err) {
      // Like apt and dnf: a repository that cannot be reached now and was never fetched leaves only its packages out.
      if (!(err instanceof UnreachableError)) throw err;
      warn(`pacman repository [${config.name}] (${config.configuredIn}) is unreachable and was never fetched (${err.message}); its packages are left out`);
      continue;
    }
    if (policy.package !== 'never') {
      const armored = keys(policy.trustAll.package).map((k) => k.armor());
      for (const p of repo.packages) {
        if (p.signature) embeddedSignatures.set(p.download.url, p.signature);
        // Optional: checked when the database embeds a signature; Required: always (a missing one is an error).
        if (p.signature || policy.package === 'required') p.download.verify = { keys: armored };
      }
    }
    loaded.push({ config, ...repo });
  }
  const all = loaded.flatMap((r) => r.packages);
  // pacman takes a name from the first repository that has it: later repositories' priority is lower.
  const priority = new Map(loaded.map((r, i) => [r.config.name, loaded.length - i]));
  return {
    specs: () =>
      all.map((p) => ({
        ...packageSpec(p),
        priority: priority.get(p.download.origin),
        download: p.download,
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

/**
 * The package file's detached signature — embedded in the database (%PGPSIG%) or `<file>.sig` beside it on the
 * server — checked against the keys `download.verify` names.
 */
export async function verifyPacmanDownload(file: string, download: Download): Promise<void> {
  const pgp = await loadOpenpgp();
  const sig = embeddedSignatures.get(download.url) ?? (await fetchAllBytes(`${download.url}.sig`, 64 << 10));
  if (!sig) throw new VerificationError(`${download.fileName} from [${download.origin}] has no signature (neither in the database nor ${download.url}.sig) and the repository's SigLevel requires one`);
  const keys = await Promise.all(
    (download.verify?.keys ?? []).map((armoredKey) =>
      pgp.readKey({ armoredKey }).catch((err: Error) => {
        throw new VerificationError(`${download.fileName}: a trusted key cannot be read back (${err.message})`, { cause: err });
      }),
    ),
  );
  await verifyDetached({ file }, sig, keys, `${download.fileName} from [${download.origin}]`);
}
