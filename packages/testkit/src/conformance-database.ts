/**
 * The database half of the conformance suite: who owns which path once packages are layered, who may overwrite whom,
 * and what an uninstall leaves. Each is judged on a tree rebuilt on disk from the backend's own LayerFiles.
 */
import { rmSync } from 'node:fs';
import type { Backend, InstalledDatabase } from '@ostree-layer/core';
import { DirectoryTree } from '@ostree-layer/core';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConformanceFixtures } from './conformance.js';
import { ABSOLUTE_NORMALISED, idText, layeredPackages } from './conformance-helpers.js';
import { treeWithLayer } from './layer-files.js';

export function describeDatabaseConformance(backend: Backend, fixtures: () => ConformanceFixtures): void {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });

  /** The fixture tree with the database writeDatabase returns for `files` layered over it. */
  async function layeredTree(files: string[]) {
    const f = fixtures();
    const tree = new DirectoryTree(f.treeWithDatabase);
    const location = (await backend.detect(tree))!;
    const added = await layeredPackages(backend, files);
    const dir = await treeWithLayer(f.treeWithDatabase, await backend.writeDatabase({ tree, database: await backend.openDatabase(tree, location), added }));
    made.push(dir);
    const layered = new DirectoryTree(dir);
    return { dir, tree: layered, location, added, database: await openAt(backend, layered, location) };
  }

  describe('the installed database', () => {
    it('records every path a layered package ships, directories included, as owned by it', async () => {
      const { added, database } = await layeredTree(fixtures().packages);
      const shipped = added.flatMap((a) => a.entries.map((e) => e.path));
      const owners = await database.owners([...shipped, '/no/such/path/anywhere']);
      let directories = 0;
      for (const { package: pkg, entries } of added) {
        for (const entry of entries) {
          if (entry.type === 'directory') directories++;
          expect(owners.get(entry.path)?.map(idText) ?? [], `${entry.path} (${entry.type}) of ${idText(pkg.id)}`).toContain(idText(pkg.id));
        }
      }
      expect(directories, 'the fixture packages ship at least one directory').toBeGreaterThan(0);
      for (const path of owners.keys()) expect(path).toMatch(ABSOLUTE_NORMALISED);
      expect(owners.has('/no/such/path/anywhere'), 'a path no package ships has no owner').toBe(false);
      // Asked about one path, the database answers about that path alone.
      const one = added[0]!.entries.find((e) => e.type !== 'directory')!.path;
      expect([...(await database.owners([one])).keys()]).toEqual([one]);
      const listed = (await database.packages()).map(idText);
      for (const { package: pkg } of added) expect(listed).toContain(idText(pkg.id));
    });

    it('lets a package overwrite its own paths, and a stranger only when it declares that it replaces the owner', async () => {
      const { owner, stranger, replacer, path } = fixtures().overwrite;
      const ownerPkg = await backend.openPackage(owner);
      const strangerPkg = await backend.openPackage(stranger);
      const shipped = async (file: string) => (await layeredPackages(backend, [file]))[0]!.entries.map((e) => e.path);
      // The fixture is what the engine would ask about: both ship the path, and they are different packages.
      expect(await shipped(owner)).toContain(path);
      expect(await shipped(stranger)).toContain(path);
      expect(strangerPkg.id.name).not.toBe(ownerPkg.id.name);
      expect(backend.mayOverwrite(ownerPkg, ownerPkg.id, path), `${idText(ownerPkg.id)} over its own ${path}`).toBe(true);
      expect(backend.mayOverwrite(strangerPkg, ownerPkg.id, path), `${idText(strangerPkg.id)} over ${path} of ${idText(ownerPkg.id)}`).toBe(false);
      // The fix a conflict message gives is the format's own words, naming what the package must declare about the owner.
      if (backend.overwriteHint) expect(backend.overwriteHint(strangerPkg.id, ownerPkg.id)).toContain(ownerPkg.id.name);
      if (replacer) {
        const replacerPkg = await backend.openPackage(replacer);
        expect(await shipped(replacer)).toContain(path);
        expect(backend.mayOverwrite(replacerPkg, ownerPkg.id, path), `${idText(replacerPkg.id)} declares it replaces ${ownerPkg.id.name}`).toBe(true);
      }
    });

    // databaseWithout is optional in the contract: a backend without it does not offer that verb (the engine says so), so there is nothing to check.
    // Optional in the contract: a format without it layers but cannot uninstall (the engine refuses it as a usage error), so
    // there is nothing of it to check. dpkg, rpm, pacman and the fake format all have it.
    it.skipIf(!backend.databaseWithout)('drops a layered package from the database again, keeping the base and the other layered packages (databaseWithout)', async () => {
      const f = fixtures();
      const base = new DirectoryTree(f.treeWithDatabase);
      const basePackages = (await (await openAt(backend, base, (await backend.detect(base))!)).packages()).map(idText);
      const current = await layeredTree(f.packages);
      const [removed, ...kept] = current.added.map((a) => a.package.id);
      expect((await current.database.packages()).map(idText)).toContain(idText(removed!));

      const files = await backend.databaseWithout!({ tree: current.tree, database: current.database, base, remove: [removed!] });
      for (const file of files) expect(/^\/(usr|etc)\//.test(file.path), file.path).toBe(true);
      const after = await treeWithLayer(f.treeWithDatabase, files);
      made.push(after);
      const database = await openAt(backend, new DirectoryTree(after), current.location);
      const listed = (await database.packages()).map(idText).sort();
      expect(listed).toEqual([...basePackages, ...kept.map(idText)].sort());
      const removedPaths = current.added.find((a) => a.package.id === removed)!.entries.map((e) => e.path);
      for (const [path, owners] of await database.owners(removedPaths)) expect(owners.map(idText), path).not.toContain(idText(removed!));
      // The packages that stay still own what they ship.
      for (const { package: pkg, entries } of current.added.slice(1)) {
        const owned = await database.owners(entries.map((e) => e.path));
        for (const e of entries) expect(owned.get(e.path)?.map(idText) ?? [], e.path).toContain(idText(pkg.id));
      }
    });
  });
}

async function openAt(backend: Backend, tree: DirectoryTree, location: string): Promise<InstalledDatabase> {
  expect(await backend.detect(tree), `${tree.description}: the database is where it was`).toBe(location);
  return backend.openDatabase(tree, location);
}
