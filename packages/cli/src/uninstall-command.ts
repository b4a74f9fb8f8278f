import { uninstall, type UninstallResult } from '@ostree-layer/core';
import { BACKENDS } from './backends.js';
import { printJson } from './output.js';
import { renderer } from './progress.js';
import { targetOf, type TargetOptions } from './target.js';

export interface UninstallOpts extends TargetOptions {
  dryRun?: boolean;
  json?: boolean;
}

export async function runUninstall(names: string[], opts: UninstallOpts): Promise<void> {
  const result = await uninstall({
    backends: BACKENDS,
    names,
    ...targetOf(opts),
    dryRun: opts.dryRun,
    report: renderer({ json: Boolean(opts.json) }),
  });
  if (opts.json) return printJson(result);
  printUninstall(result);
}

function printUninstall(result: UninstallResult): void {
  const list = (ps: UninstallResult['remove']) => ps.map((p) => `  ${p.name} ${p.version} (${p.arch})`).join('\n');
  console.log(`${result.dryRun ? 'The following layered packages would be REMOVED' : 'Removed layered packages'}:\n${list(result.remove)}`);
  if (result.keep.length > 0) console.log(`Still layered:\n${list(result.keep)}`);
  if (result.dryRun) return;
  console.log(`Commit: ${result.commit}`);
  console.log(result.deployed ? 'Deployed; reboot to use it.' : 'Not deployed (--commit-only).');
}
