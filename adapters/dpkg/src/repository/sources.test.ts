import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryTree } from '@ostree-layer/core';
import { parseSourceLine, parseSourcesFile, readSources } from './sources.js';
import { parseRelease } from './release.js';
import { scanPackages, INDEX_FIELDS } from './packages-index.js';
import { parseDebRequest } from '../resolve-model.js';

describe('APT sources', () => {
  it('parses one-line entries with options, and skips deb-src and comments', () => {
    expect(parseSourceLine('deb [arch=amd64,i386 signed-by=/usr/share/keyrings/k.gpg] http://m.example/debian/ bookworm main contrib', 'x')).toEqual({
      uri: 'http://m.example/debian', suite: 'bookworm', components: ['main', 'contrib'], architectures: ['amd64', 'i386'],
      signedBy: ['/usr/share/keyrings/k.gpg'], origin: 'x',
    });
    expect(parseSourceLine('deb-src http://m.example/debian bookworm main', 'x')).toBeNull();
    expect(parseSourceLine('  # deb http://m.example/debian bookworm main', 'x')).toBeNull();
    expect(() => parseSourceLine('deb http://m.example/debian bookworm', 'f:3')).toThrow(/f:3: "bookworm" needs at least one component/);
    expect(parseSourceLine('deb [trusted=yes] file:///srv/flat ./', 'x')).toMatchObject({ suite: './', components: [], trusted: true });
  });

  it('parses deb822 stanzas: several URIs and suites, inline Signed-By, Enabled: no', () => {
    const text = [
      'Types: deb deb-src', 'URIs: http://a.example/d http://b.example/d', 'Suites: s1 s2', 'Components: main',
      'Signed-By:', ' -----BEGIN PGP PUBLIC KEY BLOCK-----', ' .', ' abc', ' -----END PGP PUBLIC KEY BLOCK-----', '',
      'Types: deb', 'URIs: http://c.example/d', 'Suites: s3', 'Components: main', 'Enabled: no', '',
    ].join('\n');
    const entries = parseSourcesFile(text, 'x.sources');
    expect(entries.map((e) => `${e.uri} ${e.suite}`)).toEqual(['http://a.example/d s1', 'http://a.example/d s2', 'http://b.example/d s1', 'http://b.example/d s2']);
    expect(entries[0].signedByInline).toBe('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc\n-----END PGP PUBLIC KEY BLOCK-----');
  });

  it('reads /usr/etc/apt and /etc/apt of a tree, merging the copies a deployment has of both', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sources-'));
    for (const dir of ['usr/etc/apt', 'etc/apt']) {
      mkdirSync(join(root, dir, 'sources.list.d'), { recursive: true });
      writeFileSync(join(root, dir, 'sources.list'), 'deb http://m.example/debian bookworm main\n');
    }
    writeFileSync(join(root, 'etc/apt/sources.list.d/extra.sources'), 'Types: deb\nURIs: http://x.example/\nSuites: s\nComponents: c\n');
    const found = await readSources(new DirectoryTree(root), ['deb [signed-by=/tmp/k.asc] file:///m stable main']);
    expect(found.map((e) => `${e.uri} ${e.suite} ${e.hostPaths ?? false}`)).toEqual([
      'http://m.example/debian bookworm false', 'http://x.example s false', 'file:///m stable true',
    ]);
  });
});

describe('Release and Packages', () => {
  const release = (extra: string) =>
    `Origin: T\nSuite: stable\nCodename: bookworm\n${extra}Architectures: amd64\nComponents: main\nSHA256:\n ${'a'.repeat(64)} 123 main/binary-amd64/Packages.xz\n`;
  it('refuses an expired Release, and reads priorities and digests', () => {
    expect(() => parseRelease(release('Valid-Until: Sat, 01 Jan 2000 00:00:00 UTC\n'), 'b/', 'L')).toThrow(/L: the Release file expired on Sat, 01 Jan 2000/);
    const r = parseRelease(release('NotAutomatic: yes\nButAutomaticUpgrades: yes\nAcquire-By-Hash: yes\n'), 'b/', 'L');
    expect(r).toMatchObject({ codename: 'bookworm', priority: 100, acquireByHash: true });
    expect(r.files.get('main/binary-amd64/Packages.xz')).toEqual({ sha256: 'a'.repeat(64), size: 123 });
    expect(() => parseRelease('Suite: x\nMD5Sum:\n abc 1 f\n', 'b/', 'L')).toThrow(/no SHA256 digests/);
  });

  it('scans Packages text keeping only the fields it needs, continuation lines joined', () => {
    const rows = scanPackages('Package: a\nVersion: 1\nDepends: b,\n c (>= 2)\nDescription: short\n long text\n\nPackage: b\nVersion: 2\n');
    expect(rows).toHaveLength(2);
    expect(rows[0][INDEX_FIELDS.indexOf('Depends')]).toBe('b, c (>= 2)');
    expect(rows[0][INDEX_FIELDS.indexOf('Description')]).toBe('short');
    expect(rows[1][INDEX_FIELDS.indexOf('Version')]).toBe('2');
  });

  it('parses requests: name, name:arch, name=version', () => {
    expect(parseDebRequest('htop')).toEqual({ name: 'htop' });
    expect(parseDebRequest('libc6:i386')).toEqual({ name: 'libc6', arch: 'i386' });
    expect(parseDebRequest('vim=2:9.0.1378-2')).toEqual({ name: 'vim', op: '=', version: '2:9.0.1378-2' });
    expect(() => parseDebRequest('no spaces allowed')).toThrow(/not a package request/);
  });
});
