/**
 * Deploy: hand the composed commit to `ostree admin deploy`, which also performs /etc's 3-way merge. The origin keeps
 * the base's refspec, so a plain `ostree admin upgrade` still follows the vendor's branch, plus our own group recording
 * what was layered.
 */
import { execa } from 'execa';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Deployment, LayerState, Sysroot } from '../discover/sysroot.js';
import { formatIni, type Ini } from '../discover/ini.js';
import { faultPoint } from '../fault.js';
import { whileDeploying } from '../interrupt.js';
import { yieldOstreeLock } from '../lock.js';
import { toolError } from '../ostree.js';
import { scratchDir } from '../scratch.js';

export const ORIGIN_GROUP = 'ostree-layer';

/** Deploys `commit` with `from`'s origin; `state` null means the plain base again (our origin group dropped). */
export async function deployCommit(sysroot: Sysroot, from: Deployment, commit: string, state: LayerState | null): Promise<void> {
  const origin: Ini = { ...from.origin };
  delete origin[ORIGIN_GROUP];
  if (state) {
    origin[ORIGIN_GROUP] = {
      'base-commit': state.baseCommit,
      backend: state.backend,
      requests: JSON.stringify(state.requests),
      packages: state.packages.map((p) => `${p.name}=${p.version}:${p.arch}`).join(';'),
    };
  }
  const dir = await scratchDir(sysroot.repo.path, 'origin');
  try {
    const originFile = join(dir, 'origin');
    await writeFile(originFile, formatIni(origin));
    const args = ['admin', 'deploy', `--os=${from.osName}`, `--origin-file=${originFile}`];
    if (!sysroot.booted) args.push(`--sysroot=${sysroot.path}`);
    // ostree admin deploy takes OSTree's sysroot lock itself (and would wait for us forever while we hold it).
    await yieldOstreeLock(sysroot.path);
    // Its own process group: a Ctrl-C on the terminal reaches us (who let it finish), not the deploy itself.
    await whileDeploying(async () => {
      await faultPoint('deploying');
      await execa('ostree', [...args, commit], { detached: true });
    });
  } catch (err) {
    throw toolError('ostree admin deploy', err);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
