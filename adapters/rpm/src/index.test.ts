/** The Backend object as the engine uses it, on packages built here with rpmbuild and checked with rpm -qp. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PackageFile } from '@ostree-layer/core';
import { inspectRpm, multilibMayOverwrite, rpmBackend } from './index.js';

let work: string;
let pkgFile: string;

const SPEC = `Name: kitchen
Version: 3.1^git2
Release: 4%{?dist}
Epoch: 2
Summary: every kind of entry
License: MIT
Requires: (bash or zsh)
Requires(post): coreutils
Provides: kitchen-api = 3
%description
d
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/share/kitchen/sub %{buildroot}/etc
cp /bin/true %{buildroot}/usr/bin/kitchen
ln -s kitchen %{buildroot}/usr/bin/kitchen-link
ln %{buildroot}/usr/bin/kitchen %{buildroot}/usr/bin/kitchen-hard
echo conf > %{buildroot}/etc/kitchen.conf
echo data > %{buildroot}/usr/share/kitchen/sub/data
%post
true
%files
%attr(4755,root,root) /usr/bin/kitchen
/usr/bin/kitchen-hard
/usr/bin/kitchen-link
%config(noreplace) %attr(0640,root,daemon) /etc/kitchen.conf
%dir /usr/share/kitchen
/usr/share/kitchen/sub
%ghost /var/lib/kitchen.state
`;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'rpm-backend-'));
  const top = join(work, 'top');
  mkdirSync(join(top, 'SPECS'), { recursive: true });
  writeFileSync(join(top, 'SPECS/kitchen.spec'), SPEC);
  execFileSync('rpmbuild', ['--define', `_topdir ${top}`, '--define', '_build_id_links none', '--dbpath', join(work, 'db'), '-bb', join(top, 'SPECS/kitchen.spec')], { stdio: 'ignore' });
  const arch = readdirSync(join(top, 'RPMS'))[0];
  pkgFile = join(top, 'RPMS', arch, readdirSync(join(top, 'RPMS', arch))[0]);
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('rpmBackend', () => {
  it('recognises rpm files by magic, not by name', async () => {
    expect(await rpmBackend.supportsFile(pkgFile)).toBe(true);
    const fake = join(work, 'fake.rpm');
    writeFileSync(fake, '!<arch>\n');
    expect(await rpmBackend.supportsFile(fake)).toBe(false);
    expect(await rpmBackend.supportsFile(join(work, 'missing.rpm'))).toBe(false);
  });

  it('inspect JSON matches rpm -qp for identity, files and dependencies', async () => {
    const meta = (await inspectRpm(pkgFile)) as Record<string, any>;
    const q = (qf: string) => execFileSync('rpm', ['--dbpath', join(work, 'db'), '-qp', '--qf', qf, pkgFile], { encoding: 'utf8' });
    expect(`${meta.name}|${meta.epoch}|${meta.version}|${meta.release}|${meta.arch}`).toBe(q('%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}'));
    const want = q('[%{FILENAMES}|%{FILEMODES:octal}|%{FILEUSERNAME}|%{FILEGROUPNAME}|%{LONGFILESIZES}\\n]').trim().split('\n');
    // The contract gives size 0 for everything but regular files; rpm records a symlink's target length.
    expect(meta.files.map((f: any) => `${f.path}|${f.mode.toString(8)}|${f.user}|${f.group}|${f.size}`)).toEqual(
      want.map((l) => {
        const [path, mode, user, group, size] = l.split('|');
        const regular = (parseInt(mode, 8) & 0o170000) === 0o100000;
        return `${path}|${(parseInt(mode, 8) & 0o7777).toString(8)}|${user}|${group}|${regular ? size : 0}`;
      }),
    );
    const types = Object.fromEntries(meta.files.map((f: any) => [f.path, f.type]));
    expect(types).toMatchObject({ '/usr/bin/kitchen-link': 'symlink', '/usr/share/kitchen': 'directory', '/var/lib/kitchen.state': 'file' });
    expect(meta.files.find((f: any) => f.path === '/etc/kitchen.conf')).toMatchObject({ config: true, mode: 0o640, group: 'daemon' });
    expect(meta.files.find((f: any) => f.path === '/var/lib/kitchen.state')).toMatchObject({ ghost: true });
    const requires = meta.dependencies.requires;
    expect(requires.find((d: any) => d.name === '(bash or zsh)').rich).toEqual({ op: 'or', operands: [{ op: 'atom', name: 'bash' }, { op: 'atom', name: 'zsh' }] });
    expect(requires.find((d: any) => d.name === 'coreutils').pre).toBe(true);
    expect(requires.some((d: any) => d.rpmlib && d.name === 'rpmlib(RichDependencies)')).toBe(true);
    expect(meta.dependencies.provides).toContainEqual(expect.objectContaining({ name: 'kitchen-api', operator: '=', version: '3' }));
    expect(meta.hasScripts).toBe(true);
    expect(JSON.parse(JSON.stringify(meta))).toEqual(meta);
  });

  it('streams the payload: hardlink after its content, symlink target, setuid mode, ghost last', async () => {
    const pkg = await rpmBackend.openPackage(pkgFile);
    expect(pkg.id).toMatchObject({ name: 'kitchen', version: expect.stringMatching(/^2:3\.1\^git2-4/) });
    const seen: string[] = [];
    const modes = new Map<string, number>();
    for await (const { entry, body } of pkg.payload()) {
      if (body) body.resume();
      modes.set(entry.path, entry.mode);
      seen.push(entry.type === 'hardlink' || entry.type === 'symlink' ? `${entry.path}->${entry.linkTarget}` : `${entry.path}:${entry.type}:${entry.mode.toString(8)}${entry.ghost ? ':ghost' : ''}`);
    }
    const hard = seen.findIndex((s) => /^\/usr\/bin\/kitchen(-hard)?->\/usr\/bin\/kitchen(-hard)?$/.test(s));
    const content = seen.findIndex((s) => /^\/usr\/bin\/kitchen(-hard)?:file/.test(s));
    expect(content).toBeGreaterThanOrEqual(0);
    expect(hard).toBeGreaterThan(content);
    expect(seen[hard].split('->')[1]).toBe(seen[content].split(':')[0]);
    expect(seen).toContain('/usr/bin/kitchen-link->kitchen');
    expect(seen.at(-1)).toBe('/var/lib/kitchen.state:file:0:ghost') // rpmbuild records 0100000 for a ghost missing from the buildroot;
    expect(modes.get('/usr/bin/kitchen')).toBe(0o4755);
    expect(rpmBackend.stateNote?.(pkg)).toMatch(/scriptlets were not run/);
  });

  it('compares versions in rpm order', () => {
    expect(rpmBackend.compareVersions('1:1.0-1', '2.0-1')).toBeGreaterThan(0);
    expect(rpmBackend.compareVersions('1.0~rc1-1', '1.0-1')).toBeLessThan(0);
    expect(rpmBackend.compareVersions('1.0^git1-1', '1.0-1')).toBeGreaterThan(0);
    expect(rpmBackend.compareVersions('1.0-1', '1.0-1')).toBe(0);
  });

  it('allows overwriting only for a multilib sibling of the preferred colour with ELF files', async () => {
    const pkg = await rpmBackend.openPackage(pkgFile);
    if (pkg.id.arch === 'x86_64') {
      const i686 = { name: 'kitchen', version: '1-1', arch: 'i686' };
      // The ELF file has rpm's 64-bit colour and wins; a data file at a shared path is a conflict, as rpm says.
      expect(rpmBackend.mayOverwrite(pkg, i686, '/usr/bin/kitchen')).toBe(true);
      expect(rpmBackend.mayOverwrite(pkg, i686, '/usr/share/kitchen/sub/data')).toBe(false);
      expect(rpmBackend.mayOverwrite(pkg, i686, '/etc/kitchen.conf')).toBe(false);
    }
    expect(rpmBackend.mayOverwrite(pkg, { name: 'other', version: '1-1', arch: pkg.id.arch }, '/usr/bin/kitchen')).toBe(false);
    const fake = (arch: string) => ({ id: { name: 'x', version: '1', arch } }) as PackageFile;
    expect(multilibMayOverwrite(fake('i686'), { name: 'x', version: '1', arch: 'x86_64' })).toBe(false);
    expect(multilibMayOverwrite(fake('x86_64'), { name: 'x', version: '1', arch: 'i686' })).toBe(true);
    expect(multilibMayOverwrite(fake('x86_64'), { name: 'x', version: '1', arch: 'ppc' })).toBe(false);
    expect(multilibMayOverwrite(fake('noarch'), { name: 'x', version: '1', arch: 'noarch' })).toBe(false);
  });
});
