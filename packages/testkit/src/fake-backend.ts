/**
 * A fake backend that implements the whole contract (packages/core/src/backend.ts) with plain JSON: packages from
 * {@link writeFakePackage}, a database that is one JSON file inside the tree. It lets core's conflicts, import and
 * compose be tested fast, without dpkg or rpm, and passes the conformance suite like a real backend
 * (test/conformance/fake.test.ts), so what core's tests learn from it holds for any backend.
 */
import { chmod, mkdir, open, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type {
  Backend, DatabaseWithoutOptions, InspectedFile, InstalledDatabase, InstalledPackage, LayerFile, PackageFile, PackageId,
  ScriptPlan, TreeReader, VersionRelation, WriteDatabaseOptions,
} from '@ostree-layer/core';
import { SCRIPT_DIR, SystemStateError, UsageError } from '@ostree-layer/core';
import { FAKE_EXTENSION, FAKE_PACKAGE_MAGIC, FakePackage, type FakePackageSpec } from './fake-package.js';

/** Where the database lives in a tree: the read-only copy under /usr, and the legacy place `detect` also accepts. */
export const FAKE_DB_LOCATION = '/usr/lib/sysimage/fake';
const LEGACY_DB_LOCATION = '/var/lib/fake';
const DB_FILE = 'db.json';
const DB_FORMAT = 'ostree-layer-fake-db 1';

/** One package as the database records it. */
export interface FakeRecord extends PackageId {
  replaces: string[];
  /** Every path it owns, directories included, as the package names them. */
  files: string[];
}

/** The fake database: the records of one tree's db.json. */
export class FakeDatabase implements InstalledDatabase {
  constructor(readonly location: string, readonly records: FakeRecord[]) {}

  static async open(tree: TreeReader, location: string): Promise<FakeDatabase> {
    const path = `${location}/${DB_FILE}`;
    let parsed: { format?: string; packages?: FakeRecord[] };
    try {
      parsed = JSON.parse((await tree.readFile(path)).toString('utf8')) as typeof parsed;
    } catch (err) {
      throw new SystemStateError(`${tree.description}${path}: cannot read the fake database (${(err as Error).message})`, { cause: err });
    }
    if (parsed.format !== DB_FORMAT || !Array.isArray(parsed.packages)) throw new SystemStateError(`${tree.description}${path}: not a fake database (${DB_FORMAT})`);
    return new FakeDatabase(location, parsed.packages);
  }

  async packages(): Promise<InstalledPackage[]> {
    return this.records.map((r) => ({ name: r.name, version: r.version, arch: r.arch, state: 'installed' }));
  }

  async owners(paths: string[]): Promise<Map<string, PackageId[]>> {
    const wanted = new Set(paths);
    const owners = new Map<string, PackageId[]>();
    for (const r of this.records) {
      for (const path of r.files) {
        if (wanted.has(path)) owners.set(path, [...(owners.get(path) ?? []), { name: r.name, version: r.version, arch: r.arch }]);
      }
    }
    return owners;
  }

  /** The database file with `records`, always at the /usr location (a legacy /var database is relocated). */
  static layerFile(records: FakeRecord[]): LayerFile {
    return { path: `${FAKE_DB_LOCATION}/${DB_FILE}`, type: 'file', mode: 0o644, content: JSON.stringify({ format: DB_FORMAT, packages: records }, null, 1) + '\n' };
  }
}

const sameId = (a: PackageId, b: PackageId): boolean => a.name === b.name && a.version === b.version && a.arch === b.arch;
const describe = (id: PackageId): string => `${id.name} ${id.version} (${id.arch})`;

async function openFakeDatabase(tree: TreeReader, database: InstalledDatabase): Promise<FakeDatabase> {
  return database instanceof FakeDatabase ? database : FakeDatabase.open(tree, database.location);
}

/**
 * The fake's version order: runs of digits compare as numbers, other runs as text, and a version that is a prefix of
 * another is older ("1.0" < "1.0.1"). Enough to order test versions; not any real format's rules.
 */
export function compareFakeVersions(a: string, b: string): number {
  const runs = (v: string) => v.match(/\d+|\D+/g) ?? [];
  const x = runs(a);
  const y = runs(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!;
    const q = y[i]!;
    const pNum = /^\d/.test(p);
    const qNum = /^\d/.test(q);
    if (pNum !== qNum) return pNum ? 1 : -1;
    if (pNum) {
      const diff = Number(BigInt(p) - BigInt(q));
      if (diff !== 0) return Math.sign(diff);
    } else if (p !== q) {
      return p < q ? -1 : 1;
    }
  }
  return Math.sign(x.length - y.length);
}

const RELATIONS: Record<string, (sign: number) => boolean> = {
  '<': (s) => s < 0, '<=': (s) => s <= 0, '=': (s) => s === 0, '>=': (s) => s >= 0, '>': (s) => s > 0, '!=': (s) => s !== 0,
};

export const fakeBackend: Backend = {
  name: 'fake',
  extension: FAKE_EXTENSION,

  async supportsFile(file) {
    const handle = await open(file, 'r').catch(() => undefined);
    if (!handle) return false;
    try {
      const head = Buffer.alloc(FAKE_PACKAGE_MAGIC.length);
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      return bytesRead === head.length && head.toString('utf8') === FAKE_PACKAGE_MAGIC;
    } finally {
      await handle.close();
    }
  },

  async detect(tree) {
    for (const location of [FAKE_DB_LOCATION, LEGACY_DB_LOCATION]) {
      if ((await tree.lstat(`${location}/${DB_FILE}`))?.type === 'file') return location;
    }
    return null;
  },

  openDatabase: (tree, location) => FakeDatabase.open(tree, location),
  openPackage: (file) => FakePackage.open(file),
  compareVersions: compareFakeVersions,

  versionRelation(a: string, op: string, b: string): VersionRelation {
    const holds = RELATIONS[op];
    if (!holds) throw new UsageError(`vercmp: unknown relation "${op}"; use one of ${Object.keys(RELATIONS).join(' ')}`);
    if (a === '' || b === '') throw new UsageError('vercmp: an empty version has no place in the fake order');
    const compare = compareFakeVersions(a, b);
    return { holds: holds(compare), compare, warnings: [] };
  },

  mayOverwrite(incoming: PackageFile, owner: PackageId): boolean {
    if (incoming.id.name === owner.name && incoming.id.arch === owner.arch) return true;
    return incoming instanceof FakePackage && incoming.replaces.includes(owner.name);
  },

  async writeDatabase({ tree, database, added }: WriteDatabaseOptions): Promise<LayerFile[]> {
    const current = await openFakeDatabase(tree, database);
    let records = current.records.map((r) => ({ ...r, files: [...r.files] }));
    for (const layered of added) {
      const taken = new Set([...layered.takenOver.values()].flat());
      for (const r of records) if (layered.takenOver.has(r.name)) r.files = r.files.filter((f) => !taken.has(f));
      // A new version of an installed package takes its record's place, as an upgrade does.
      records = records.filter((r) => !(r.name === layered.package.id.name && r.arch === layered.package.id.arch));
      const replaces = layered.package instanceof FakePackage ? layered.package.replaces : [];
      records.push({ ...layered.package.id, replaces, files: layered.entries.map((e) => e.path) });
    }
    return [FakeDatabase.layerFile(records)];
  },

  async databaseWithout({ tree, database, base, remove }: DatabaseWithoutOptions): Promise<LayerFile[]> {
    const current = await openFakeDatabase(tree, database);
    const baseDb = await FakeDatabase.open(base, (await fakeBackend.detect(base)) ?? FAKE_DB_LOCATION);
    const isBase = (r: FakeRecord) => baseDb.records.some((b) => sameId(b, r));
    const removed = new Set<FakeRecord>();
    for (const id of remove) {
      const found = current.records.filter((r) => r.name === id.name && (!id.arch || r.arch === id.arch));
      if (found.length === 0) throw new SystemStateError(`${describe(id)} is not in the fake database; nothing to uninstall`);
      if (found.some(isBase)) throw new SystemStateError(`${describe(id)} is part of the base image, not a layered package; it cannot be uninstalled`);
      for (const r of found) removed.add(r);
    }
    const remaining = current.records.filter((r) => !removed.has(r));
    // A removed package that had upgraded a base package gives the base's record back.
    for (const r of removed) {
      const replaced = baseDb.records.find((b) => b.name === r.name && b.arch === r.arch);
      if (replaced && !remaining.some((k) => k.name === r.name && k.arch === r.arch)) remaining.push(replaced);
    }
    // A base package gets back the paths only a removed package had taken over.
    const layeredPaths = new Set(remaining.filter((r) => !isBase(r)).flatMap((r) => r.files));
    const records = remaining.map((r) => {
      const original = baseDb.records.find((b) => sameId(b, r));
      return original ? { ...r, files: original.files.filter((f) => r.files.includes(f) || !layeredPaths.has(f)) } : r;
    });
    return [FakeDatabase.layerFile(records)];
  },

  async inspect(file: string): Promise<Record<string, unknown>> {
    const pkg = await FakePackage.open(file);
    const files: InspectedFile[] = [];
    for await (const { entry, body } of pkg.payload()) {
      body?.resume();
      files.push({
        path: entry.path, type: entry.type, mode: entry.mode, user: entry.user, group: entry.group, size: entry.size,
        ...(entry.linkTarget !== undefined ? { linkTarget: entry.linkTarget } : {}),
        ...(entry.config ? { config: true } : {}),
      });
    }
    return { ...pkg.metadata, files };
  },

  async planScripts({ tree, database, added }: WriteDatabaseOptions): Promise<ScriptPlan | null> {
    const location = (await openFakeDatabase(tree, database)).location;
    const files: ScriptPlan['files'] = [];
    const afterPayload: ScriptPlan['afterPayload'] = [];
    for (const { package: pkg } of added) {
      if (!(pkg instanceof FakePackage)) throw new SystemStateError(`${pkg.file}: not a package opened by the fake backend`);
      for (const [script, body] of pkg.scripts) {
        const name = `${pkg.id.name}.${script}`;
        files.push({ name, content: body, mode: 0o755 });
        afterPayload.push({ package: pkg.id, label: script, argv: ['/bin/sh', `${SCRIPT_DIR}/${name}`] });
      }
    }
    if (afterPayload.length === 0) return null;
    return { files, beforePayload: [], afterPayload, binds: [], sandboxOnly: [], discard: [`${location}/lock`] };
  },

  stateNote: (pkg) => (pkg.hasScripts ? `${pkg.id.name}: scripts not run; the fake package is not configured` : undefined),
};

/**
 * A deployment-like tree at `dir` with `installed` on disk (their entries, contents included) and recorded in the
 * fake database. Returns `dir`.
 */
export async function makeFakeTree(dir: string, installed: FakePackageSpec[]): Promise<string> {
  const records: FakeRecord[] = [];
  for (const spec of installed) {
    for (const entry of spec.entries) {
      const path = join(dir, entry.path);
      await mkdir(dirname(path), { recursive: true });
      if (entry.type === 'directory') await mkdir(path, { recursive: true, mode: entry.mode ?? 0o755 });
      else if (entry.type === 'symlink') await symlink(entry.target!, path);
      else {
        await writeFile(path, entry.content ?? '');
        await chmod(path, entry.mode ?? 0o644);
      }
    }
    records.push({ name: spec.name, version: spec.version, arch: spec.arch ?? 'any', replaces: spec.replaces ?? [], files: spec.entries.map((e) => e.path) });
  }
  const db = FakeDatabase.layerFile(records);
  await mkdir(join(dir, FAKE_DB_LOCATION), { recursive: true });
  await writeFile(join(dir, db.path), db.content!);
  return dir;
}
