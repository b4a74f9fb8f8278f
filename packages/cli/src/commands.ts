import { existsSync, statSync } from 'node:fs';
import {
  DirectoryTree,
  install,
  originLayerState,
  PackageFormatError,
  readLayerState,
  Sysroot,
  UsageError,
  type InstallResult,
} from '@ostree-layer/core';
import { detect, PLUGINS, pluginForFile } from './backends.js';
import { printAptPlan, splitArguments, type RepoOpts } from './repo-commands.js';
import { printJson } from './output.js';
import { renderer } from './progress.js';
import { targetOf } from './target.js';

interface TargetOpts {
  sysroot?: string;
  os?: string;
  json?: boolean;
}

export async function runInstall(
  args: string[],
  opts: TargetOpts & { repo?: string; ref?: string; commitOnly?: boolean; dryRun?: boolean; key?: string[]; scripts?: boolean } & RepoOpts,
): Promise<void> {
  const { files, names } = splitArguments(args);
  const result = await install({
    plugins: PLUGINS,
    files,
    names,
    cacheDir: opts.cacheDir,
    noInstallRecommends: opts.installRecommends === false,
    allowUnauthenticated: opts.allowUnauthenticated,
    extraSources: opts.source,
    keys: opts.key,
    ...targetOf(opts),
    dryRun: opts.dryRun,
    noScripts: opts.scripts === false,
    report: renderer({ json: Boolean(opts.json) }),
  });
  if (opts.json) return printJson(result);
  printInstall(result);
}

function printInstall(result: InstallResult): void {
  for (const pkg of result.alreadyInstalled) console.log(`${pkg.name} is already the newest version (${pkg.version}).`);
  if (result.install.length === 0) {
    console.log('Nothing to layer.');
    return;
  }
  if (result.dryRun && result.downloadSize !== undefined) return printAptPlan(result);
  console.log(result.dryRun ? 'The following packages would be layered:' : 'Layered packages:');
  for (const pkg of result.install) console.log(`  ${pkg.name} ${pkg.version} (${pkg.arch})${pkg.note ? ` — ${pkg.note}` : ''}`);
  for (const note of result.notes) console.log(`Note: ${note}`);
  if (result.dryRun) return;
  if (result.scripts.length > 0) console.log(`Configured: ${result.scripts.length} maintainer-script step(s) ran in the sandbox.`);
  console.log(`Commit: ${result.commit}`);
  console.log(result.deployed ? 'Deployed; reboot to use it.' : 'Not deployed (--commit-only).');
}

export async function runStatus(opts: TargetOpts): Promise<void> {
  const sysroot = Sysroot.open(opts.sysroot);
  const all = await sysroot.deployments();
  const deployments = all.filter((d) => !opts.os || d.osName === opts.os);
  const out = [];
  for (const d of deployments) {
    const tree = new DirectoryTree(d.dir);
    const state = await readLayerState(tree);
    let backend: string | undefined;
    let basePackages: number | undefined;
    try {
      const found = await detect(tree);
      backend = found.plugin.backend.name;
      const all = await (await found.plugin.backend.openDatabase(tree, found.location)).packages();
      const layered = new Set((state?.packages ?? []).map((p) => `${p.name}:${p.arch}`));
      basePackages = all.filter((p) => !layered.has(`${p.name}:${p.arch}`)).length;
    } catch {
      // A deployment without a known database still has a status line.
    }
    // Our origin group without our state file: `ostree admin upgrade` deployed the bare base and kept the origin.
    const recorded = state ? null : originLayerState(d.origin);
    out.push({
      os: d.osName,
      commit: d.commit,
      serial: d.serial,
      booted: d.booted,
      bootsNext: d === all[0],
      pending: d.pending,
      rollback: d.rollback,
      refspec: d.origin.origin?.refspec,
      backend,
      baseCommit: state?.baseCommit ?? d.commit,
      basePackages,
      layered: (state?.packages ?? []).map(({ name, version, arch }) => ({ name, version, arch })),
      requests: state?.requests ?? [],
      requested: (state?.requested ?? []).map((r) => r.text),
      layersDropped: recorded && (recorded.requested ?? []).length > 0 ? (recorded.requested ?? []).map((r) => r.text) : undefined,
    });
  }
  if (opts.json) return printJson({ sysroot: sysroot.path, deployments: out });
  for (const d of out) {
    const flags = [d.bootsNext && 'boots next', d.booted && 'booted', d.pending && 'pending', d.rollback && 'rollback'].filter(Boolean).join(', ');
    console.log(`${d.booted ? '*' : ' '} ${d.os} ${d.commit}.${d.serial}${flags ? ` (${flags})` : ''}`);
    if (d.refspec) console.log(`    origin refspec: ${d.refspec}`);
    if (d.baseCommit !== d.commit) console.log(`    base commit: ${d.baseCommit}`);
    if (d.backend) console.log(`    ${d.backend}: ${d.basePackages} base packages`);
    console.log(`    layered: ${d.layered.length ? d.layered.map((p) => `${p.name} ${p.version} (${p.arch})`).join(', ') : 'none'}`);
    if (d.requested.length > 0) console.log(`    requested: ${d.requested.join(', ')}`);
    if (d.layersDropped) console.log(`    layers dropped: deployed without ${d.layersDropped.join(', ')} (a plain ostree admin upgrade?); ostree-layer upgrade lays them on again`);
  }
}

export async function runInspect(files: string[], opts: { json?: boolean }): Promise<void> {
  const out: unknown[] = [];
  for (const file of files) {
    if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
    if (statSync(file).isDirectory()) throw new UsageError(`${file} is a directory; name a package file`);
    const backend = (await pluginForFile(file))?.backend;
    if (!backend) throw new PackageFormatError(file, `not a package file any backend knows (${PLUGINS.map((p) => p.backend.extension).join(', ')}): its first bytes are no package magic (truncated or not a package)`);
    if (!backend.inspect) throw new UsageError(`the ${backend.name} backend cannot inspect files`);
    out.push(await backend.inspect(file));
  }
  if (opts.json) return printJson(out);
  for (const item of out as Array<Record<string, unknown> & { files?: Array<Record<string, unknown>> }>) {
    console.log(`${item.name} ${item.version} (${item.arch})`);
    for (const f of item.files ?? []) console.log(`  ${String(f.type).padEnd(9)} ${Number(f.mode).toString(8).padStart(4, '0')} ${f.user}/${f.group} ${String(f.size).padStart(9)} ${f.path}`);
  }
}
