/**
 * dpkg triggers as the database records them: `triggers/File` lists file-trigger interests ("<path> <pkg>[/noawait]"
 * per line) and `triggers/<name>` the packages interested in a named trigger ("<pkg>[/noawait]"). dpkg registers a
 * package's interests when it unpacks it; a layered install writes them with the rest of the database, so that the
 * triggers the new packages' files activate (theirs included) are processed when they are configured.
 */
import type { LayerFile, PackageEntry } from '@ostree-layer/core';
import type { DebPackage } from './archive.js';
import type { DpkgDatabase } from './database.js';

export interface TriggerInterest {
  /** An absolute path for a file trigger, else the trigger's name. */
  trigger: string;
  package: string;
  noawait: boolean;
}

interface Directive {
  directive: string;
  name: string;
}

/** The directives of a package's `triggers` control file, comments and blank lines dropped. */
function directives(pkg: DebPackage): Directive[] {
  const text = pkg.controlMembers.get('triggers')?.content.toString('utf8') ?? '';
  const out: Directive[] = [];
  for (const line of text.split('\n')) {
    const [directive, name] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (directive && name) out.push({ directive, name });
  }
  return out;
}

/** What a package declares interest in (`interest`, `interest-await`, `interest-noawait`). */
export function declaredInterests(pkg: DebPackage): TriggerInterest[] {
  return directives(pkg)
    .filter((d) => /^interest(-await|-noawait)?$/.test(d.directive))
    .map((d) => ({ trigger: d.name, package: pkg.id.name, noawait: d.directive === 'interest-noawait' }));
}

/** Trigger names a package activates explicitly (`activate`, `activate-await`, `activate-noawait`). */
export function explicitActivations(pkg: DebPackage): string[] {
  return directives(pkg)
    .filter((d) => /^activate(-await|-noawait)?$/.test(d.directive))
    .map((d) => d.name);
}

/** The file-trigger interests the database records. */
export async function recordedFileInterests(db: DpkgDatabase): Promise<TriggerInterest[]> {
  const path = `${db.location}/triggers/File`;
  if ((await db.tree.lstat(path))?.type !== 'file') return [];
  const out: TriggerInterest[] = [];
  for (const line of (await db.tree.readFile(path)).toString('utf8').split('\n')) {
    const [trigger, owner] = line.trim().split(/\s+/);
    if (trigger?.startsWith('/') && owner) out.push({ trigger, package: owner.replace(/\/noawait$/, ''), noawait: owner.endsWith('/noawait') });
  }
  return out;
}

/** File-trigger paths that some entry lies at or under (paths as the package names them, as dpkg matches them). */
export function triggeredBy(entries: PackageEntry[], interests: TriggerInterest[]): Set<string> {
  const hit = new Set<string>();
  for (const interest of interests) {
    if (!interest.trigger.startsWith('/')) continue;
    const prefix = interest.trigger.endsWith('/') ? interest.trigger : interest.trigger + '/';
    if (entries.some((e) => e.path === interest.trigger || e.path.startsWith(prefix))) hit.add(interest.trigger);
  }
  return hit;
}

/** The trigger files of the database with the new packages' interests added (nothing when they declare none). */
export async function triggerFiles(db: DpkgDatabase, packages: DebPackage[]): Promise<LayerFile[]> {
  const fresh = packages.flatMap(declaredInterests);
  if (fresh.length === 0) return [];
  const byFile = new Map<string, TriggerInterest[]>();
  for (const interest of fresh) {
    const file = interest.trigger.startsWith('/') ? 'File' : interest.trigger;
    byFile.set(file, [...(byFile.get(file) ?? []), interest]);
  }
  const out: LayerFile[] = [];
  for (const [file, interests] of byFile) {
    const path = `${db.location}/triggers/${file}`;
    const old = (await db.tree.lstat(path))?.type === 'file' ? (await db.tree.readFile(path)).toString('utf8') : '';
    const lines = old.split('\n').filter(Boolean);
    for (const i of interests) {
      const owner = `${i.package}${i.noawait ? '/noawait' : ''}`;
      const line = file === 'File' ? `${i.trigger} ${owner}` : owner;
      if (!lines.includes(line)) lines.push(line);
    }
    out.push({ path, type: 'file', mode: 0o644, content: lines.map((l) => l + '\n').join('') });
  }
  return out;
}

/**
 * `triggers/Unincorp` with `triggers` activated without awaiting, as `dpkg-trigger --no-await` leaves it: one line per
 * trigger, its name then the awaiting packages, "-" for none. An activation of a trigger already listed puts "-"
 * first after the name, unless it is there; a new one is appended as "<trigger> -". dpkg incorporates the file on
 * its next run (the configure step), marking the interested packages triggers-pending.
 */
export function deferredActivations(current: string, triggers: Iterable<string>): string {
  const lines = current.split('\n').filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/));
  for (const trigger of triggers) {
    const line = lines.find((words) => words[0] === trigger);
    if (!line) lines.push([trigger, '-']);
    else if (!line.includes('-', 1)) line.splice(1, 0, '-');
  }
  return lines.map((words) => words.join(' ') + '\n').join('');
}
