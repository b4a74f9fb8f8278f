/**
 * `planScripts` for rpm: the scriptlets and file triggers of a layered install, in rpm-ostree's order, each step
 * built the way rpm 4.18 runs it (lib/rpmscript.c): the interpreter argv from the header's *PROG tag (/bin/sh when
 * absent), the body written to a file passed after it, then the instance count ($1); rpm's PATH and the
 * RPM_INSTALL_PREFIX variables of relocatable packages.
 *
 * The order (rpm-ostree's, DESIGN.md "Maintainer scripts on a composed tree"): every %pre before the payloads, since
 * they all land in one layer; then per package its %filetriggerin of high priority, %post ($1 = 1 on a fresh install)
 * and %filetriggerin of low priority; then every %posttrans; then %transfiletriggerin of base and new packages.
 *
 * Never run, as rpm-ostree does not either: %preun, %postun and the un/postun triggers (a layered install removes
 * nothing in rpm's sense: an uninstall recomposes from the base, so there is no old instance to tear down), %pretrans
 * (it exists to work around in-place upgrades of a live root; the tree here is always assembled anew) and
 * %verifyscript. Package triggers (%triggerin -- other) are refused, as rpm-ostree refuses them.
 */
import { ScriptError, SCRIPT_DIR, type PackageId, type ScriptPlan, type ScriptStep, type WriteDatabaseOptions } from '@ostree-layer/core';
import { RpmDatabase, takenOverPaths } from './database.js';
import { fileTriggersFor, transFileTriggers, type FiredTrigger, type TriggerPackage } from './file-triggers.js';
import { headerFiles } from './files.js';
import { Tag, type RpmHeader } from './header.js';
import { InterpreterLookup } from './interpreters.js';
import { RpmPackage } from './package.js';
import {
  LUA_INTERPRETER, ScriptFlag, TriggerSense, installPrefixes, readFileTriggers, readPackageTriggers, readScriptlet,
  type Scriptlet,
} from './scriptlets.js';

/** rpm's %_install_script_path default: the PATH every scriptlet gets. */
export const RPM_SCRIPT_PATH = '/sbin:/bin:/usr/sbin:/usr/bin:/usr/X11R6/bin';
/** rpm ≥ 4.17 ships its Lua as a standalone interpreter; <lua> scriptlets run through the tree's own. */
export const RPMLUA = '/usr/bin/rpmlua';
/**
 * Where scriptlets keep state from %pre to %posttrans (Fedora's selinux and authselect macros write there); the rpm
 * package owns it on a mutable system. It exists during the script phase and its content never reaches the tree.
 */
export const RPM_STATE_DIR = '/var/lib/rpm-state';
/** rpmfileState values rpm counts as installed (normal, netshared). */
const INSTALLED_STATES = new Set([0, 3]);

/** One step before its interpreter is checked: where it runs and what it needs. */
interface Pending {
  step: ScriptStep;
  interpreter: string;
  afterPayload: boolean;
}

class PlanBuilder {
  readonly files = new Map<string, { name: string; content: string; mode: number }>();
  readonly pending: Pending[] = [];
  readonly problems: string[] = [];

  /** Adds the step that runs `body` with `interpreter`, or records why it cannot run. */
  add(options: {
    pkg: PackageId; label: string; scriptName: string; interpreter: string[]; body?: string; flags: number;
    arg: number; prefixes: string[]; stdin?: string; afterPayload: boolean; trigger?: boolean;
  }): void {
    const where = `${options.pkg.name}-${options.pkg.version}.${options.pkg.arch} ${options.label}`;
    if (options.flags & (ScriptFlag.Expand | ScriptFlag.QueryFormat)) {
      this.problems.push(`${where}: the body is ${options.flags & ScriptFlag.Expand ? 'macro-expanded (-e)' : 'query-formatted (-q)'} by rpm at install time, which this tool does not do`);
      return;
    }
    const lua = options.interpreter[0] === LUA_INTERPRETER;
    // rpm runs an empty Lua scriptlet as a no-op; rpmlua without a file would start an interactive session.
    if (lua && options.body === undefined) return;
    const argv = lua ? [RPMLUA] : [...options.interpreter];
    if (options.body !== undefined) {
      const name = options.scriptName;
      const content = lua ? luaPreamble(options.prefixes, options.trigger ?? false) + options.body : options.body;
      this.files.set(name, { name, content, mode: 0o644 });
      argv.push(`${SCRIPT_DIR}/${name}`, String(options.arg));
    }
    const step: ScriptStep = { package: options.pkg, label: options.label, argv, env: scriptEnv(options.prefixes) };
    if (options.stdin !== undefined) step.stdin = options.stdin;
    this.pending.push({ step, interpreter: argv[0], afterPayload: options.afterPayload });
  }
}

