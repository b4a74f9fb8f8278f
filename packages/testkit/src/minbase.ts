/** A real Debian bookworm minbase, made OSTree-ready and cached as a commit. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '@ostree-layer/core';
import { removeTree } from './cleanup.js';
import { ensureCached, freshBuildDir, sharedPerCacheDir, type BaseImage, type CacheOptions } from './cache.js';
import { commitTree, makeOstreeReady } from './ostree-tree.js';
import { isRoot, run } from './run.js';

export const DEBIAN_MINBASE_REF = 'debian/bookworm/minbase';

/**
 * The Debian mirror this machine's apt is configured with for bookworm main (one-line .list or deb822 .sources).
 * Read from the host rather than written here, so the project names no archive host of its own.
 */
export function debianMirror(): string {
  const dir = '/etc/apt/sources.list.d';
  const files = ['/etc/apt/sources.list', ...(existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [])];
  for (const file of files) {
    if (!existsSync(file) || !/(\.list|\.sources)$/.test(file)) continue;
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.list')) {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s+.*\bmain\b/.exec(line.trim());
        if (m) return m[1].replace(/\/$/, '');
      }
      continue;
    }
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(stanza)?.[1].trim().split(/\s+/) ?? [];
      if (field('Suites').includes('bookworm') && field('Components').includes('main') && field('Types').includes('deb')) {
        const uri = field('URIs')[0];
        if (uri) return uri.replace(/\/$/, '');
      }
    }
  }
  throw new UsageError('no apt source for Debian bookworm main is configured on this machine (/etc/apt/sources.list*); the test base is built from it');
}

/** The APT source the base is built from and keeps in /usr/etc/apt/sources.list. */
export function debianSourcesLine(): string {
  return `deb ${debianMirror()} bookworm main`;
}
/** Where the dpkg database lives in the committed tree (nothing is left at var/lib/dpkg: /var is never deployed). */
export const DPKG_DB_PATH = 'usr/lib/sysimage/dpkg';

// Bump when the recipe below changes: cached commits of another recipe are rebuilt.
const RECIPE = 'debian-minbase-1';

/**
 * The Debian bookworm minbase commit (`mmdebstrap --variant=minbase`, about 20–30 s the first time; a cache hit costs
 * two `ostree` calls). Parallel workers share one build through a lock file in the cache directory.
 */
export const ensureDebianMinbase: (options?: CacheOptions) => Promise<BaseImage> = sharedPerCacheDir(buildOrReuse);

async function buildOrReuse(cacheDir: string): Promise<BaseImage> {
  if (!isRoot()) throw new UsageError('ensureDebianMinbase needs root (mmdebstrap in root mode, ownership in the commit)');
  const { repo, commit } = await ensureCached(cacheDir, DEBIAN_MINBASE_REF, RECIPE, (repo) =>
    buildDebianBase(cacheDir, repo, {
      ref: DEBIAN_MINBASE_REF,
      recipe: RECIPE,
      subject: 'Debian bookworm minbase (ostree-layer testkit)',
      version: 'bookworm-minbase',
      buildName: 'minbase',
    }),
  );
  return { repo, ref: DEBIAN_MINBASE_REF, commit, osName: 'debian' };
}

/** What {@link buildDebianBase} makes: an mmdebstrap bookworm minbase plus whatever the spec adds. */
export interface DebianBaseSpec {
  ref: string;
  /** Recorded in the commit; a different recipe rebuilds. */
  recipe: string;
  subject: string;
  /** The commit's `version` metadata (what `ostree admin status` shows). */
  version: string;
  /** Name of the scratch directory under the cache (`build-<name>-*`). */
  buildName: string;
  /** Packages beyond minbase (`mmdebstrap --include`). */
  include?: readonly string[];
  /** `mmdebstrap --customize-hook` commands; `$1` is the new root. */
  customizeHooks?: readonly string[];
  /** Environment for mmdebstrap (and so for the package scripts it runs). */
  env?: Readonly<Record<string, string>>;
  /** Runs on the root file system after mmdebstrap, before it is made OSTree-ready. */
  prepare?: (root: string) => Promise<void>;
}

/** The mmdebstrap arguments a spec turns into: what its recipe must cover so a changed input rebuilds. */
export function mmdebstrapArgs(spec: Pick<DebianBaseSpec, 'include' | 'customizeHooks'>, root: string): string[] {
  return [
    '--quiet',
    '--variant=minbase',
    '--mode=root',
    ...(spec.include?.length ? [`--include=${spec.include.join(',')}`] : []),
    ...(spec.customizeHooks ?? []).map((hook) => `--customize-hook=${hook}`),
    'bookworm',
    root,
    debianSourcesLine(),
  ];
}

/** Builds a Debian bookworm base with mmdebstrap, makes it OSTree-ready and commits it to `spec.ref` in `repo`. */
export async function buildDebianBase(cacheDir: string, repo: string, spec: DebianBaseSpec): Promise<void> {
  const work = await freshBuildDir(cacheDir, spec.buildName);
  const root = join(work, 'root');
  try {
    await run('mmdebstrap', mmdebstrapArgs(spec, root), {
      env: { ...spec.env },
      timeoutMs: 15 * 60_000,
      hint:
        'mmdebstrap builds the Debian test base from the mirror in /etc/apt/sources.list*: check that it is reachable and that ' +
        `scripts/setup has run, or point OSTREE_LAYER_TEST_CACHE at a cache that already holds ${spec.ref}`,
    });
    await spec.prepare?.(root);
    await makeOstreeReady(root, { moveIntoUsr: [['var/lib/dpkg', DPKG_DB_PATH]] });
    // One plain source keeps the APT tests on the suite the base came from (no -updates/-security drift).
    await writeFile(join(root, 'usr/etc/apt/sources.list'), debianSourcesLine() + '\n');
    await commitTree({ repo, ref: spec.ref, root, subject: spec.subject, recipe: spec.recipe, metadata: { version: spec.version } });
  } finally {
    await removeTree(work);
  }
}
