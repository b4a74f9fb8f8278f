/**
 * The conformance suite every format must pass: the engine relies on these properties of the contract
 * (packages/core/src/plugin.ts, backend.ts, repository.ts) whatever the package format. A format's own tests call
 * `describePluginConformance` with its plugin, real package files of its format, a tree holding its database and,
 * when the plugin has a repository side, a tiny local repository (`describeBackendConformance` checks a backend
 * alone).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, FormatPlugin, PackageEntry } from '@ostree-layer/core';
import { DirectoryTree, PackageFormatError, UsageError } from '@ostree-layer/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeDatabaseConformance } from './conformance-database.js';
import { ABSOLUTE_NORMALISED, layeredPackages } from './conformance-helpers.js';
import { describePackageConformance } from './conformance-package.js';
import { describeRepositoryConformance, type RepositoryFixture } from './conformance-repository.js';

export type { RepositoryFixture } from './conformance-repository.js';

export interface ConformanceFixtures {
  /**
   * At least two valid package files of the backend's format without scripts, not in the tree's database, one with a
   * directory, a file and a symlink.
   */
  packages: string[];
  /** A file of another format (or garbage) the backend must not claim. */
  foreignFile: string;
  /** A real package file of another format (a .rpm for dpkg, a .deb for rpm): claimed by its own backend, not this one. */
  otherFormatFile: string;
  /** A deployment-like tree (a directory) holding the backend's installed database. */
  treeWithDatabase: string;
  /** Versions in strictly ascending order by the backend's own rules. */
  ascendingVersions: string[];
  /** The names `versionRelation` (`vercmp`) takes for "lower than", "equal" and "higher than" ("lt", "eq", "gt"). */
  versionOperators: { lower: string; equal: string; higher: string };
  /**
   * Packages that all ship `path` with different content: `stranger` declares nothing that lets it overwrite
   * `owner`'s file; `replacer`, for formats that have such a declaration (dpkg Replaces:), declares it.
   */
  overwrite: { owner: string; stranger: string; replacer?: string; path: string };
  /** A package with a maintainer script that gets a step of its own (dpkg preinst, rpm %post). */
  scripted: string;
  /** Required when the plugin has `repositories`: a tiny local repository and what the target looks like to it. */
  repository?: RepositoryFixture;
}

/** The whole contract of a format: its backend, and its repository side when it has one. */
export function describePluginConformance(plugin: FormatPlugin, fixtures: () => Promise<ConformanceFixtures>): void {
  describeConformance(plugin, fixtures);
}

/** The backend half of the contract alone (a format that layers package files only). */
export function describeBackendConformance(backend: Backend, fixtures: () => Promise<ConformanceFixtures>): void {
  describeConformance({ backend }, fixtures);
}