/**
 * rpm runs Lua inside itself with `arg[2]` already a number, `rpm.next_file()` feeding file triggers and the install
 * prefixes as a table; through rpmlua the same script gets strings in `arg` and stdin, so this prepares both. Like
 * rpm's own conversion it goes in front of the body on the same line, so error messages keep rpm's line numbers.
 */
function luaPreamble(prefixes: string[], trigger: boolean): string {
  const statements = ['arg[2] = tonumber(arg[2]);'];
  if (trigger) statements.push("rpm.next_file = function() return io.read('l') end;");
  if (prefixes.length) statements.push(`RPM_INSTALL_PREFIX = { ${prefixes.map((p) => JSON.stringify(p)).join(', ')} };`);
  return statements.join(' ');
}

function scriptEnv(prefixes: string[]): Record<string, string> {
  // SYSTEMD_OFFLINE: systemctl in a scriptlet (%systemd_post) works on the tree, never on a running manager;
  // rpm-ostree sets it for the same sandbox.
  const env: Record<string, string> = { PATH: RPM_SCRIPT_PATH, SYSTEMD_OFFLINE: '1' };
  prefixes.forEach((prefix, i) => {
    env[`RPM_INSTALL_PREFIX${i}`] = prefix;
    if (i === 0) env.RPM_INSTALL_PREFIX = prefix;
  });
  return env;
}

const nevra = (id: PackageId) => `${id.name}-${id.version}.${id.arch}`;

function scriptletStep(plan: PlanBuilder, pkg: RpmPackage, scriptlet: Scriptlet, arg: number, afterPayload: boolean): void {
  plan.add({
    pkg: pkg.id, label: `%${scriptlet.kind}`, scriptName: `${nevra(pkg.id)}.${scriptlet.kind}`,
    interpreter: scriptlet.interpreter, body: scriptlet.body, flags: scriptlet.flags, arg,
    prefixes: installPrefixes(pkg.header), afterPayload,
  });
}

/** rpm passes 0 as $1 to every file trigger (runHandleTriggersInPkg). */
function triggerStep(plan: PlanBuilder, fired: FiredTrigger): void {
  const { owner, trigger } = fired;
  const kind = trigger.mode === 'file' ? 'filetriggerin' : 'transfiletriggerin';
  plan.add({
    pkg: owner.id, label: `%${kind} -- ${trigger.prefixes.join(' ')}`, scriptName: `${nevra(owner.id)}.${kind}.${trigger.index}`,
    interpreter: [trigger.interpreter], body: trigger.body ?? '', flags: trigger.flags, arg: 0,
    prefixes: installPrefixes(owner.header), stdin: fired.paths.map((p) => `${p}\n`).join(''), afterPayload: true, trigger: true,
  });
}

/** `files` is called at most once, and only for packages a trigger searches: a base's file lists are large. */
function triggerPackage(id: PackageId, header: RpmHeader, order: number, files: () => string[]): TriggerPackage {
  let cached: string[] | undefined;
  return {
    id, header, order, files: () => (cached ??= files()), dirnames: header.strings(Tag.DirNames),
    fileTriggers: readFileTriggers(header, 'file'), transTriggers: readFileTriggers(header, 'transfile'),
  };
}

/** Installed files of a base package: rpm skips files not installed, and those a new package takes over. */
function baseFiles(header: RpmHeader, where: string, taken: Set<string>): string[] {
  const states = header.numbers(Tag.FileStates);
  return headerFiles(header, where)
    .filter((f) => INSTALLED_STATES.has(states[f.index] ?? 0) && !taken.has(f.path))
    .map((f) => f.rawPath);
}

/** Package triggers fire on names; rpm-ostree refuses them, and so does this (the message says which). */
function checkPackageTriggers(plan: PlanBuilder, base: TriggerPackage[], added: RpmPackage[]): void {
  const fires = TriggerSense.In | TriggerSense.PreIn;
  const newNames = new Set(added.map((pkg) => pkg.id.name));
  for (const pkg of added) {
    for (const t of readPackageTriggers(pkg.header).filter((t) => t.sense & fires)) {
      plan.problems.push(`${nevra(pkg.id)} has a %triggerin on ${t.name}, a kind of script this tool does not run`);
    }
  }
  for (const owner of base) {
    for (const t of readPackageTriggers(owner.header).filter((t) => t.sense & fires && newNames.has(t.name))) {
      plan.problems.push(`base package ${nevra(owner.id)} has a %triggerin on ${t.name}, a kind of script this tool does not run`);
    }
  }
}

