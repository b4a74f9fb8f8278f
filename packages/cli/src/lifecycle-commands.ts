/** The lifecycle verbs: upgrade, rollback, cleanup. */
import { cleanup, formatBytes, rollback, upgrade, type PackageDiff, type UpgradeResult } from '@ostree-layer/core';
import { PLUGINS } from './backends.js';
import { printJson, progress } from './output.js';
import { renderer } from './progress.js';
import type { RepoOpts } from './repo-commands.js';

export async function runUpgrade(opts: RepoOpts & { dryRun?: boolean; check?: boolean; scripts?: boolean }): Promise<void> {
  const result = await upgrade({
    plugins: PLUGINS,
    sysroot: opts.sysroot,
    osName: opts.os,
    cacheDir: opts.cacheDir,
    extraSources: opts.source,
    allowUnauthenticated: opts.allowUnauthenticated,
    noInstallRecommends: opts.installRecommends === false,
    noScripts: opts.scripts === false,
    dryRun: opts.dryRun || opts.check,
    report: renderer({ json: Boolean(opts.json) }),
  });
  if (opts.json) return printJson(result);
  printUpgrade(result);
}

export function printUpgrade(r: UpgradeResult): void {
  console.log(r.newBase === r.oldBase ? `Base: ${r.oldBase.slice(0, 10)} (unchanged${r.refspec ? `, ${r.refspec}` : ''})` : `Base: ${r.oldBase.slice(0, 10)} → ${r.newBase.slice(0, 10)} (${r.refspec})`);
  for (const note of r.notes) console.log(`Note: ${note}`);
  if (r.upToDate) {
    console.log('No upgrade available.');
    return;
  }
  printDiff('Base packages', r.base);
  printDiff('Layered packages', r.layered);
  if (r.dryRun) return;
  console.log(`Commit: ${r.commit}`);
  console.log('Deployed; reboot to use it.');
}

function printDiff(title: string, d: PackageDiff): void {
  const lines = [
    ...d.upgraded.map((c) => `  upgraded:   ${c.name} ${c.from} → ${c.to}`),
    ...d.downgraded.map((c) => `  downgraded: ${c.name} ${c.from} → ${c.to}`),
    ...d.added.map((p) => `  added:      ${p.name} ${p.version}`),
    ...d.removed.map((p) => `  removed:    ${p.name} ${p.version}`),
  ];
  console.log(`${title}: ${lines.length === 0 ? 'no change' : ''}`);
  for (const line of lines) console.log(line);
}

export async function runRollback(opts: { sysroot?: string; os?: string; dryRun?: boolean; json?: boolean }): Promise<void> {
  const result = await rollback({ sysroot: opts.sysroot, osName: opts.os, dryRun: opts.dryRun, progress: progress(Boolean(opts.json)) });
  if (opts.json) return printJson(result);
  const name = (d: typeof result.bootsNext) => `${d.osName} ${d.commit}.${d.serial}`;
  console.log(`${result.dryRun ? 'Would boot next' : 'Boots next'}: ${name(result.bootsNext)}`);
  console.log(`Rollback: ${name(result.previousDefault)}`);
}

export async function runCleanup(opts: { sysroot?: string; cacheDir?: string; json?: boolean }): Promise<void> {
  const result = await cleanup({ sysroot: opts.sysroot, cacheDir: opts.cacheDir });
  if (opts.json) return printJson(result);
  console.log(`Kept ${result.bases.length} base commit(s) and ${result.layers.length} layer(s) that deployments use; deleted ${result.deleted.length} ref(s).`);
  console.log(`Removed ${result.archivesRemoved.length} downloaded package file(s) no deployment was made from (${formatBytes(result.bytesFreed)}).`);
}
