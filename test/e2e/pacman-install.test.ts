/**
 * Hand-made pacman packages (built with the real makepkg) layered with the `ostree-layer` command onto the testkit's
 * pacman mini-distro, a deployment whose base the real `pacman -U` installed. The result is judged on a checkout of
 * the new commit by the real pacman 6.0.2 with no options but `--root` (so the tmpfiles.d link the backend ships must
 * lead it to the database in /usr), by running the layered program in a chroot, and by `ostree fsck`.
 */
import { execa } from 'execa';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildPacmanPackage, ensurePacmanBase, rawTar, removeTree, type PacmanBase, type Sysroot } from '@ostree-layer/testkit';
import { cli, cliJson, systemSnapshot } from '../support/cli.js';
import { sysrootPool } from '../support/sysroots.js';

const BASE_PACKAGES = ['busybox 1.35.0-2', 'filesystem 2023.09.18-1', 'libgreet 1:2.1-1'];
let base: PacmanBase;
let work: string;
let greet: string;
let words: string;
const makeSysroot = sysrootPool();
const checkouts: string[] = [];

beforeAll(async () => {
  base = await ensurePacmanBase();
  work = mkdtempSync(join(tmpdir(), 'ostree-layer-pacman-e2e-'));
  words = await buildPacmanPackage(work, {
    name: 'greet-words',
    version: '3',
    provides: ['words=3'],
    files: [{ path: '/usr/share/greet-words/words', content: 'and good morning\n' }],
  });
  greet = await buildPacmanPackage(work, {
    name: 'greet',
    version: '1.0',
    release: '2',
    arch: 'x86_64',
    depends: ['sh', 'libgreet>=1:2.0', 'greet-data=2.1', 'words>=2'],
    backup: ['/etc/greet.conf'],
    install: 'post_install() {\n  echo "greet $1 configured" > /etc/greet.installed\n}\n',
    files: [
      { path: '/usr/bin/greet', content: '#!/bin/sh\n. /etc/greet.conf\necho "$GREETING"\ncat /usr/share/libgreet/greeting /usr/share/greet-words/words\n', mode: 0o755 },
      { path: '/etc/greet.conf', content: 'GREETING=hi\n' },
    ],
  });
}, 300_000);

afterEach(async () => {
  while (checkouts.length) await removeTree(checkouts.pop()!);
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const sysroot = () => makeSysroot({ base });

const target = (s: Sysroot) => ['--sysroot', s.sysroot, '--os', s.osName];

/**
 * The commit checked out as a booted system would see it: /usr/etc copied to /etc (what ostree's deploy does) and
 * the tree's own tmpfiles.d lines applied by the real systemd-tmpfiles (what the first boot does).
 */
async function bootedView(s: Sysroot, commit: string): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'pacman-checkout-')), 'root');
  checkouts.push(dir);
  await execa('ostree', ['checkout', `--repo=${s.repo}`, '--force-copy', commit, dir]);
  cpSync(join(dir, 'usr/etc'), join(dir, 'etc'), { recursive: true, verbatimSymlinks: true });
  await execa('systemd-tmpfiles', [`--root=${dir}`, '--create', '--prefix=/var/lib/pacman']);
  return dir;
}

/** The real pacman with nothing but `--root`: it must find the database by itself. */
async function pacman(root: string, ...args: string[]) {
  return execa('pacman', ['--root', root, ...args], { reject: false, env: { LC_ALL: 'C' } });
}

async function installedList(root: string): Promise<string[]> {
  const q = await pacman(root, '-Q');
  expect(q.exitCode, q.stderr).toBe(0);
  return q.stdout.split('\n').filter(Boolean);
}