/** Refuses before anything runs: every script whose interpreter the tree lacks, every script kind not supported. */
async function checkRunnable(plan: PlanBuilder, lookup: InterpreterLookup): Promise<void> {
  for (const { step, interpreter, afterPayload } of plan.pending) {
    if (await lookup.exists(interpreter, afterPayload)) continue;
    const where = `${nevra(step.package!)} ${step.label}`;
    plan.problems.push(interpreter === RPMLUA
      ? `${where} is a Lua scriptlet and the tree has no ${RPMLUA} (rpm ≥ 4.17 ships it) to run it with`
      : `${where} needs the interpreter ${interpreter}, which is not in the tree${afterPayload ? ' nor in the packages being layered' : ' before the payloads are unpacked'}`);
  }
  if (plan.problems.length) {
    throw new ScriptError(`cannot run the packages' scripts:\n  ${plan.problems.join('\n  ')}\n` +
      'Install with --no-scripts to layer the files without running any script (the packages stay unconfigured).');
  }
}

export async function planRpmScripts(options: WriteDatabaseOptions): Promise<ScriptPlan | null> {
  const database = options.database;
  if (!(database instanceof RpmDatabase)) throw new ScriptError('planScripts was given a database the rpm backend did not open');
  const added = options.added.map((layered) => {
    if (!(layered.package instanceof RpmPackage)) throw new ScriptError(`${layered.package.file}: not opened by the rpm backend`);
    return layered.package;
  });
  const takenFrom = takenOverPaths(options.added);
  const where = `${database.tree.description}${database.dbFile}`;
  const baseHeaders = await database.headers();
  const base = baseHeaders.map(({ id, header }, i) => triggerPackage(id, header, i, () => baseFiles(header, where, takenFrom(id))));
  const fresh = added.map((pkg, i) => triggerPackage(pkg.id, pkg.header, base.length + i, () => pkg.files.map((f) => f.rawPath)));

  const plan = new PlanBuilder();
  checkPackageTriggers(plan, base, added);
  // rpm's $1: how many instances of the name the database holds once this one is in (psm.c rpmpsmNew).
  const countBefore = (i: number) => [...baseHeaders.map((h) => h.id), ...added.slice(0, i).map((p) => p.id)].filter((id) => id.name === added[i].id.name).length;

  added.forEach((pkg, i) => {
    const pre = readScriptlet(pkg.header, 'pre');
    if (pre) scriptletStep(plan, pkg, pre, countBefore(i) + 1, false);
  });
  added.forEach((pkg, i) => {
    const installedSoFar = [...base, ...fresh.slice(0, i + 1)];
    for (const fired of fileTriggersFor(fresh[i], installedSoFar, 'before-post')) triggerStep(plan, fired);
    const post = readScriptlet(pkg.header, 'post');
    if (post) scriptletStep(plan, pkg, post, countBefore(i) + 1, true);
    for (const fired of fileTriggersFor(fresh[i], installedSoFar, 'after-post')) triggerStep(plan, fired);
  });
  // %posttrans's $1: the instances of the name installed once the transaction is done (no update: + 0).
  const installedAfter = [...baseHeaders.map((h) => h.id), ...added.map((p) => p.id)];
  for (const pkg of added) {
    const posttrans = readScriptlet(pkg.header, 'posttrans');
    if (posttrans) scriptletStep(plan, pkg, posttrans, installedAfter.filter((id) => id.name === pkg.id.name).length, true);
  }
  for (const fired of transFileTriggers(base, fresh)) triggerStep(plan, fired);

  await checkRunnable(plan, new InterpreterLookup(options.tree, added));
  if (!plan.pending.length) return null;
  const location = database.location;
  return {
    files: [...plan.files.values()],
    beforePayload: plan.pending.filter((p) => !p.afterPayload).map((p) => p.step),
    afterPayload: plan.pending.filter((p) => p.afterPayload).map((p) => p.step),
    binds: [],
    sandboxOnly: [
      { path: `${RPM_STATE_DIR}/.ostree-layer`, content: '', mode: 0o644 },
      // What an OSTree system shows (rpm-ostree's sandbox too): scriptlets may act differently there (akmods).
      { path: '/run/ostree-booted', content: '', mode: 0o644 },
    ],
    // sqlite's shared-memory and write-ahead files, and rpm's lock, belong to an rpm process, never to the tree.
    discard: [`${location}/rpmdb.sqlite-shm`, `${location}/rpmdb.sqlite-wal`, `${location}/.rpm.lock`, `${RPM_STATE_DIR}/`],
  };
}
