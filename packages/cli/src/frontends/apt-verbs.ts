/** The verbs of the apt front end (apt.ts parses and dispatches): apt's output over ostree-layer transactions. */
import { formatBytes, UsageError, type CandidateSpec, type InstallResult, type UninstallResult } from '@ostree-layer/core';
import { DpkgDatabase, readAutoMarks } from '@ostree-layer/dpkg';
import { abortedByUser, installAsked, uninstallAsked } from './asked.js';
import type { Session } from './options.js';
import { APT_PROMPT } from './prompts.js';
import { openDeployment, openRepositories, wrapNames } from './session.js';

/** apt's plan: additional packages, NEW, REMOVED, the counts and sizes. */
export function aptPlanLines(plan: { install?: InstallResult['install']; remove?: UninstallResult['remove']; downloadSize?: number; installedSize?: number; requested?: string[] }): string[] {
  const lines: string[] = [];
  const install = plan.install ?? [];
  const remove = plan.remove ?? [];
  const extra = install.filter((p) => p.reason && p.reason !== 'request').map((p) => p.name);
  if (extra.length) lines.push('The following additional packages will be installed:', ...wrapNames(extra));
  if (remove.length) lines.push('The following packages will be REMOVED:', ...wrapNames(remove.map((p) => p.name)));
  if (install.length) lines.push('The following NEW packages will be installed:', ...wrapNames(install.map((p) => p.name)));
  // Layering never upgrades: base packages are locked, so there is no UPGRADED section.
  lines.push(`0 upgraded, ${install.length} newly installed, ${remove.length} to remove and 0 not upgraded.`);
  if (plan.downloadSize !== undefined) lines.push(`Need to get ${formatBytes(plan.downloadSize)} of archives.`);
  if (plan.installedSize !== undefined) lines.push(`After this operation, ${formatBytes(plan.installedSize)} of additional disk space will be used.`);
  return lines;
}

export async function aptInstall(session: Session, args: string[]): Promise<void> {
  if (args.length === 0) throw new UsageError('install: name at least one package or .deb file');
  console.log('Reading package lists... Done');
  const showPlan = (plan: InstallResult) => {
    for (const line of aptPlanLines(plan)) console.log(line);
  };
  const { result, asked } = await installAsked(session, args, showPlan, APT_PROMPT);
  for (const p of result.alreadyInstalled) console.log(`${p.name} is already the newest version (${p.version}).`);
  if (abortedByUser(result, APT_PROMPT)) return;
  if (result.dryRun) {
    if (result.install.length === 0) return void console.log('0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.');
    for (const line of aptPlanLines(result)) console.log(line);
    for (const p of result.install) console.log(`Inst ${p.name} (${p.version}${p.origin ? ` ${p.origin}` : ''} [${p.arch}])`);
    return;
  }
  if (result.install.length === 0) {
    if (!asked) console.log('0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.');
    return;
  }
  for (const p of result.install) console.log(`Layered ${p.name} (${p.version}) [${p.arch}]${p.note ? ` — ${p.note}` : ''}`);
  for (const note of result.notes) console.log(`N: ${note}`);
  console.log(`The new deployment ${result.commit?.slice(0, 10)} boots next; reboot to use it.`);
}

export async function aptRemove(session: Session, args: string[], autoremove = false): Promise<void> {
  if (args.length === 0 && !autoremove) throw new UsageError('remove: name at least one layered package');
  console.log('Reading package lists... Done');
  const showPlan = (plan: UninstallResult) => {
    for (const line of aptPlanLines({ remove: plan.remove })) console.log(line);
  };
  const result = await uninstallAsked(session, args, autoremove, showPlan, APT_PROMPT);
  if (result.remove.length === 0) return void console.log('0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.');
  if (abortedByUser(result, APT_PROMPT)) return;
  if (result.dryRun) {
    for (const line of aptPlanLines({ remove: result.remove })) console.log(line);
    for (const p of result.remove) console.log(`Remv ${p.name} [${p.version}]`);
    return;
  }
  for (const p of result.remove) console.log(`Removed ${p.name} (${p.version}) [${p.arch}]`);
  console.log(`The new deployment ${result.commit?.slice(0, 10)} boots next; reboot to use it.`);
}