/** A throwaway GnuPG key, as a repository owner has one (exported whole: a binary key may end in a newline byte). */
async function makeKey(name: string): Promise<{ home: string; fingerprint: string; exported: Buffer }> {
  const home = join(work, `gnupg-${name}`);
  await execa('mkdir', ['-m', '700', '-p', home]);
  const gpg = (...args: string[]) => execa('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { encoding: 'buffer', stripFinalNewline: false });
  await gpg('--quick-gen-key', `${name} <${name}@example.org>`, 'ed25519', 'sign', 'never');
  const colons = Buffer.from((await gpg('--with-colons', '--list-keys')).stdout).toString('utf8');
  return { home, fingerprint: /^fpr:+([0-9A-F]+):/m.exec(colons)![1]!, exported: Buffer.from((await gpg('--export')).stdout) };
}

async function detachSign(key: { home: string }, file: string): Promise<void> {
  await execa('gpg', ['--homedir', key.home, '--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', '--detach-sign', '--output', `${file}.sig`, file]);
}

/**
 * A sync repository made by the real repo-add from `packages`, as "NAME URL" for --source. With `signer`, the packages
 * are signed before repo-add (which embeds their signatures as %PGPSIG%) and the database after, as Arch's are.
 */
async function syncRepo(name: string, packages: string[], signer?: { home: string }): Promise<string> {
  const dir = join(work, `repo-${name}`);
  await execa('mkdir', ['-p', dir]);
  const copies = packages.map((file) => join(dir, file.slice(file.lastIndexOf('/') + 1)));
  packages.forEach((file, i) => cpSync(file, copies[i]!));
  if (signer) for (const copy of copies) await detachSign(signer, copy);
  await execa('repo-add', ['-q', join(dir, `${name}.db.tar.gz`), ...copies]);
  if (signer) {
    await detachSign(signer, join(dir, `${name}.db.tar.gz`));
    await execa('ln', ['-sf', `${name}.db.tar.gz.sig`, join(dir, `${name}.db.sig`)]);
  }
  return `${name} file://${dir}`;
}

/** The package a repository owner ships so that pacman trusts its key (like archlinux-keyring). */
async function keyringPackage(key: { fingerprint: string; exported: Buffer }, name: string): Promise<string> {
  return buildPacmanPackage(join(work, `keyring-${name}`), {
    name: `${name}-keyring`,
    version: '1',
    files: [
      { path: `/usr/share/pacman/keyrings/${name}.gpg`, content: key.exported },
      { path: `/usr/share/pacman/keyrings/${name}-trusted`, content: `${key.fingerprint}:4:\n` },
    ],
  });
}

describe('pacman: install by name from a sync repository made by repo-add', () => {
  it('resolves greet and what it needs from an unsigned repository (pacman\'s default SigLevel is Optional), marks the pulled-in package as a dependency, upgrades it when the repository has a newer one; pacman agrees', async () => {
    const s = await sysroot();
    const source = await syncRepo('greet', [greet, words]);
    const cache = join(work, 'cache-by-name');
    const result = await cliJson(['install', ...target(s), '--source', source, '--cache-dir', cache, 'greet']);
    expect(result.deployed).toBe(true);
    expect(result.install.map((p: { name: string }) => p.name).sort()).toEqual(['greet', 'greet-words']);
    const view = await bootedView(s, result.commit);
    expect(await installedList(view)).toEqual([...BASE_PACKAGES, 'greet 1.0-2', 'greet-words 3-1'].sort());
    const reason = async (name: string) => /^Install Reason\s*: (.*)$/m.exec((await pacman(view, '-Qi', name)).stdout)?.[1];
    expect(await reason('greet')).toBe('Explicitly installed');
    expect(await reason('greet-words')).toBe('Installed as a dependency for another package');
    expect((await pacman(view, '-Dk')).exitCode).toBe(0);

    // A newer greet-words in the repository: upgrade takes it, and the database has it instead of the old one.
    const newer = await buildPacmanPackage(join(work, 'newer'), { name: 'greet-words', version: '4', provides: ['words=4'], files: [{ path: '/usr/share/greet-words/words', content: 'and good evening\n' }] });
    const repoDir = source.split(' file://')[1]!;
    cpSync(newer, join(repoDir, 'greet-words-4-1-any.pkg.tar.zst'));
    await execa('repo-add', ['-q', join(repoDir, 'greet.db.tar.gz'), join(repoDir, 'greet-words-4-1-any.pkg.tar.zst')]);
    const upgraded = await cliJson(['upgrade', ...target(s), '--source', source, '--cache-dir', cache]);
    expect(upgraded.deployed).toBe(true);
    const after = await bootedView(s, upgraded.commit);
    expect(await installedList(after)).toEqual([...BASE_PACKAGES, 'greet 1.0-2', 'greet-words 4-1'].sort());
    expect((await execa('chroot', [after, '/usr/bin/greet'])).stdout).toContain('and good evening');
    expect((await pacman(after, '-Qk')).exitCode).toBe(0);
  });

  it('checks a signed repository against the keyring the deployment trusts: refused before its keyring package, taken after', async () => {
    const owner = await makeKey('greet-owner');
    const source = await syncRepo('signed', [greet, words], owner);
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const refused = await cli(['install', ...target(s), '--source', source, '--cache-dir', join(work, 'cache-signed-1'), 'greet']);
    expect(refused.exitCode, refused.stderr).toBe(8);
    expect(refused.stderr).toContain('trusts no pacman key');
    expect(await systemSnapshot(s.sysroot)).toBe(before);

    expect((await cliJson(['install', ...target(s), await keyringPackage(owner, 'greet')])).deployed).toBe(true);
    const result = await cliJson(['install', ...target(s), '--source', source, '--cache-dir', join(work, 'cache-signed-2'), 'greet']);
    expect(result.install.map((p: { name: string }) => p.name).sort()).toEqual(['greet', 'greet-words']);
    expect(await installedList(await bootedView(s, result.commit))).toContain('greet-words 3-1');
  });

  it('refuses a repository signed by a key the deployment does not trust, and a package whose signature is not the owner\'s (exit 8)', async () => {
    const owner = await makeKey('owner-2');
    const stranger = await makeKey('stranger');
    const s = await sysroot();
    expect((await cliJson(['install', ...target(s), await keyringPackage(owner, 'owner')])).deployed).toBe(true);
    const before = await systemSnapshot(s.sysroot);
    const foreign = await syncRepo('foreign', [words], stranger);
    const r = await cli(['install', ...target(s), '--source', foreign, '--cache-dir', join(work, 'cache-foreign'), 'greet-words']);
    expect(r.exitCode, r.stderr).toBe(8);
    expect(r.stderr).toContain('does not verify');
    // The database is the owner's, but a package inside was signed by someone else.
    const mixed = await syncRepo('mixed', [words], stranger);
    await detachSign(owner, join(work, 'repo-mixed', 'mixed.db.tar.gz'));
    const p = await cli(['install', ...target(s), '--source', mixed, '--cache-dir', join(work, 'cache-mixed'), 'greet-words']);
    expect(p.exitCode, p.stderr).toBe(8);
    expect(p.stderr).toMatch(/greet-words.*signature .*does not verify/);
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });
});

describe('pacman: layering package files onto a pacman-based deployment', () => {
  it('checks a package file\'s detached signature with --key: its signer\'s key passes, another key or no .sig is exit 8', async () => {
    const signer = await makeKey('file-signer');
    const other = await makeKey('file-other');
    const dir = join(work, 'signed-file');
    const file = await buildPacmanPackage(dir, { name: 'signed-words', version: '1', files: [{ path: '/usr/share/signed-words/words', content: 'signed\n' }] });
    const unsigned = await buildPacmanPackage(join(work, 'unsigned-file'), { name: 'unsigned-words', version: '1', files: [{ path: '/usr/share/unsigned-words/words', content: 'not signed\n' }] });
    await detachSign(signer, file);
    const keyFile = (key: { exported: Buffer }, name: string) => {
      const path = join(work, `${name}.gpg`);
      writeFileSync(path, key.exported);
      return path;
    };
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const wrong = await cli(['install', ...target(s), '--key', keyFile(other, 'other'), file]);
    expect(wrong.exitCode, wrong.stderr).toBe(8);
    const missing = await cli(['install', ...target(s), '--key', keyFile(signer, 'signer'), unsigned]);
    expect(missing.exitCode, missing.stderr).toBe(8);
    expect(missing.stderr).toContain('.sig');
    expect(await systemSnapshot(s.sysroot)).toBe(before);
    expect((await cliJson(['install', ...target(s), '--key', keyFile(signer, 'signer'), file])).deployed).toBe(true);
  });

  it('layers two packages; pacman -Q, -Qk and -Qo agree, the program runs in a chroot, the old deployment is unchanged', async () => {
    const s = await sysroot();
    const oldDir = s.deploymentDir();
    const oldCommit = s.commit;
    const result = await cliJson(['install', ...target(s), greet, words]);
    expect(result.backend).toBe('pacman');
    expect(result.deployed).toBe(true);
    expect(result.install.map((p: { name: string }) => p.name).sort()).toEqual(['greet', 'greet-words']);
    // The .INSTALL scriptlet ran in the sandbox as pacman runs it: post_install with the new version.
    expect(result.scripts.map((step: { package?: string; label: string }) => `${step.package} ${step.label}`)).toEqual(['greet pre_install', 'greet post_install']);
    expect(s.deploymentDir()).not.toBe(oldDir);

    const view = await bootedView(s, result.commit);
    expect(existsSync(join(view, 'var/lib/pacman/local/ALPM_DB_VERSION')), 'the tmpfiles.d link leads /var/lib/pacman/local to the database').toBe(true);
    expect(await installedList(view)).toEqual([...BASE_PACKAGES, 'greet 1.0-2', 'greet-words 3-1'].sort());
    const check = await pacman(view, '-Qk');
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/^greet: \d+ total files, 0 missing files$/m);
    expect(check.stdout.split('\n').filter(Boolean)).toHaveLength(5);
    // -Qkk compares every file with the package's mtree (mode, owner, size, sha256, link target): only the
    // modification times differ, as OSTree stores none. The backup file's md5 in the database is the shipped one.
    const deep = await pacman(view, '-Qkk', 'greet', 'greet-words');
    const complaints = `${deep.stdout}\n${deep.stderr}`.split('\n').filter((l) => /^(warning|backup file|error):/.test(l));
    expect(complaints.filter((l) => !l.endsWith('(Modification time mismatch)'))).toEqual([]);
    expect((await pacman(view, '-Qii', 'greet')).stdout).toMatch(/^UNMODIFIED\t.*\/etc\/greet\.conf$/m);
    for (const [path, owner] of [['usr/bin/greet', 'greet 1.0-2'], ['etc/greet.conf', 'greet 1.0-2'], ['usr/bin/busybox', 'busybox 1.35.0-2']]) {
      const qo = await pacman(view, '-Qo', join(view, path));
      expect(qo.stdout, qo.stderr).toBe(`${join(view, path)} is owned by ${owner}`);
    }
    // The dependencies pacman would check are met by the base and the new packages together.
    const deps = await pacman(view, '-Dk');
    expect(deps.exitCode, deps.stdout + deps.stderr).toBe(0);
    const run = await execa('chroot', [view, '/usr/bin/greet'], { reject: false });
    expect(run.stdout, run.stderr).toBe('hi\nhello from libgreet\nand good morning');
    expect(readFileSync(join(view, 'etc/greet.installed'), 'utf8')).toBe('greet 1.0-2 configured\n');

    // The old deployment still boots the base: same commit, no new file, its database untouched.
    expect(s.deployments()).toContain(oldDir);
    expect(existsSync(join(oldDir, 'usr/bin/greet'))).toBe(false);
    // The base itself ships no link to its database (that is what the layer adds), so pacman is told where it is.
    const oldView = await bootedView(s, oldCommit);
    expect(existsSync(join(oldView, 'var/lib/pacman/local'))).toBe(false);
    const oldList = await pacman(oldView, '--dbpath', join(oldView, 'usr/lib/sysimage/pacman'), '-Q');
    expect(oldList.stdout.split('\n')).toEqual(BASE_PACKAGES);
    const fsck = await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false });
    expect(fsck.exitCode, fsck.stderr).toBe(0);
  });

  it('uninstalls a layered package: the database and the tree lose it, the rest stays checked', async () => {
    const s = await sysroot();
    const installed = await cliJson(['install', ...target(s), '--no-scripts', greet, words]);
    expect(installed.deployed).toBe(true);
    // greet needs words>=2, which only greet-words provides: taking it alone away is refused, naming greet.
    const refused = await cli(['uninstall', ...target(s), 'greet-words']);
    expect(refused.exitCode, refused.stderr).not.toBe(0);
    expect(refused.stderr + refused.stdout).toContain('greet');
    const removed = await cliJson(['uninstall', ...target(s), 'greet']);
    expect(removed.deployed).toBe(true);
    const view = await bootedView(s, removed.commit);
    expect(await installedList(view)).toEqual([...BASE_PACKAGES, 'greet-words 3-1'].sort());
    expect(existsSync(join(view, 'usr/bin/greet'))).toBe(false);
    const check = await pacman(view, '-Qk');
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    expect((await execa('ostree', ['fsck', `--repo=${s.repo}`], { reject: false })).exitCode).toBe(0);
  });

  it('runs the alpm hooks that new packages trigger (the deployment\'s, and a new package\'s own PostTransaction ones), with their targets on stdin (NeedsTargets)', async () => {
    const hooks = await buildPacmanPackage(join(work, 'hooks'), {
      name: 'greet-hooks',
      version: '1',
      files: [{
        path: '/usr/share/libalpm/hooks/50-greet-index.hook',
        content: '[Trigger]\nOperation = Install\nOperation = Upgrade\nType = Path\nTarget = usr/share/greet-words/*\n\n[Action]\nDescription = Indexing greetings\nWhen = PostTransaction\nExec = /bin/sh -c \'cat > /usr/share/greet-index\'\nNeedsTargets\n',
      }],
    });
    const s = await sysroot();
    expect((await cliJson(['install', ...target(s), hooks])).scripts).toEqual([]);
    const result = await cliJson(['install', ...target(s), words]);
    expect(result.scripts.map((step: { label: string }) => step.label)).toEqual(['hook 50-greet-index.hook (Indexing greetings)']);
    const view = await bootedView(s, result.commit);
    expect(readFileSync(join(view, 'usr/share/greet-index'), 'utf8')).toBe('usr/share/greet-words/\nusr/share/greet-words/words\n');
    expect((await pacman(view, '-Qk')).exitCode).toBe(0);

    // Installed together, the hook package's PostTransaction hook runs too: it is on disk once the packages are.
    const together = await sysroot();
    const both = await cliJson(['install', ...target(together), hooks, words]);
    expect(both.scripts.map((step: { label: string }) => step.label)).toEqual(['hook 50-greet-index.hook (Indexing greetings)']);
    expect(readFileSync(join(await bootedView(together, both.commit), 'usr/share/greet-index'), 'utf8')).toContain('usr/share/greet-words/words\n');
  });

  it('refuses, as pacman -U does, a package whose depends nothing meets (exit 7), with nothing changed', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const r = await cli(['install', ...target(s), greet]);
    expect(r.exitCode, r.stderr).toBe(7);
    expect(r.stderr).toContain('greet 1.0-2');
    expect(r.stderr).toContain('depends on words>=2');
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });

  it('records the md5 of a config file that the package\'s .MTREE does not give (a hand-made package): pacman finds it unmodified', async () => {
    const pkginfo = 'pkgname = handmade\npkgbase = handmade\npkgver = 1-1\npkgdesc = no mtree\nbuilddate = 1700000000\npackager = hand\nsize = 9\narch = any\nbackup = etc/handmade.conf\n';
    const file = join(work, 'handmade-1-1-any.pkg.tar.gz');
    writeFileSync(file, gzipSync(await rawTar([
      { name: '.PKGINFO', content: pkginfo },
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/handmade.conf', content: 'setting=1\n', uname: 'root', gname: 'root' },
    ])));
    const s = await sysroot();
    const result = await cliJson(['install', ...target(s), file]);
    const view = await bootedView(s, result.commit);
    expect((await pacman(view, '-Qii', 'handmade')).stdout).toMatch(/^UNMODIFIED\t.*\/etc\/handmade\.conf$/m);
  });

  it('refuses a package that ships a file the base owns with other content, with exit 4 and nothing changed', async () => {
    const s = await sysroot();
    const before = await systemSnapshot(s.sysroot);
    const impostor = await buildPacmanPackage(join(work, 'impostor'), {
      name: 'impostor',
      version: '1',
      files: [{ path: '/usr/share/libgreet/greeting', content: 'not the greeting\n' }],
    });
    const r = await cli(['install', ...target(s), impostor]);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/impostor.*\/usr\/share\/libgreet\/greeting.*libgreet|libgreet.*\/usr\/share\/libgreet\/greeting.*impostor/s);
    expect(await systemSnapshot(s.sysroot)).toBe(before);
  });
});
