/**
 * The package half of the conformance suite beyond the payload: what `inspect --json` prints, and the script plan a
 * layered install runs.
 */
import type { Backend, InspectedFile, PackageEntry, ScriptPlan, ScriptStep } from '@ostree-layer/core';
import { DirectoryTree, SCRIPT_DIR } from '@ostree-layer/core';
import { describe, expect, it } from 'vitest';
import type { ConformanceFixtures } from './conformance.js';
import { ABSOLUTE_NORMALISED, idText, layeredPackages, listPayload } from './conformance-helpers.js';

/** A discard entry: a tree path, or "dir/" for a subtree. */
const DISCARD_PATH = /^\/(?!.*\/\/)(?!.*\/\.\.?(\/|$)).+$/;
/** A perMachine path: a tree path, "prefix*" matching a prefix. */
const PER_MACHINE_PATH = /^\/(?!.*\/\/)(?!.*\/\.\.?(\/|$))[^*]*\*?$/;

export function describePackageConformance(backend: Backend, fixtures: () => ConformanceFixtures): void {
  describe('inspect and scripts', () => {
    // inspect is optional in the contract: a backend without it does not offer that verb (the engine says so), so there is nothing to check.
    // Optional in the contract: without it `inspect` is a usage error naming the backend. All formats here have it.
    it.skipIf(!backend.inspect)('inspects a package as plain JSON: its identity, its metadata and every payload entry with path, type, mode, owner and size', async () => {
      const f = fixtures();
      for (const file of [...f.packages, f.scripted]) {
        const pkg = await backend.openPackage(file);
        const info = await backend.inspect!(file);
        expect(JSON.parse(JSON.stringify(info)), `${file}: plain JSON`).toEqual(info);
        // The PackageFile's metadata is documented as what inspect --json prints.
        expect(info).toMatchObject(JSON.parse(JSON.stringify(pkg.metadata)));
        expect(info.name).toBe(pkg.id.name);
        expect(info.arch).toBe(pkg.id.arch);
        // rpm prints Version apart from Epoch and Release; the id's full notation holds it either way.
        expect(typeof info.version).toBe('string');
        expect(pkg.id.version).toContain(info.version);
        expect(Array.isArray(info.files)).toBe(true);
        // Every backend prints the same shape for each entry (InspectedFile), whatever its format calls the fields.
        for (const entry of info.files as InspectedFile[]) {
          expect(entry.path, `${file}: path`).toMatch(ABSOLUTE_NORMALISED);
          expect(typeof entry.type === 'string' && typeof entry.mode === 'number' && typeof entry.size === 'number', `${file}: ${entry.path} type, mode, size`).toBe(true);
          expect(typeof entry.user === 'string' && typeof entry.group === 'string', `${file}: ${entry.path} user and group`).toBe(true);
        }
        const listed = new Map((info.files as InspectedFile[]).map((file) => [file.path, file]));
        const payload = await listPayload(pkg);
        for (const entry of payload) expectListedAsShipped(file, entry, listed.get(entry.path));
        // Nothing beyond the payload but what is owned and never shipped.
        const shipped = new Set(payload.map((e) => e.path));
        for (const extra of [...listed.values()].filter((x) => !shipped.has(x.path))) expect(extra.ghost, `${file}: ${extra.path} listed, not shipped`).toBe(true);
      }
    });

    // planScripts is optional in the contract: a backend without it does not offer that verb (the engine says so), so there is nothing to check.
    // Optional in the contract: without it packages stay unconfigured, as stateNote says. All formats here have it.
    it.skipIf(!backend.planScripts)('plans no scripts for packages without any, and a well-formed plan naming the package that has one', async () => {
      const f = fixtures();
      const tree = new DirectoryTree(f.treeWithDatabase);
      const database = await backend.openDatabase(tree, (await backend.detect(tree))!);
      expect(await backend.planScripts!({ tree, database, added: await layeredPackages(backend, f.packages) })).toBeNull();

      const added = await layeredPackages(backend, [f.scripted]);
      expect(added[0]!.package.hasScripts, `${f.scripted} has scripts`).toBe(true);
      const plan = await backend.planScripts!({ tree, database, added });
      expect(plan, `${f.scripted}: a plan`).not.toBeNull();
      const steps = [...plan!.beforePayload, ...plan!.afterPayload];
      expect(steps.filter((step) => step.package).map((step) => idText(step.package!))).toContain(idText(added[0]!.package.id));
      checkPlanShape(plan!, steps);
    });
  });
}

/** Checks that inspect lists a payload entry as the payload states it; a hardlink may be listed as the file it also is. */
function expectListedAsShipped(file: string, entry: PackageEntry, listed: InspectedFile | undefined): void {
  expect(listed, `${file}: ${entry.path} is in inspect's files`).toBeDefined();
  const type = entry.type === 'hardlink' && listed!.type === 'file' ? 'hardlink' : listed!.type;
  expect({ type, mode: listed!.mode, user: listed!.user, group: listed!.group }, `${file}: ${entry.path}`).toEqual({ type: entry.type, mode: entry.mode, user: entry.user, group: entry.group });
  if (entry.type === 'file') expect(listed!.size, `${file}: size of ${entry.path}`).toBe(entry.size);
  if (entry.type === 'symlink') expect(listed!.linkTarget, `${file}: target of ${entry.path}`).toBe(entry.linkTarget);
}

function checkPlanShape(plan: ScriptPlan, steps: ScriptStep[]): void {
  const names = new Set<string>();
  for (const file of plan.files) {
    expect(file.name, 'a script file name is one path component').toMatch(/^(?!\.\.?$)[^/\0]+$/);
    expect(names.has(file.name), `${file.name} given twice`).toBe(false);
    names.add(file.name);
    expect(typeof file.content === 'string' || Buffer.isBuffer(file.content)).toBe(true);
    expect(file.mode & ~0o7777).toBe(0);
  }
  for (const step of steps) {
    expect(step.label).not.toBe('');
    expect(step.argv.length, step.label).toBeGreaterThan(0);
    // A command is an absolute path inside the tree or a name looked up on the sandbox's PATH.
    expect(step.argv[0]!.startsWith('/') || !step.argv[0]!.includes('/'), `${step.label}: ${step.argv[0]}`).toBe(true);
    for (const arg of step.argv.filter((a) => a.startsWith(`${SCRIPT_DIR}/`))) expect(names.has(arg.slice(SCRIPT_DIR.length + 1)), `${step.label}: ${arg} is one of the plan's files`).toBe(true);
  }
  for (const path of plan.discard) expect(path, 'discard').toMatch(DISCARD_PATH);
  for (const bind of plan.binds) {
    expect(bind.treePath).toMatch(ABSOLUTE_NORMALISED);
    expect(bind.sandboxPath).toMatch(ABSOLUTE_NORMALISED);
  }
  for (const file of plan.sandboxOnly) expect(file.path).toMatch(ABSOLUTE_NORMALISED);
  for (const path of plan.perMachine?.paths ?? []) expect(path, 'perMachine').toMatch(PER_MACHINE_PATH);
  for (const file of plan.perMachine?.regenerate ?? []) expect(file.path).toMatch(ABSOLUTE_NORMALISED);
}
