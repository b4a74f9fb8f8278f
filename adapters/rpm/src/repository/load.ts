/**
 * Loads one repository: repomd.xml (signature checked when repo_gpgcheck=1), then primary — from the parsed cache
 * keyed by its checksum, or downloaded, digest-checked, decompressed and streamed through the XML parser.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as openpgp from 'openpgp';
import { loadOpenpgp } from '../lazy.js';
import { describeAge, fetchKeepingCopy, LayerError, SystemStateError, VerificationError, type Report, type TreeReader } from '@ostree-layer/core';
import { sniffMetadata } from './compression.js';
import type { RepoConfig } from './config.js';
import { readTreeText } from './config.js';
import { parseFilelists, parsePrimary, type RepoPackage } from './primary.js';
import { parseRepomd, verifyRepomdSignature, type Repomd, type RepomdEntry } from './repomd.js';
import { downloadVerified, fetchBuffer, fetchOptional, isFileUrl } from './transport.js';

export interface LoadedRepo {
  config: RepoConfig;
  /** The mirror that answered. */
  baseurl: string;
  repomd: Repomd;
  /** Armored public keys from gpgkey=, for package signatures. */
  keys: string[];
  packages: RepoPackage[];
}

export interface LoadOptions {
  tree: TreeReader;
  /** `<cacheDir>/rpm`. */
  cacheDir: string;
  allowUnauthenticated?: boolean;
  report: Report;
}

/** A key file: file:// paths are looked up in the tree first (/etc through /usr/etc on OSTree), then on the host. */
async function readKeyText(url: string, tree: TreeReader): Promise<string | Buffer> {
  if (isFileUrl(url)) {
    const path = fileURLToPath(url);
    const inTree = path.startsWith('/etc/') ? [`/usr${path}`, path] : [path];
    for (const p of inTree) {
      const text = await readTreeText(tree, p);
      if (text !== undefined) return text.includes('-----BEGIN PGP') ? text : tree.readFile(p);
    }
    const data = await readFile(path).catch((err: Error) => {
      throw new SystemStateError(`gpgkey ${url} is neither in the deployment nor on this host (${err.message}); fix gpgkey= in the .repo file`);
    });
    return data.includes('-----BEGIN PGP') ? data.toString('utf8') : data;
  }
  const data = await fetchBuffer(url);
  return data.includes('-----BEGIN PGP') ? data.toString('utf8') : data;
}

export async function loadKeys(config: RepoConfig, tree: TreeReader): Promise<openpgp.PublicKey[]> {
  const pgp = await loadOpenpgp();
  const keys: openpgp.PublicKey[] = [];
  for (const url of config.gpgkeys) {
    const data = await readKeyText(url, tree);
    try {
      keys.push(...(typeof data === 'string' ? await pgp.readKeys({ armoredKeys: data }) : await pgp.readKeys({ binaryKeys: data })));
    } catch (err) {
      throw new VerificationError(`gpgkey ${url} of repository ${config.id} is not an OpenPGP public key (${(err as Error).message})`, { cause: err });
    }
  }
  return keys;
}

/**
 * repomd.xml from the first mirror that answers. When none can be reached, the copy kept from the last fetch stands in
 * (the caller verifies it again), with a warning saying how old it is.
 */
async function fetchRepomd(config: RepoConfig, options: LoadOptions): Promise<{ baseurl: string; xml: Buffer }> {
  if (config.baseurls.length === 0) {
    throw new SystemStateError(`repository ${config.id} (${config.source}) has no baseurl; metalink= and mirrorlist= are not supported, add a baseurl=`);
  }
  let last: unknown;
  let fallback: { baseurl: string; xml: Buffer; ageMs: number; reason: string } | undefined;
  for (const baseurl of config.baseurls) {
    const url = `${baseurl}/repodata/repomd.xml`;
    try {
      const kept = await fetchKeepingCopy(url, keptDir(options), () => fetchBuffer(url));
      if (!kept.stale) return { baseurl, xml: kept.data! };
      fallback ??= { baseurl, xml: kept.data!, ...kept.stale };
    } catch (err) {
      last = err;
    }
  }
  if (fallback) {
    options.report.emit({
      type: 'warning',
      text: `repository ${config.id}: unreachable (${fallback.reason}); using the repomd.xml verified ${describeAge(fallback.ageMs)} ago`,
    });
    return fallback;
  }
  if (last instanceof LayerError) throw last;
  throw new SystemStateError(`repository ${config.id}: no mirror answered (${(last as Error).message})`);
}

