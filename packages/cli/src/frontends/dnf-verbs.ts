/** The verbs of the dnf front end (dnf.ts parses and dispatches): dnf's output over ostree-layer transactions. */
import { statSync } from 'node:fs';
import { UsageError, type CandidateSpec, type InstallResult, type UninstallResult } from '@ostree-layer/core';
import { parseEvr, RpmDatabase, Tag } from '@ostree-layer/rpm';
import { formatValue } from '../output.js';
import { abortedByUser, installAsked, uninstallAsked } from './asked.js';
import type { Session } from './options.js';
import { DNF_PROMPT } from './prompts.js';
import { openDeployment, openRepositories, repositoryTarget, table, type Deployed } from './session.js';

/** dnf's sizes: bytes, then k and M in 1024s. */
function dnfSize(n: number | undefined): string {
  if (n === undefined) return '';
  if (n < 1024) return `${n}`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} k`;
  return `${(n / 1024 / 1024).toFixed(1)} M`;
}

const RULE = '='.repeat(79);

/** dnf's transaction table with its summary. */
export function dnfTransactionLines(groups: Array<[string, string[][]]>, summary: string[]): string[] {
  const rows = groups.flatMap(([, r]) => r);
  const widths = [' Package', 'Architecture', 'Version', 'Repository', 'Size'].map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' ').trimEnd();
  const out = [RULE, line([' Package', 'Architecture', 'Version', 'Repository', 'Size']), RULE];
  for (const [title, r] of groups) {
    if (!r.length) continue;
    out.push(`${title}:`);
    for (const row of r) out.push(line([` ${row[0]}`, ...row.slice(1)]));
  }
  out.push('', 'Transaction Summary', RULE, ...summary, '');
  return out;
}

function installRows(plan: InstallResult): Array<[string, string[][]]> {
  const row = (p: InstallResult['install'][number]) => {
    const size = p.size ?? (p.file.startsWith('/') ? statSync(p.file).size : undefined);
    return [p.name, p.arch, p.version, p.origin ?? '@commandline', dnfSize(size)];
  };
  return [
    ['Installing', plan.install.filter((p) => !p.reason || p.reason === 'request').map(row)],
    ['Installing dependencies', plan.install.filter((p) => p.reason === 'dependency').map(row)],
    ['Installing weak dependencies', plan.install.filter((p) => p.reason === 'recommends').map(row)],
  ];
}

export async function dnfInstall(session: Session, args: string[]): Promise<void> {
  if (args.length === 0) throw new UsageError('install: name at least one package or .rpm file');
  const showPlan = (plan: InstallResult) => {
    console.log('Dependencies resolved.');
    const summary = [`Install  ${plan.install.length} Package${plan.install.length === 1 ? '' : 's'}`];
    for (const line of dnfTransactionLines(installRows(plan), summary)) console.log(line);
    if (plan.downloadSize !== undefined) console.log(`Total download size: ${dnfSize(plan.downloadSize)}`);
    if (plan.installedSize !== undefined) console.log(`Installed size: ${dnfSize(plan.installedSize)}`);
  };
  const { result } = await installAsked(session, args, showPlan, DNF_PROMPT);
  for (const p of result.alreadyInstalled) console.log(`Package ${p.name}-${p.version}.${p.arch} is already installed.`);
  if (abortedByUser(result, DNF_PROMPT)) return;
  if (result.install.length === 0) return void console.log('Dependencies resolved.\nNothing to do.\nComplete!');
  console.log('Installed:');
  for (const line of wrapDnf(result.install.map((p) => `${p.name}-${p.version}.${p.arch}`))) console.log(line);
  for (const note of result.notes) console.log(`Note: ${note}`);
  console.log(`\nThe new deployment ${result.commit?.slice(0, 10)} boots next; reboot to use it.\nComplete!`);
}

function wrapDnf(items: string[]): string[] {
  return items.map((i) => `  ${i}`);
}

export async function dnfRemove(session: Session, args: string[], autoremove = false): Promise<void> {
  if (args.length === 0 && !autoremove) throw new UsageError('remove: name at least one layered package');
  const showPlan = (plan: UninstallResult) => {
    console.log('Dependencies resolved.');
    const rows = plan.remove.map((p) => [p.name, p.arch, p.version, '@System', '']);
    for (const line of dnfTransactionLines([['Removing', rows]], [`Remove  ${rows.length} Package${rows.length === 1 ? '' : 's'}`])) console.log(line);
  };
  const result = await uninstallAsked(session, args, autoremove, showPlan, DNF_PROMPT);
  if (result.remove.length === 0) return void console.log('Dependencies resolved.\nNothing to do.\nComplete!');
  if (abortedByUser(result, DNF_PROMPT)) return;
  console.log('Removed:');
  for (const line of wrapDnf(result.remove.map((p) => `${p.name}-${p.version}.${p.arch}`))) console.log(line);
  console.log(`\nThe new deployment ${result.commit?.slice(0, 10)} boots next; reboot to use it.\nComplete!`);
}

export async function dnfSearch(session: Session, terms: string[]): Promise<void> {
  if (terms.length === 0) throw new UsageError('search: give a search term');
  const deployed = await openDeployment(session);
  const repos = await openRepositories(session, deployed);
  const all = repos.search('');
  const match = (h: { name: string; summary: string }, nameOnly: boolean) =>
    terms.every((t) => h.name.toLowerCase().includes(t.toLowerCase()) || (!nameOnly && h.summary.toLowerCase().includes(t.toLowerCase())));
  const byName = all.filter((h) => match(h, true));
  const bySummary = all.filter((h) => !match(h, true) && match(h, false));
  if (byName.length + bySummary.length === 0) {
    console.log(`No matches found.`);
    process.exitCode = 1;
    return;
  }
  const heading = (what: string) => ` ${what}: ${terms.join(', ')} `.padStart(40 + (what.length + terms.join(', ').length) / 2, '=').padEnd(79, '=');
  if (byName.length) console.log(heading('Name Matched'));
  for (const h of byName) console.log(`${h.name}.${h.arch} : ${h.summary}`);
  if (bySummary.length) console.log(heading('Summary Matched'));
  for (const h of bySummary) console.log(`${h.name}.${h.arch} : ${h.summary}`);
}

/** dnf info's "Key : value" block; values that are lists or objects are spelt out, never "[object Object]". */
function infoBlock(fields: Array<[string, unknown]>): string[] {
  const out: string[] = [];
  for (const [k, v] of fields) {
    if (v === undefined || v === null || v === '') continue;
    const text = formatValue(v).split('\n');
    out.push(`${k.padEnd(12)} : ${text[0]}`);
    for (const more of text.slice(1)) out.push(`${''.padEnd(12)} : ${more}`);
  }
  return out;
}

async function installedInfo(deployed: Deployed, name: string): Promise<string[][]> {
  if (!(deployed.database instanceof RpmDatabase)) return [];
  const blocks: string[][] = [];
  for (const { header, id } of await deployed.database.headers()) {
    if (id.name !== name) continue;
    const evr = parseEvr(id.version);
    blocks.push(infoBlock([
      ['Name', id.name], ['Epoch', evr.epoch ?? '0'], ['Version', evr.version], ['Release', evr.release], ['Architecture', id.arch],
      ['Size', dnfSize(header.number(Tag.Size))], ['Source', header.string(Tag.SourceRpm)],
      ['Repository', deployed.layered.has(`${id.name}:${id.arch}`) ? '@ostree-layer' : '@System'],
      ['Summary', header.string(Tag.Summary)], ['URL', header.string(Tag.Url)], ['License', header.string(Tag.License)],
      ['Description', header.string(Tag.Description)],
    ]));
  }
  return blocks;
}

export async function dnfInfo(session: Session, names: string[]): Promise<void> {
  if (names.length === 0) throw new UsageError('info: name a package');
  const deployed = await openDeployment(session);
  const repos = await openRepositories(session, deployed);
  let found = 0;
  for (const name of names) {
    const installed = await installedInfo(deployed, name);
    const available = (await repos.show(name)).map((r) => {
      const rec = r as Record<string, unknown>;
      if (!('release' in rec)) return infoBlock(Object.entries(rec));
      return infoBlock([
        ['Name', rec.name], ['Epoch', rec.epoch], ['Version', rec.version], ['Release', rec.release], ['Architecture', rec.arch],
        ['Size', dnfSize(rec.size as number)], ['Source', rec.sourceRpm], ['Repository', rec.repository], ['Summary', rec.summary],
        ['URL', rec.url], ['License', rec.license], ['Description', rec.description], ['Dependencies', rec.dependencies],
      ]);
    });
    if (installed.length) console.log(['Installed Packages', ...installed.map((b) => b.join('\n'))].join('\n') + '\n');
    if (available.length) console.log(['Available Packages', ...available.map((b) => b.join('\n'))].join('\n') + '\n');
    found += installed.length + available.length;
  }
  if (!found) throw new UsageError(`No matching Packages to list: ${names.join(' ')}`);
}

function globs(patterns: string[]): (name: string) => boolean {
  const res = patterns.map((p) => new RegExp(`^${p.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`));
  return (name) => res.length === 0 || res.some((r) => r.test(name));
}

export async function dnfList(session: Session, args: string[]): Promise<void> {
  const scope = ['installed', 'available', 'all', 'updates'].includes(args[0] ?? '') ? args.shift()! : 'all';
  const wanted = globs(args);
  const deployed = await openDeployment(session);
  const installed = deployed.installed.filter((p) => wanted(p.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
  if (scope === 'installed' || scope === 'all') {
    console.log('Installed Packages');
    const rows = installed.map((p) => [`${p.name}.${p.arch}`, p.version, deployed.layered.has(`${p.name}:${p.arch}`) ? '@ostree-layer' : '@System']);
    for (const line of table(rows)) console.log(line);
  }
  if (scope === 'available' || scope === 'all') {
    const repos = await openRepositories(session, deployed);
    const have = new Set(deployed.installed.map((p) => `${p.name}\0${p.version}\0${p.arch}`));
    const rows = repos.specs().filter((s) => wanted(s.name) && !have.has(`${s.name}\0${s.version}\0${s.arch}`)).map((s) => [`${s.name}.${s.arch}`, s.version, originOf(s)]);
    console.log('Available Packages');
    for (const line of table(rows)) console.log(line);
  }
  if (scope === 'updates') return dnfCheckUpdate(session);
}

function originOf(spec: CandidateSpec): string {
  return spec.download.origin;
}

export async function dnfRepolist(session: Session, quiet = false): Promise<void> {
  const deployed = await openDeployment(session);
  const repos = (await openRepositories(session, deployed)).repositories();
  if (quiet) return;
  for (const line of table([['repo id', 'repo name'], ...repos.map((r) => [r.id, r.name])])) console.log(line);
}

/** Installed packages with a newer candidate; exit 100 when there is one, as dnf check-update. */
export async function dnfCheckUpdate(session: Session): Promise<void> {
  const deployed = await openDeployment(session);
  const repos = await openRepositories(session, deployed);
  const compare = deployed.backend.compareVersions;
  const newest = new Map<string, CandidateSpec>();
  for (const s of repos.specs()) {
    const key = `${s.name}:${s.arch}`;
    const have = newest.get(key);
    if (!have || compare(s.version, have.version) > 0) newest.set(key, s);
  }
  const rows: string[][] = [];
  for (const p of deployed.installed) {
    const n = newest.get(`${p.name}:${p.arch}`);
    if (n && compare(n.version, p.version) > 0) rows.push([`${p.name}.${p.arch}`, n.version, originOf(n)]);
  }
  if (rows.length === 0) return;
  console.log('');
  for (const line of table(rows)) console.log(line);
  process.exitCode = 100;
}

/** Which installed package owns a path, or which package (installed or available) provides a capability. */
export async function dnfProvides(session: Session, what: string[]): Promise<void> {
  if (what.length === 0) throw new UsageError('provides: give a file path or a capability');
  const deployed = await openDeployment(session);
  const owners = await deployed.database.owners(what.filter((w) => w.startsWith('/')).flatMap((w) => [w, w.startsWith('/usr/') ? w.slice(4) : `/usr${w}`]));
  const installedSpecs = deployed.plugin.repositories
    ? await (async () => {
      const { repositories, target } = await repositoryTarget(deployed);
      return repositories.installedSpecs(target);
    })()
    : [];
  let found = 0;
  for (const w of what) {
    const paths = w.startsWith('/') ? [w, w.startsWith('/usr/') ? w.slice(4) : `/usr${w}`] : [];
    for (const path of paths) {
      for (const id of owners.get(path) ?? []) {
        found++;
        console.log(`${id.name}-${id.version}.${id.arch} : installed\nRepo        : @System\nMatched from:\nFilename    : ${path}\n`);
      }
    }
    if (!w.startsWith('/')) {
      for (const s of installedSpecs.filter((s) => s.name === w || s.provides?.some((p) => p.name === w))) {
        found++;
        console.log(`${s.name}-${s.version}.${s.arch} : installed\nRepo        : @System\nMatched from:\nProvide    : ${w}\n`);
      }
    }
  }
  if (what.some((w) => w.startsWith('/'))) process.stderr.write('dnf: file paths are matched against installed packages only (repository file lists are not searched)\n');
  if (!found) throw new UsageError(`No Matches found for: ${what.join(' ')}`);
}

/** The requests recorded in the deployment, oldest first, as dnf history lists transactions. */
export async function dnfHistory(session: Session): Promise<void> {
  const deployed = await openDeployment(session);
  const requests = deployed.state?.requests ?? [];
  const rows = requests.map((r, i) => [String(i + 1), r.join(' '), r[0] === 'uninstall' ? 'Removed' : 'Install']);
  for (const line of table([['ID', 'Command line', 'Action(s)'], ...rows.reverse()])) console.log(line);
}
