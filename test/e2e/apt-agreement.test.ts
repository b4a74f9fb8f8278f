/**
 * Agreement with apt: a fixed-seed sample of bookworm main packages, each resolved on top of the real minbase by our
 * solver (core API, one loaded index for all of them) and by `apt-get -s install` with the minbase status file (the
 * oracle, via testkit's aptPlan with a private state). Both sides read the base's own sources (bookworm main, what
 * the minbase was built from: with -updates/-security apt would upgrade base libraries, which a layered install
 * never does) and install Recommends. Differences are printed with both answers.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryTree, lineReport, openRepositoryTarget, planByName, ResolutionError, type RepositorySet } from '@ostree-layer/core';
import { dpkgBackend, dpkgRepositories } from '@ostree-layer/dpkg';
import { aptPlan, ensureDebianMinbase, makeSysroot, resolveCacheDir, type Sysroot } from '@ostree-layer/testkit';

const SAMPLE = 50;
const SEED = 20240611;
let s: Sysroot;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeAll(async () => {
  s = await makeSysroot({ base: await ensureDebianMinbase() });
});
afterAll(async () => {
  await s?.dispose();
});

describe('agreement with apt-get -s install', () => {
  it(`resolves a ${SAMPLE}-package fixed-seed sample of bookworm main like apt`, async () => {
    const tree = new DirectoryTree(s.deploymentDir());
    const location = (await dpkgBackend.detect(tree))!;
    const database = await dpkgBackend.openDatabase(tree, location);
    const statusFile = join(s.deploymentDir(), location, 'status');
    const target = await openRepositoryTarget(dpkgRepositories, tree, database);
    const repositories: RepositorySet = await dpkgRepositories.openRepositories({ ...target, cacheDir: join(resolveCacheDir(), 'ostree-layer'), report: lineReport() });
    const aptSources = ['-o', `Dir::Etc::SourceList=${join(s.deploymentDir(), 'usr/etc/apt/sources.list')}`, '-o', 'Dir::Etc::SourceParts=/nonexistent'];
    const installed = new Set((await database.packages()).map((p) => p.name));
    const names = [...new Set(repositories.specs().filter((p) => p.download.origin === 'bookworm/main').map((p) => p.name))]
      .filter((n) => !installed.has(n))
      .sort();
    const rand = mulberry32(SEED);
    const sample = new Set<string>();
    while (sample.size < SAMPLE) sample.add(names[Math.floor(rand() * names.length)]);

    const ours = new Map<string, string[] | string>();
    const started = performance.now();
    for (const name of sample) {
      try {
        const plan = await planByName({ repositories: dpkgRepositories, tree, database, names: [name], cacheDir: '', opened: repositories });
        ours.set(name, plan.install.map((p) => `${p.name} ${p.version} ${p.arch}`).sort());
      } catch (err) {
        if (!(err instanceof ResolutionError)) throw err;
        ours.set(name, 'unsatisfiable');
      }
    }
    const oursMs = performance.now() - started;
    const apt = new Map<string, string[] | string>();
    const queue = [...sample];
    const aptStarted = performance.now();
    await Promise.all(
      [0, 1].map(async () => {
        for (let name = queue.shift(); name; name = queue.shift()) {
          try {
            apt.set(name, (await aptPlan([name], statusFile, aptSources)).map((p) => `${p.name} ${p.version} ${p.arch}`).sort());
          } catch {
            apt.set(name, 'unsatisfiable');
          }
        }
      }),
    );
    const aptMs = performance.now() - aptStarted;
    const differences: string[] = [];
    for (const name of sample) {
      const a = apt.get(name)!;
      const o = ours.get(name)!;
      if (JSON.stringify(a) === JSON.stringify(o)) continue;
      const onlyApt = Array.isArray(a) && Array.isArray(o) ? a.filter((x) => !o.includes(x)) : a;
      const onlyOurs = Array.isArray(a) && Array.isArray(o) ? o.filter((x) => !a.includes(x)) : o;
      differences.push(`${name}: apt only ${JSON.stringify(onlyApt)}; ours only ${JSON.stringify(onlyOurs)}`);
    }
    const rate = (SAMPLE - differences.length) / SAMPLE;
    console.log(
      `apt agreement: ${SAMPLE - differences.length}/${SAMPLE} (${(rate * 100).toFixed(1)}%); ours ${(oursMs / 1000).toFixed(1)} s, apt ${(aptMs / 1000).toFixed(1)} s\n` +
        differences.join('\n'),
    );
    // Measured 50/50 with the dpkg policy's depth-first order (42/50 with libsolv's breadth-first order, 45/50 when
    // packages implied by unit propagation counted as already chosen). Every earlier difference was an "a | b" group
    // that our search found already met by b while apt, marking depth-first, reached the group first and took a:
    // exim4-base "cron | … | systemd-sysv", llvm-14-runtime Recommends "binfmt-support | systemd",
    // gstreamer1.0-plugins-good "libsoup2.4-1 | libsoup-3.0-0" (libsoup-3.0-0 implied by libwebkit2gtk-4.1-0, but
    // apt follows gstreamer1.0-plugins-good first), r-base-dev "libncurses5-dev" (also provided by libncurses-dev),
    // libghc-sdl-dev "libgl1-mesa-dev | libgl-dev" (libgl-dev also needed by libglu1-mesa-dev). None remains; a new one
    // is printed above with both answers. The archive is live (point releases change the sample's dependencies), so
    // the bar leaves room for two new differences before it fails: each must then be explained or fixed.
    expect(rate).toBeGreaterThanOrEqual(0.96);
  }, 900_000);
});
