/**
 * A signed local APT mirror for the install-by-name tests: .debs built with dpkg-deb, indexes and Release made by
 * apt-ftparchive, InRelease and Release.gpg signed by gpg with a key made in a throwaway GNUPGHOME. Variants of the
 * mirror (tampered, unsigned, expired…) are copies of it with one thing changed.
 */
import { execa } from 'execa';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildDeb, type DebSpec } from '@ostree-layer/testkit';

export interface Keys {
  home: string;
  /** Binary keyring and armored key of the signing key. */
  gpg: string;
  asc: string;
  fingerprint: string;
}

export async function makeKey(dir: string, name: string): Promise<Keys> {
  const home = join(dir, `gnupg-${name}`);
  await mkdir(home, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: home };
  await execa('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', `${name} <${name}@example.invalid>`, 'default', 'default', 'never'], { env });
  const fpr = (await execa('gpg', ['--batch', '--with-colons', '--list-keys'], { env })).stdout.split('\n').find((l) => l.startsWith('fpr'))!.split(':')[9];
  const gpg = join(dir, `${name}.gpg`);
  const asc = join(dir, `${name}.asc`);
  await execa('gpg', ['--batch', '--yes', '--output', gpg, '--export', fpr], { env });
  await execa('gpg', ['--batch', '--yes', '--armor', '--output', asc, '--export', fpr], { env });
  return { home, gpg, asc, fingerprint: fpr };
}

export interface MirrorOptions {
  debs: DebSpec[];
  key?: Keys;
  suite?: string;
  /** Compressed index variants to publish (default plain, .xz and .gz). */
  compressions?: Array<'' | '.xz' | '.gz'>;
  /** Extra Release header lines, e.g. "Valid-Until: …". */
  releaseExtra?: string;
}

/** Builds the mirror at `dir` (dists/<suite>/main/binary-amd64, pool/main) and signs it with `key` when given. */
export async function buildMirror(dir: string, options: MirrorOptions): Promise<string> {
  const suite = options.suite ?? 'stable';
  const pool = join(dir, 'pool/main');
  await mkdir(pool, { recursive: true });
  for (const spec of options.debs) await buildDeb(pool, spec);
  await indexMirror(dir, options);
  return dir;
}

/** (Re)writes the Packages indexes and the (signed) Release of a mirror whose pool is in place. */
export async function indexMirror(dir: string, options: Omit<MirrorOptions, 'debs'>): Promise<void> {
  const suite = options.suite ?? 'stable';
  const dists = join(dir, 'dists', suite);
  const bin = join(dists, 'main/binary-amd64');
  await rm(dists, { recursive: true, force: true });
  await mkdir(bin, { recursive: true });
  const packages = (await execa('apt-ftparchive', ['packages', 'pool'], { cwd: dir })).stdout + '\n';
  const compressions = options.compressions ?? ['', '.xz', '.gz'];
  await writeFile(join(bin, 'Packages'), packages);
  if (compressions.includes('.xz')) await execa('xz', ['-k', join(bin, 'Packages')]);
  if (compressions.includes('.gz')) await execa('gzip', ['-k', '-n', join(bin, 'Packages')]);
  if (!compressions.includes('')) await rm(join(bin, 'Packages'));
  const release = (
    await execa('apt-ftparchive', [
      '-o', `APT::FTPArchive::Release::Suite=${suite}`,
      '-o', `APT::FTPArchive::Release::Codename=${suite}`,
      '-o', 'APT::FTPArchive::Release::Architectures=amd64',
      '-o', 'APT::FTPArchive::Release::Components=main',
      'release', dists,
    ])
  ).stdout;
  const text = options.releaseExtra ? release.replace(/^(Date: .*)$/m, `$1\n${options.releaseExtra}`) : release;
  await writeFile(join(dists, 'Release'), text + '\n');
  if (options.key) await sign(dists, options.key);
}

export async function sign(dists: string, key: Keys): Promise<void> {
  const env = { GNUPGHOME: key.home };
  await execa('gpg', ['--batch', '--yes', '--local-user', key.fingerprint, '--clearsign', '--output', join(dists, 'InRelease'), join(dists, 'Release')], { env });
  await execa('gpg', ['--batch', '--yes', '--local-user', key.fingerprint, '--armor', '--detach-sign', '--output', join(dists, 'Release.gpg'), join(dists, 'Release')], { env });
}

/** A copy of the mirror to spoil. */
export async function copyMirror(from: string, to: string): Promise<string> {
  await cp(from, to, { recursive: true });
  return to;
}

/** Flips one byte in the middle of a file (same size, different digest). */
export async function flipByte(path: string): Promise<void> {
  const buf = await readFile(path);
  const at = Math.floor(buf.length / 2);
  buf[at] ^= 0xff;
  await writeFile(path, buf);
}

export async function poolFile(mirror: string, prefix: string): Promise<string> {
  const name = (await readdir(join(mirror, 'pool/main'))).find((f) => f.startsWith(prefix));
  if (!name) throw new Error(`no ${prefix}* in ${mirror}/pool/main`);
  return join(mirror, 'pool/main', name);
}

/** Serves `root` over http on 127.0.0.1 (GET only, 404 for anything missing). */
export async function serve(root: string): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    requests.push(path);
    const file = join(root, path);
    try {
      if (path.includes('..') || !statSync(file).isFile()) throw new Error('not a file');
      res.writeHead(200, { 'content-length': statSync(file).size });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}`, server, requests };
}