/** Every term must match the name (or, without --names-only, the summary), case-insensitively, as apt search does. */
export async function aptSearch(session: Session, terms: string[], namesOnly: boolean): Promise<void> {
  if (terms.length === 0) throw new UsageError('search: give a regular expression');
  const patterns = terms.map((t) => {
    try {
      return new RegExp(t, 'i');
    } catch (err) {
      throw new UsageError(`search: ${t} is not a regular expression (${(err as Error).message})`);
    }
  });
  const deployed = await openDeployment(session);
  const repos = await openRepositories(session, deployed);
  const origins = originsOf(repos.specs());
  const installed = new Map(deployed.installed.map((p) => [`${p.name}:${p.arch}`, p.version]));
  console.log('Sorting... Done\nFull Text Search... Done');
  for (const hit of repos.search('')) {
    if (!patterns.every((re) => re.test(hit.name) || (!namesOnly && re.test(hit.summary)))) continue;
    const have = installed.get(`${hit.name}:${hit.arch}`);
    const mark = have === undefined ? '' : have === hit.version ? ' [installed]' : ` [installed: ${have}]`;
    const suite = (origins.get(`${hit.name}\0${hit.version}\0${hit.arch}`) ?? 'now').split('/')[0];
    console.log(`${hit.name}/${suite} ${hit.version} ${hit.arch}${mark}\n  ${hit.summary}\n`);
  }
}

function originsOf(specs: CandidateSpec[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of specs) out.set(`${s.name}\0${s.version}\0${s.arch}`, s.download.origin);
  return out;
}

export async function aptShow(session: Session, names: string[], allVersions: boolean): Promise<void> {
  if (names.length === 0) throw new UsageError('show: name a package');
  const deployed = await openDeployment(session);
  const repos = await openRepositories(session, deployed);
  const statusRecords = deployed.database instanceof DpkgDatabase ? deployed.database.records() : [];
  const auto = new Set((await readAutoMarks(deployed.tree)).map((m) => m.name));
  for (const name of names) {
    const records = (await repos.show(name)) as Array<Record<string, string>>;
    const installed = statusRecords.find((r) => r.name === name);
    if (installed && !records.some((r) => r.Version === installed.version)) {
      const paragraph: Record<string, string> = {};
      for (const [k, v] of installed.paragraph.fields) if (k !== 'Status') paragraph[k] = v;
      paragraph['APT-Sources'] = '/var/lib/dpkg/status';
      records.unshift(paragraph);
    }
    if (records.length === 0) throw new UsageError(`No packages found: ${name}`);
    // Debian's Packages indexes carry only the summary; the installed record has the long description.
    for (const record of records) {
      if (installed?.version !== record.Version || !installed.paragraph.get('Description')) continue;
      record.Description = installed.paragraph.get('Description')!;
      delete record['Description-md5'];
    }
    const shown = allVersions ? records : [records[0]!];
    for (const record of shown) {
      for (const [k, v] of Object.entries(record)) {
        if (k === 'APT-Sources' && installed?.version === record.Version) console.log(`APT-Manual-Installed: ${auto.has(name) ? 'no' : 'yes'}`);
        console.log(`${k}: ${v}`);
      }
      if (installed?.version === record.Version) console.log(`Installed: ${installed.version}${deployed.layered.has(`${name}:${installed.arch}`) ? ' (layered)' : ''}`);
      console.log('');
    }
    if (!allVersions && records.length > 1) console.log(`N: There are ${records.length - 1} additional records. Please use the '-a' switch to see them.\n`);
  }
}