function keptDir(options: LoadOptions): string {
  return join(options.cacheDir, 'repomd');
}

/** Fetches a small metadata file keeping a copy for when the server cannot be reached. */
async function fetchKept(url: string, options: LoadOptions, fetchIt: () => Promise<Buffer | undefined>): Promise<Buffer | undefined> {
  return (await fetchKeepingCopy(url, keptDir(options), fetchIt)).data;
}

/** Downloads a metadata file named by repomd into the cache (digest-checked) unless it is there already. */
async function fetchMetadata(baseurl: string, entry: RepomdEntry, dir: string): Promise<string> {
  const dest = join(dir, `${entry.checksum.value}-${basename(entry.href)}`);
  if (!existsSync(dest)) await downloadVerified(`${baseurl}/${entry.href}`, dest, entry.checksum, entry.size);
  return dest;
}

async function cachedJson<T>(file: string, build: () => Promise<T>): Promise<T> {
  if (existsSync(file)) {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as T;
    } catch {
      // A torn cache file is rebuilt below.
    }
  }
  const value = await build();
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, file);
  return value;
}

export async function loadRepository(config: RepoConfig, options: LoadOptions): Promise<LoadedRepo> {
  const say = (text: string) => options.report.emit({ type: 'message', text });
  const { baseurl, xml } = await fetchRepomd(config, options);
  const what = `${baseurl}/repodata/repomd.xml`;
  const needKeys = config.gpgcheck || config.repoGpgcheck;
  const keys = needKeys ? await loadKeys(config, options.tree) : [];
  if (needKeys && keys.length === 0 && !options.allowUnauthenticated) {
    throw new VerificationError(`repository ${config.id} has gpgcheck or repo_gpgcheck on but no gpgkey=; add the key or pass --nogpgcheck`);
  }
  if (config.repoGpgcheck && !options.allowUnauthenticated) {
    const asc = await fetchKept(`${what}.asc`, options, () => fetchOptional(`${what}.asc`));
    if (!asc) throw new VerificationError(`${what}.asc is missing but repository ${config.id} has repo_gpgcheck=1; the metadata cannot be trusted`);
    const keyId = await verifyRepomdSignature(xml, asc.toString('utf8'), keys, what);
    say(`${config.id}: repomd.xml signed by ${keyId}`);
  }
  const repomd = await parseRepomd(xml, what);
  const primary = repomd.data.get('primary');
  if (!primary) throw new SystemStateError(`${what} names no primary metadata; the repository is incomplete`);
  const dir = join(options.cacheDir, 'repodata');
  await mkdir(dir, { recursive: true });
  const packages = await cachedJson(join(options.cacheDir, `primary-${primary.checksum.value}.json`), async () => {
    const file = await fetchMetadata(baseurl, primary, dir);
    const out: RepoPackage[] = [];
    await parsePrimary(await sniffMetadata(file), file, (p) => out.push(p));
    say(`${config.id}: ${out.length} packages in primary`);
    return out;
  });
  return { config, baseurl, repomd, keys: keys.map((k) => k.armor()), packages };
}

/** Completes the file lists of `repo`'s packages with the `needed` paths from filelists.xml. */
export async function loadFilelists(repo: LoadedRepo, needed: ReadonlySet<string>, options: LoadOptions): Promise<number> {
  const entry = repo.repomd.data.get('filelists');
  if (!entry || needed.size === 0) return 0;
  const key = [...needed].sort().join('\n');
  const digest = createHash('sha256').update(key).digest('hex').slice(0, 16);
  const dir = join(options.cacheDir, 'repodata');
  await mkdir(dir, { recursive: true });
  const found = await cachedJson(join(options.cacheDir, `filelists-${entry.checksum.value}-${digest}.json`), async () => {
    const file = await fetchMetadata(repo.baseurl, entry, dir);
    return [...(await parseFilelists(await sniffMetadata(file), file, needed))];
  });
  const byId = new Map(found);
  let added = 0;
  for (const p of repo.packages) {
    for (const path of byId.get(p.checksum.value) ?? []) {
      if (!p.files.includes(path)) {
        p.files.push(path);
        added++;
      }
    }
  }
  return added;
}
