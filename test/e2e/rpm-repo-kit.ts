/**
 * A signed createrepo_c repository for rpm tests: a throwaway gpg key, packages signed with rpmsign, repomd.xml signed
 * with a detached signature, and the .repo file that names it with gpgcheck and repo_gpgcheck on.
 */
import { execaSync } from 'execa';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface RpmKey {
  home: string;
  /** Armored public key file (the repository's gpgkey=). */
  file: string;
  email: string;
}

function gpg(home: string, ...args: string[]): string {
  return String(execaSync('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { stdin: 'ignore' }).stdout);
}

export function makeRpmKey(dir: string, name: string): RpmKey {
  const home = join(dir, `gnupg-${name}`);
  mkdirSync(home, { mode: 0o700, recursive: true });
  const email = `${name}@example.org`;
  gpg(home, '--quick-gen-key', `${name} <${email}>`, 'rsa2048', 'sign', 'never');
  const file = join(dir, `RPM-GPG-KEY-${name}`);
  writeFileSync(file, gpg(home, '--armor', '--export'));
  return { home, file, email };
}

export function rpmsign(key: RpmKey, files: string[]): void {
  // Debian's rpm macros name /usr/bin/gpg2, which Debian 12 does not ship.
  execaSync('rpmsign', ['--define', `_gpg_name ${key.email}`, '--define', `_gpg_path ${key.home}`, '--define', '__gpg /usr/bin/gpg', '--addsign', ...files]);
}

/** (Re)writes the repository at `dir` with exactly `rpms` (signed by `key`), and returns its .repo file. */
export function publishRpmRepo(dir: string, name: string, rpms: string[], key: RpmKey): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const copies = rpms.map((rpm) => join(dir, basename(rpm)));
  rpms.forEach((rpm, i) => cpSync(rpm, copies[i]));
  rpmsign(key, copies);
  execaSync('createrepo_c', ['--quiet', dir]);
  gpg(key.home, '--detach-sign', '--armor', '--output', join(dir, 'repodata/repomd.xml.asc'), join(dir, 'repodata/repomd.xml'));
  const repoFile = `${dir}.repo`;
  writeFileSync(repoFile, `[${name}]\nname=${name}\nbaseurl=file://${dir}\nenabled=1\ngpgcheck=1\nrepo_gpgcheck=1\ngpgkey=file://${key.file}\n`);
  return repoFile;
}
