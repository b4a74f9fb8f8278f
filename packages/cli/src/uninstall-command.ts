import { uninstall, type UninstallResult } from '@ostree-layer/core';
import { PLUGINS } from './backends.js';
import { printJson } from './output.js';
import { renderer } from './progress.js';
import { targetOf, type TargetOptions } from './target.js';

export interface UninstallOpts extends TargetOptions {
  dryRun?: boolean;
  json?: boolean;
  withDependents?: boolean;
}

/** `uninstall NAME…`, or with no names and `autoremoveOnly` the `autoremove` verb. */
export async function runUninstall(names: string[], opts: UninstallOpts, autoremoveOnly = false): Promise<void> {
  const result = await uninstall({
    plugins: PLUGINS,
    names,
    autoremoveOnly,
    withDependents: opts.withDependents,
    ...targetOf(opts),
    dryRun: opts.dryRun,
    report: renderer({ json: Boolean(opts.json) }),
  });
  if (opts.json) return printJson(result);
  printUninstall(result);
}

function printUninstall(result: UninstallResult): void {
  const list = (ps: UninstallResult['remove']) => ps.map((p) => `  ${p.name} ${p.version} (${p.arch})`).join('\n');
  if (result.remove.length === 0) {
    console.log('Nothing to remove.');
    return;
  }
  if (result.dependents.length > 0) {
    console.log('These layered packages depend on what is removed and go too:');
    for (const d of result.dependents) console.log(`  ${d.package.name} ${d.package.version} (needs ${d.relation})`);
  }
  if (result.autoremoved.length > 0) console.log(`Pulled in for what is removed and needed by nothing else:\n${list(result.autoremoved)}`);
  console.log(`${result.dryRun ? 'The following layered packages would be REMOVED' : 'Removed layered packages'}:\n${list(result.remove)}`);
  if (result.keep.length > 0) console.log(`Still layered:\n${list(result.keep)}`);
  if (result.dryRun) return;
  console.log(`Commit: ${result.commit}`);
  console.log(result.deployed ? 'Deployed; reboot to use it.' : 'Not deployed (--commit-only).');
}