function describeConformance(plugin: FormatPlugin, fixtures: () => Promise<ConformanceFixtures>): void {
  const { backend } = plugin;
  describe(`backend conformance: ${backend.name}`, () => {
    let f: ConformanceFixtures;
    beforeAll(async () => {
      f = await fixtures();
    });

    it('claims its own package files by content, and neither garbage nor a package of another format', async () => {
      for (const file of f.packages) expect(await backend.supportsFile(file), file).toBe(true);
      expect(await backend.supportsFile(f.foreignFile)).toBe(false);
      expect(await backend.supportsFile(f.otherFormatFile), `${f.otherFormatFile} is another format's package`).toBe(false);
      await expect(backend.openPackage(f.otherFormatFile)).rejects.toThrow(PackageFormatError);
    });

    it('lists payloads with absolute, normalised paths, the same way every time', async () => {
      for (const file of f.packages) {
        const pkg = await backend.openPackage(file);
        expect(pkg.id.name).not.toBe('');
        expect(pkg.id.version).not.toBe('');
        const list = async () => {
          const out: PackageEntry[] = [];
          for await (const { entry, body } of pkg.payload()) {
            out.push(entry);
            if (body) for await (const _ of body) void _;
          }
          return out;
        };
        const first = await list();
        expect(first.length).toBeGreaterThan(0);
        for (const e of first) {
          expect(e.path, `${file}: ${e.path}`).toMatch(ABSOLUTE_NORMALISED);
          expect(e.mode & ~0o7777).toBe(0);
          if (e.type === 'symlink') expect(e.linkTarget).toBeTruthy();
          if (e.type === 'hardlink') expect(first.some((x) => x.path === e.linkTarget && x.type === 'file')).toBe(true);
        }
        expect(await list()).toEqual(first);
      }
    });

    it('orders versions as a total order consistent with the given ascending list', () => {
      const v = f.ascendingVersions;
      for (let i = 0; i < v.length; i++) {
        expect(backend.compareVersions(v[i], v[i])).toBe(0);
        for (let j = i + 1; j < v.length; j++) {
          expect(Math.sign(backend.compareVersions(v[i], v[j])), `${v[i]} < ${v[j]}`).toBe(-1);
          expect(Math.sign(backend.compareVersions(v[j], v[i])), `${v[j]} > ${v[i]}`).toBe(1);
        }
      }
    });

    it('answers vercmp as its own tool does: lower, equal and higher agree with the version order', () => {
      const v = f.ascendingVersions;
      const { lower, equal, higher } = f.versionOperators;
      for (let i = 0; i + 1 < v.length; i++) {
        const [a, b] = [v[i]!, v[i + 1]!];
        const less = backend.versionRelation(a, lower, b);
        expect(less.holds, `${a} ${lower} ${b}`).toBe(true);
        expect(less.compare === null ? null : Math.sign(less.compare), `${a} vs ${b}`).toBe(-1);
        expect(Array.isArray(less.warnings)).toBe(true);
        expect(backend.versionRelation(b, lower, a).holds, `${b} ${lower} ${a}`).toBe(false);
        expect(backend.versionRelation(b, higher, a).holds, `${b} ${higher} ${a}`).toBe(true);
        expect(backend.versionRelation(a, equal, a).holds, `${a} ${equal} ${a}`).toBe(true);
        expect(backend.versionRelation(a, equal, b).holds, `${a} ${equal} ${b}`).toBe(false);
      }
      // An operator the tool does not know is the user's mistake (exit 2), named as such.
      expect(() => backend.versionRelation(v[0]!, 'is-about', v[0]!)).toThrow(UsageError);
    });

    it('finds its database in a tree, and nothing in an empty one', async () => {
      const empty = mkdtempSync(join(tmpdir(), 'conformance-empty-'));
      try {
        expect(await backend.detect(new DirectoryTree(empty))).toBeNull();
      } finally {
        rmSync(empty, { recursive: true, force: true });
      }
      const tree = new DirectoryTree(f.treeWithDatabase);
      const location = await backend.detect(tree);
      expect(location).toMatch(ABSOLUTE_NORMALISED);
      const db = await backend.openDatabase(tree, location!);
      expect((await db.packages()).length).toBeGreaterThan(0);
    });

    describeDatabaseConformance(backend, () => f);
    describePackageConformance(backend, () => f);
    if (plugin.repositories) describeRepositoryConformance(plugin, () => f);

    it('writes the database for new packages without touching the tree, only as tree content, and cleans up after itself', async () => {
      const tree = new DirectoryTree(f.treeWithDatabase);
      const location = (await backend.detect(tree))!;
      const database = await backend.openDatabase(tree, location);
      const before = snapshot(f.treeWithDatabase);
      const added = await layeredPackages(backend, f.packages);
      const files = await backend.writeDatabase({ tree, database, added });
      expect(files.length).toBeGreaterThan(0);
      // The database, and the few files that point the tree's own tools at it: tree content under /usr (or the /etc of
      // a tree that has no /usr/etc), never under /var, which a deployment does not get from its commit.
      expect(files.some((file) => file.path === location || file.path.startsWith(location + '/'))).toBe(true);
      for (const file of files) expect(/^\/(usr|etc)\//.test(file.path) && !file.path.startsWith('/var/'), file.path).toBe(true);
      expect(snapshot(f.treeWithDatabase)).toEqual(before);
      for (const file of files) {
        await file.dispose?.();
        if (file.source) expect(existsSync(file.source), `${file.source} is left behind after dispose()`).toBe(false);
      }
    });

    it('refuses a truncated package with a PackageFormatError naming the file', async () => {
      const { copyFileSync, statSync, truncateSync } = await import('node:fs');
      const dir = mkdtempSync(join(tmpdir(), 'conformance-trunc-'));
      try {
        const cut = join(dir, `cut.${backend.extension}`);
        copyFileSync(f.packages[0], cut);
        truncateSync(cut, Math.floor(statSync(cut).size / 2));
        const attempt = async () => {
          const pkg = await backend.openPackage(cut);
          for await (const { body } of pkg.payload()) if (body) for await (const _ of body) void _;
        };
        await expect(attempt()).rejects.toThrow(PackageFormatError);
        await expect(attempt()).rejects.toThrow(cut);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