export async function aptList(session: Session, patterns: string[], flags: Set<string>): Promise<void> {
  const deployed = await openDeployment(session);
  const globs = patterns.map((p) => new RegExp(`^${p.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`));
  const wanted = (name: string) => globs.length === 0 || globs.some((g) => g.test(name));
  console.log('Listing... Done');
  if (flags.has('--installed') || flags.has('--manual-installed')) {
    const auto = new Set((await readAutoMarks(deployed.tree)).map((m) => `${m.name}:${m.arch}`));
    const native = deployed.database instanceof DpkgDatabase ? deployed.database.nativeArch() : '';
    const rows = [...deployed.installed].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const p of rows) {
      const isAuto = auto.has(`${p.name}:${p.arch === 'all' ? native : p.arch}`);
      if (!wanted(p.name) || (isAuto && flags.has('--manual-installed'))) continue;
      console.log(`${p.name}/now ${p.version} ${p.arch} [installed${isAuto ? ',automatic' : ''}]`);
    }
    return;
  }
  const repos = await openRepositories(session, deployed);
  const installed = new Map(deployed.installed.map((p) => [`${p.name}:${p.arch}`, p.version]));
  const origins = originsOf(repos.specs());
  if (flags.has('--upgradable')) {
    const compare = deployed.backend.compareVersions;
    for (const hit of repos.search('')) {
      const have = installed.get(`${hit.name}:${hit.arch}`);
      if (have === undefined || compare(hit.version, have) <= 0 || !wanted(hit.name)) continue;
      const suite = (origins.get(`${hit.name}\0${hit.version}\0${hit.arch}`) ?? '').split('/')[0];
      console.log(`${hit.name}/${suite} ${hit.version} ${hit.arch} [upgradable from: ${have}]`);
    }
    return;
  }
  for (const hit of repos.search('')) {
    if (!wanted(hit.name)) continue;
    const have = installed.get(`${hit.name}:${hit.arch}`);
    const suite = (origins.get(`${hit.name}\0${hit.version}\0${hit.arch}`) ?? '').split('/')[0];
    console.log(`${hit.name}/${suite} ${hit.version} ${hit.arch}${have === hit.version ? ' [installed]' : have ? ` [installed: ${have}]` : ''}`);
  }
}

export async function aptPolicy(session: Session, names: string[]): Promise<void> {
  const deployed = await openDeployment(session);
  const repos = await openRepositories(session, deployed);
  const sources = repos.repositories();
  const urlOf = new Map(sources.map((r) => [r.id, r]));
  if (names.length === 0) {
    console.log('Package files:\n 100 /var/lib/dpkg/status\n     release a=now');
    for (const r of sources) console.log(` ${r.priority ?? 500} ${r.url} ${r.id} Packages\n     origin ${new URL(r.url).host || r.url}`);
    console.log('Pinned packages:');
    return;
  }
  const compare = deployed.backend.compareVersions;
  for (const name of names) {
    const candidates = repos.specs().filter((s) => s.name === name);
    const have = deployed.installed.find((p) => p.name === name);
    const versions = [...new Set([...candidates.map((c) => c.version), ...(have ? [have.version] : [])])].sort((a, b) => compare(b, a));
    const best = [...candidates].sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || compare(b.version, a.version))[0];
    console.log(`${name}:`);
    console.log(`  Installed: ${have?.version ?? '(none)'}`);
    console.log(`  Candidate: ${have && (!best || compare(have.version, best.version) >= 0) ? have.version : best?.version ?? '(none)'}`);
    console.log('  Version table:');
    for (const v of versions) {
      const from = candidates.filter((c) => c.version === v);
      console.log(` ${have?.version === v ? '***' : '   '} ${v} ${Math.max(...from.map((c) => c.priority ?? 500), have?.version === v ? 100 : 0)}`);
      for (const c of from) {
        const repo = urlOf.get(c.download.origin);
        console.log(`        ${String(c.priority ?? 500).padStart(3)} ${repo?.url ?? ''} ${repo?.id ?? ''} ${c.arch} Packages`);
      }
      if (have?.version === v) console.log('        100 /var/lib/dpkg/status');
    }
  }
}

export async function aptUpdate(session: Session): Promise<void> {
  const deployed = await openDeployment(session);
  const repos = await openRepositories(session, deployed);
  repos.repositories().forEach((r, i) => console.log(`Hit:${i + 1} ${r.url} ${r.id} (${r.packages} packages)`));
  console.log('Reading package lists... Done');
}
