/**
 * The repository half of the conformance suite, for a plugin with `repositories`: the target is read from the tree's
 * database (its architecture, its installed packages), a tiny local repository opens into candidates whose downloads
 * fetch the very package files it holds, and the generic solver answers a request with the plugin's pool rules and
 * policy, as `install NAME` would.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FormatPlugin, InstalledDatabase, RepositoryBackend, RepositorySet, RepositoryTarget, ReportEvent } from '@ostree-layer/core';
import { DirectoryTree, fetchAll, openRepositoryTarget, planByName } from '@ostree-layer/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConformanceFixtures } from './conformance.js';
import { idText } from './conformance-helpers.js';

export interface RepositoryFixture {
  /** The repository, in the backend's one-line source syntax (`--source`), made by the fixture with the real tools. */
  sources: string[];
  /** Accept it unsigned (a repository made for the test carries no signature the tree trusts). */
  allowUnauthenticated?: boolean;
  /** Package files the repository holds that the target can take: each must be offered (others may be, too). */
  packages: string[];
  /** The architecture `targetArch` must read from the fixture tree's database. */
  arch: string;
  /** A request the repository satisfies on the fixture tree, and every package it installs as "name arch". */
  request: string;
  installs: string[];
}

export function describeRepositoryConformance(plugin: FormatPlugin, fixtures: () => ConformanceFixtures): void {
  const repositories = plugin.repositories as RepositoryBackend;
  describe('the repository side', () => {
    let fixture: RepositoryFixture;
    let target: RepositoryTarget;
    let opened: RepositorySet;
    const events: ReportEvent[] = [];
    const cache = mkdtempSync(join(tmpdir(), 'conformance-repo-cache-'));
    afterAll(() => rmSync(cache, { recursive: true, force: true }));

    beforeAll(async () => {
      const f = fixtures();
      expect(f.repository, `${plugin.backend.name} has repositories: the fixtures must give a repository`).toBeDefined();
      fixture = f.repository!;
      const tree = new DirectoryTree(f.treeWithDatabase);
      const database: InstalledDatabase = await plugin.backend.openDatabase(tree, (await plugin.backend.detect(tree))!);
      target = await openRepositoryTarget(repositories, tree, database);
      opened = await repositories.openRepositories({
        ...target,
        cacheDir: cache,
        extraSources: fixture.sources,
        allowUnauthenticated: fixture.allowUnauthenticated,
        report: { emit: (event) => events.push(event) },
      });
    });

    it('reads the target architecture from the database, not from the host', () => {
      expect(target.arch).toBe(fixture.arch);
    });

    it('offers the packages of the repository, each with a download that fetches that very file', async () => {
      const files = new Map<string, string>();
      for (const file of fixture.packages) files.set(idText((await plugin.backend.openPackage(file)).id), file);
      const specs = opened.specs();
      const offered = new Set(specs.map(idText));
      for (const id of files.keys()) expect(offered.has(id), `${id} is offered`).toBe(true);
      for (const spec of specs.filter((s) => files.has(idText(s)))) {
        const file = files.get(idText(spec))!;
        const bytes = readFileSync(file);
        const { download } = spec;
        expect(download.size, `${idText(spec)}: size`).toBe(bytes.length);
        if (download.sha256) expect(download.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
        if (download.sha512) expect(download.sha512).toBe(createHash('sha512').update(bytes).digest('hex'));
        expect(download.sha256 ?? download.sha512, `${idText(spec)}: a digest`).toBeTruthy();
        expect(download.fileName).toMatch(/^[^/]+$/);
        expect(download.origin).not.toBe('');
      }
      // The engine's downloader follows the URLs and checks size and digest; the backend opens what came back.
      const fetched = await fetchAll(specs.map((s) => s.download), { cacheDir: cache });
      for (const [i, got] of fetched.entries()) expect(idText((await plugin.backend.openPackage(got.path)).id)).toBe(idText(specs[i]!));
    });

    it('reports through the report sink with events the CLI knows', () => {
      for (const event of events) expect(['message', 'warning']).toContain(event.type);
    });

    it('lists, searches and shows what it loaded', async () => {
      const loaded = opened.repositories();
      expect(loaded.length).toBeGreaterThan(0);
      expect(loaded.reduce((n, r) => n + r.packages, 0)).toBeGreaterThanOrEqual(fixture.packages.length);
      const name = opened.specs()[0]!.name;
      expect(opened.search(name).map((hit) => hit.name)).toContain(name);
      const shown = await opened.show(name);
      expect(shown.length).toBeGreaterThan(0);
      expect(JSON.parse(JSON.stringify(shown))).toEqual(shown);
    });

    it('turns the installed database into locked specs and answers a request with its pool rules and policy', async () => {
      const installed = await repositories.installedSpecs(target);
      const names = new Set(installed.map((s) => s.name));
      for (const p of await target.database.packages()) expect(names.has(p.name), `${p.name} is installed`).toBe(true);
      expect(repositories.parseRequest(fixture.request).name).not.toBe('');
      const plan = await planByName({ repositories, tree: target.tree, database: target.database, names: [fixture.request], cacheDir: cache, opened });
      expect(plan.install.map((p) => `${p.name} ${p.arch}`).sort()).toEqual([...fixture.installs].sort());
      for (const p of plan.install) expect(p.download.url).not.toBe('');
    });
  });
}
