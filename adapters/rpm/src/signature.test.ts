/** Header signatures made by the real rpmsign with fresh gpg keys (RSA and EdDSA), verified with openpgp 6. */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VerificationError } from '@ostree-layer/core';
import { readArchive } from './archive.js';
import { readKeys, verifyHeaderSignature } from './signature.js';
import { installedBlob } from './installed.js';
import { parseHeaderBlob } from './header.js';
import { openRpm } from './package.js';

let work: string;
let unsigned: string;
const keys: Record<string, string> = {};
const signed: Record<string, string> = {};

function gpg(home: string, ...args: string[]): string {
  return execFileSync('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'rpm-sign-'));
  const top = join(work, 'top');
  mkdirSync(join(top, 'SPECS'), { recursive: true });
  writeFileSync(join(top, 'SPECS/s.spec'), 'Name: signme\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\nBuildArch: noarch\n%description\nd\n%install\nmkdir -p %{buildroot}/usr/share\necho x > %{buildroot}/usr/share/signme\n%files\n/usr/share/signme\n');
  execFileSync('rpmbuild', ['--define', `_topdir ${top}`, '--dbpath', join(work, 'db'), '-bb', join(top, 'SPECS/s.spec')], { stdio: 'ignore' });
  unsigned = join(top, 'RPMS/noarch', readdirSync(join(top, 'RPMS/noarch'))[0]);
  for (const algo of ['rsa2048', 'ed25519']) {
    const home = join(work, `gpg-${algo}`);
    mkdirSync(home, { mode: 0o700 });
    gpg(home, '--quick-gen-key', `Signer ${algo} <${algo}@example.org>`, algo, 'sign', 'never');
    keys[algo] = gpg(home, '--armor', '--export');
    signed[algo] = join(work, `signed-${algo}.rpm`);
    copyFileSync(unsigned, signed[algo]);
    // Debian's rpm macros name /usr/bin/gpg2, which Debian 12 does not ship.
    execFileSync('rpmsign', ['--define', `_gpg_name ${algo}@example.org`, '--define', `_gpg_path ${home}`, '--define', '__gpg /usr/bin/gpg', '--addsign', signed[algo]], { stdio: 'ignore' });
  }
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('header signatures', () => {
  it.each(['rsa2048', 'ed25519'])('verifies a %s signature made by rpmsign', async (algo) => {
    const result = await verifyHeaderSignature(await readArchive(signed[algo]), await readKeys(keys[algo]));
    expect(result.keyId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a signed package still opens (digests) and its signature is copied into the installed header', async () => {
    const pkg = await openRpm(signed.rsa2048);
    const blob = installedBlob(pkg.header, pkg.archive.signature, pkg.files.length, { time: 1, color: 0 }, pkg.file);
    expect(parseHeaderBlob(blob, 't').bin(268)).toEqual(pkg.archive.signature.bin(268));
  });

  it('refuses a signature by a key that is not trusted', async () => {
    await expect(verifyHeaderSignature(await readArchive(signed.rsa2048), await readKeys(keys.ed25519))).rejects.toThrow(VerificationError);
  });

  it('refuses an unsigned package', async () => {
    await expect(verifyHeaderSignature(await readArchive(unsigned), await readKeys(keys.rsa2048))).rejects.toThrow(/no header signature/);
  });

  it('refuses a signature that does not match a changed header', async () => {
    const a = await readArchive(signed.ed25519);
    const i = a.header.blob.indexOf('signme');
    a.header.blob[i] = 'S'.charCodeAt(0);
    await expect(verifyHeaderSignature(a, await readKeys(keys.ed25519))).rejects.toThrow(/does not verify/);
  });
});
