/**
 * Which file triggers fire, in which order and with which paths on standard input, as rpm 4.18 decides it for a fresh
 * install (lib/rpmtriggers.c, lib/psm.c; the order was also observed on real `rpm -i` runs):
 *
 * - `%filetriggerin`, after each package P is unpacked: every trigger in the database (base packages, the packages
 *   installed before P in this transaction, and P itself) with a prefix matching one of P's files, fed P's matching
 *   files; then P's own triggers, fed the matching files of everything installed *before* P. Those with priority
 *   ≥ 10000 run before P's %post, the others after it.
 * - `%transfiletriggerin`, after every %posttrans: the triggers of packages outside the transaction, fed the matching
 *   files of the packages it installed; then each new package's own triggers, fed the matching files of the whole
 *   database.
 *
 * Triggers are sorted by priority (highest first), then database order, then trigger index. A prefix matches a path
 * that starts with it as a plain string; when the database is searched, only packages with a directory name starting
 * with the prefix are looked at (rpm's Dirnames index), which is why `/usr/lib` never lists the `/usr/lib` entry of
 * a package whose directories are `/` and `/usr/`.
 */
import type { PackageId } from '@ostree-layer/core';
import type { RpmHeader } from './header.js';
import { TRIGGER_PRIORITY_BOUND, type FileTrigger } from './scriptlets.js';

/** A package as the trigger machinery sees it: base packages from the rpmdb, new ones from their files. */
export interface TriggerPackage {
  id: PackageId;
  header: RpmHeader;
  /** The package's place in the database (rpm's hnum order): base packages first, new ones in install order. */
  order: number;
  /** Paths of files rpm counts as installed, as the header spells them, in header order (read on first use). */
  files(): string[];
  /** The header's directory names ("/usr/lib/"), for rpm's Dirnames prefix search. */
  dirnames: string[];
  fileTriggers: FileTrigger[];
  transTriggers: FileTrigger[];
}

/** A trigger that fires, with what rpm writes to its standard input. */
export interface FiredTrigger {
  owner: TriggerPackage;
  trigger: FileTrigger;
  paths: string[];
}

export type PriorityClass = 'before-post' | 'after-post';

function inClass(trigger: FileTrigger, priorityClass: PriorityClass): boolean {
  return (trigger.priority >= TRIGGER_PRIORITY_BOUND) === (priorityClass === 'before-post');
}

function byRpmOrder(a: { owner: TriggerPackage; trigger: FileTrigger }, b: { owner: TriggerPackage; trigger: FileTrigger }): number {
  return b.trigger.priority - a.trigger.priority || a.owner.order - b.owner.order || a.trigger.index - b.trigger.index;
}

/** The files of one package under the trigger's prefixes, prefix by prefix (rpm's search mode 0). */
function packageFilesUnder(pkg: TriggerPackage, trigger: FileTrigger): string[] {
  return trigger.prefixes.flatMap((prefix) => pkg.files().filter((path) => path.startsWith(prefix)));
}

/** The files of `packages` under the trigger's prefixes, found the way rpm's Dirnames prefix search finds them. */
function databaseFilesUnder(packages: TriggerPackage[], trigger: FileTrigger): string[] {
  const ordered = [...packages].sort((a, b) => a.order - b.order);
  return trigger.prefixes.flatMap((prefix) =>
    ordered.filter((pkg) => pkg.dirnames.some((dir) => dir.startsWith(prefix))).flatMap((pkg) => pkg.files().filter((path) => path.startsWith(prefix))),
  );
}

/**
 * `%filetriggerin` scripts that run for `installed` (the new package just unpacked) in one priority class.
 * `database` is what the database holds at that moment: the base plus the new packages up to and including it.
 */
export function fileTriggersFor(installed: TriggerPackage, database: TriggerPackage[], priorityClass: PriorityClass): FiredTrigger[] {
  const firedByFiles = database
    .flatMap((owner) => owner.fileTriggers.map((trigger) => ({ owner, trigger })))
    .filter(({ trigger }) => inClass(trigger, priorityClass))
    .sort(byRpmOrder)
    .map(({ owner, trigger }) => ({ owner, trigger, paths: packageFilesUnder(installed, trigger) }));
  const before = database.filter((pkg) => pkg !== installed);
  const own = installed.fileTriggers
    .filter((trigger) => inClass(trigger, priorityClass))
    .map((trigger) => ({ owner: installed, trigger }))
    .sort(byRpmOrder)
    .map(({ owner, trigger }) => ({ owner, trigger, paths: databaseFilesUnder(before, trigger) }));
  return [...firedByFiles, ...own].filter((fired) => fired.paths.length > 0);
}

/** `%transfiletriggerin` scripts that run at the end of the transaction that installed `added` over `base`. */
export function transFileTriggers(base: TriggerPackage[], added: TriggerPackage[]): FiredTrigger[] {
  const ofBase = base
    .flatMap((owner) => owner.transTriggers.map((trigger) => ({ owner, trigger })))
    .sort(byRpmOrder)
    .map(({ owner, trigger }) => ({ owner, trigger, paths: databaseFilesUnder(added, trigger) }));
  const whole = [...base, ...added];
  const ofAdded = added.flatMap((owner) =>
    owner.transTriggers
      .map((trigger) => ({ owner, trigger }))
      .sort(byRpmOrder)
      .map(({ trigger }) => ({ owner, trigger, paths: databaseFilesUnder(whole, trigger) })),
  );
  return [...ofBase, ...ofAdded].filter((fired) => fired.paths.length > 0);
}
