/**
 * The script phase: after the package layers and the database layer are committed, the backend's maintainer scripts
 * run in the sandbox over the composed tree, and what they changed becomes one more layer.
 *
 * The overlay's lower directories, topmost first: the package and database layers checked out together, the first
 * pass's changes, a small seed (the /var and /run content of the new packages, mount points, sandbox-only files) and
 * the tree the transaction starts from (its deployment directory, or a checkout). Nothing below the upper directory is
 * ever written. The changes then follow the same path rules as payloads: /etc is /usr/etc, /var becomes tmpfiles.d
 * lines and factory files, runtime and home directories are dropped, and new users and groups become sysusers.d lines.
 */
import { createHash } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { chmodSync, chownSync, copyFileSync, createReadStream, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LayerFile, ScriptPlan } from '../backend.js';
import { ScriptError, SystemStateError } from '../errors.js';
import type { Accounts } from '../import/accounts.js';
import { DEFAULT_DIR, type DirMeta } from '../import/layer-tar.js';
import { writeLayer } from '../import/write-layer.js';
import { FACTORY_DIR } from '../import/placement.js';
import type { OstreeRepo } from '../ostree.js';
import type { RefLedger } from '../ref-ledger.js';
import { SCRIPT_LAYER_REF_PREFIX, type LayerState } from '../discover/sysroot.js';
import { discardLater, scratchDir } from '../scratch.js';
import { stackReadsMore } from '../compose/layer-routes.js';
import { failedStep, runPass, type SandboxBind } from './sandbox.js';
import { accountChanges, sysusersConf } from './sysusers.js';
import { readUpper, type UpperEntry } from './upper.js';

export interface ScriptPhaseInput {
  repo: OstreeRepo;
  plan: ScriptPlan;
  /** The commit the transaction starts from, and its checkout when one exists (a deployment directory). */
  fromCommit: string;
  fromDir?: string;
  /** Commits stacked over it, in order: the package layers, then the database layer. */
  layers: string[];
  /** Bytes of regular files per layer commit, where known: how the layers are checked out (see stackReadsMore). */
  layerBytes?: ReadonlyMap<string, number>;
  /** The tmpfiles.d lines the import made for the new packages' /var and /run content (seeded into the sandbox). */
  runtimeLines: string[];
  accounts: Accounts;
  /** A server-side compose: what identifies one machine is left out (see {@link ScriptPlan.perMachine}). */
  serverSide?: boolean;
  timeoutSeconds?: number;
  progress?: (line: string) => void;
}

export interface ScriptPhaseResult {
  /** The layer holding what the scripts changed, or null when they changed nothing that is kept. */
  commit: string | null;
  notes: string[];
  /** Every step that ran, with its output, for --json and logs. */
  steps: Array<{ package?: string; label: string; exitCode: number }>;
}

/** Per step; generous for slow triggers (man-db, ca-certificates) on a loaded machine. */
export const DEFAULT_SCRIPT_TIMEOUT_SECONDS = 600;

/** Paths whose changes never reach the tree: runtime state, caches, logs and homes (OSTree keeps /root and /home in /var). */
const DROPPED = ['/run/', '/tmp/', '/proc/', '/dev/', '/sys/', '/root/', '/home/', '/var/log/', '/var/cache/', '/var/tmp/', '/var/lock/', '/var/run/'];

/** Machine identity and lock files: each machine makes its own. */
const MACHINE_FILES = ['/usr/etc/machine-id', '/var/lib/dbus/machine-id', '/usr/etc/.pwd.lock', '/usr/etc/gshadow.lock', '/usr/etc/passwd.lock', '/usr/etc/group.lock', '/usr/etc/shadow.lock'];

export async function runScriptPhase(input: ScriptPhaseInput): Promise<ScriptPhaseResult> {
  const say = input.progress ?? (() => undefined);
  const timeoutSeconds = input.timeoutSeconds ?? DEFAULT_SCRIPT_TIMEOUT_SECONDS;
  const scratch = await scratchDir(input.repo.path, 'scripts');
  try {
    const dir = (name: string) => join(scratch, name);
    for (const name of ['layers', 'seed', 'files', 'merged', 'u1', 'w1', 'u2', 'w2', 'log']) mkdirSync(dir(name));
    let fromDir = input.fromDir;
    if (!fromDir) {
      fromDir = dir('from');
      await input.repo.checkout(input.fromCommit, fromDir);
    }
    await checkoutLayers(input, dir('layers'));
    for (const f of input.plan.files) writeFileSync(join(dir('files'), f.name), f.content, { mode: f.mode });
    const binds: SandboxBind[] = [{ treePath: '/usr/etc', sandboxPath: '/etc' }, ...input.plan.binds];
    seedSandbox(dir('seed'), dir('layers'), input, binds);

    const lowersBelow = [dir('seed'), fromDir];
    const steps: ScriptPhaseResult['steps'] = [];
    const record = (results: Awaited<ReturnType<typeof runPass>>) => {
      for (const r of results) steps.push({ package: r.step.package?.name, label: r.step.label, exitCode: r.exitCode });
      const failure = failedStep(results, timeoutSeconds);
      if (failure) throw failure;
    };
    const common = { merged: dir('merged'), scriptDir: dir('files'), binds, timeoutSeconds };
    if (input.plan.beforePayload.length > 0) {
      say(`running ${input.plan.beforePayload.length} script(s) before unpacking`);
      record(await runPass({ ...common, lowers: lowersBelow, upper: dir('u1'), work: dir('w1'), steps: input.plan.beforePayload, logDir: dir('log/1') }));
    }
    say(`running ${input.plan.afterPayload.length} configure step(s)`);
    const lowers = [dir('layers'), dir('u1'), ...lowersBelow];
    editBeforeConfigure(input.plan, dir('u2'), lowers);
    record(await runPass({ ...common, lowers, upper: dir('u2'), work: dir('w2'), steps: input.plan.afterPayload, logDir: dir('log/2') }));

    // Deletions are judged against the tree alone: what pass 1 made and pass 2 removed again is simply gone.
    const changes = await collectChanges([dir('u2'), dir('u1')], [dir('layers'), ...lowersBelow], input.plan, Boolean(input.serverSide));
    const extra = changes.perMachineDropped.length > 0 ? (input.plan.perMachine?.regenerate ?? []) : [];
    const layer = await commitScriptLayer(input.repo, changes, lowers, extra);
    if (changes.perMachineDropped.length > 0) {
      layer.notes.push(`server-side compose: left out ${changes.perMachineDropped.join(', ')} (each machine makes its own at boot${extra.length ? ` through ${extra[0]!.path}` : ''})`);
    }
    return { commit: layer.commit, notes: layer.notes, steps };
  } finally {
    discardLater(scratch);
  }
}

/**
 * The package and database layers as one directory, later layers winning as in the compose. A bare repo writes the
 * stack in-process, each path once. Otherwise one commit of the layers stacked, checked out, instead of one
 * `ostree checkout --union` per layer (with 65 packages the per-layer checkouts were a third of the phase); but stacking
 * re-reads the bytes of every layer after the first, so layers with many bytes are checked out one by one.
 */
async function checkoutLayers(input: ScriptPhaseInput, dest: string): Promise<void> {
  const { repo, layers } = input;
  if (repo.checkoutStacked(layers, dest)) return;
  if (layers.length > 1 && stackReadsMore(layers, input.layerBytes)) {
    for (const layer of layers) await repo.checkout(layer, dest, { union: true });
    return;
  }
  const stacked = layers.length === 1 ? layers[0]! : await repo.commit({ trees: layers.map((ref) => ({ ref })), subject: 'ostree-layer: layers seen by maintainer scripts' });
  await repo.checkout(stacked, dest, { union: true });
}

/*
 * The seed, the edits and the reading of the uppers use synchronous calls: a few dozen small operations on scratch
 * directories of our own, where a thread-pool round trip for each cost more than the operation (10 to 20 ms a phase).
 */

/**
 * Writes the plan's edits into the second pass's upper directory before it is mounted, where a step would have
 * written them: each parent directory copied up with the owner and mode the lowers give it, as overlayfs does.
 */
function editBeforeConfigure(plan: ScriptPlan, upper: string, lowers: string[]): void {
  for (const { path, mode, edit } of plan.beforeConfigure ?? []) {
    const parents: string[] = [];
    for (let d = dirname(path); d !== '/'; d = dirname(d)) parents.unshift(d);
    for (const d of parents) {
      const st = topmostInLowers(lowers, d)?.st;
      if (st && !st.isDirectory()) throw new SystemStateError(`${d}: not a directory in the tree; ${path} cannot be written for the maintainer scripts`);
      try {
        mkdirSync(join(upper, d));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        continue;
      }
      chmodSync(join(upper, d), st ? st.mode & 0o7777 : 0o755);
      if (st) chownSync(join(upper, d), st.uid, st.gid);
    }
    // A whiteout or anything but a file there: no current content.
    const found = topmostInLowers(lowers, path);
    const current = found?.st.isFile() ? readFileSync(found.hostPath) : null;
    writeFileSync(join(upper, path), edit(current));
    chmodSync(join(upper, path), mode);
  }
}

/** The seed: mount points, sandbox-only files, a /var skeleton and the new packages' /var and /run content. */
function seedSandbox(seed: string, layers: string, input: ScriptPhaseInput, binds: SandboxBind[]): void {
  const at = (p: string) => join(seed, p);
  for (const d of ['etc', 'proc', 'dev', 'tmp', 'run/lock', 'run/ostree-layer', 'var/lib', 'var/cache', 'var/log', 'var/spool', 'var/mail', 'var/opt', 'var/backups', 'var/local']) {
    mkdirSync(at(d), { recursive: true });
  }
  chmodSync(at('tmp'), 0o1777);
  mkdirSync(at('var/tmp'), { mode: 0o1777 });
  chmodSync(at('var/tmp'), 0o1777);
  symlinkSync('../run', at('var/run'));
  symlinkSync('../run/lock', at('var/lock'));
  for (const b of binds) {
    mkdirSync(at(b.treePath), { recursive: true });
    mkdirSync(at(b.sandboxPath), { recursive: true });
  }
  for (const f of input.plan.sandboxOnly) {
    mkdirSync(dirname(at(f.path)), { recursive: true });
    writeFileSync(at(f.path), f.content, { mode: f.mode });
    chmodSync(at(f.path), f.mode);
  }
  for (const line of input.runtimeLines) applyTmpfilesLine(seed, layers, line, input.accounts);
}

/** Makes what one of the import's own tmpfiles.d lines (d, L, C) describes, as boot would. */
function applyTmpfilesLine(seed: string, layers: string, line: string, accounts: Accounts): void {
  const [type, path, mode, user, group, , arg] = splitTmpfilesLine(line);
  if (!type || !path) return;
  const target = join(seed, path);
  mkdirSync(dirname(target), { recursive: true });
  if (type === 'd') {
    mkdirSync(target, { recursive: true });
    chmodSync(target, parseInt(mode ?? '755', 8));
    chownSync(target, accounts.users.get(user ?? 'root') ?? 0, accounts.groups.get(group ?? 'root') ?? 0);
  } else if (type === 'L' && arg) {
    rmSync(target, { force: true, recursive: true });
    symlinkSync(arg, target);
  } else if (type === 'C' && arg) {
    rmSync(target, { force: true, recursive: true });
    copyFileSync(join(layers, arg), target);
    const st = lstatSync(join(layers, arg));
    chmodSync(target, st.mode & 0o7777);
    chownSync(target, st.uid, st.gid);
  }
}

/** tmpfiles.d fields: whitespace-separated, double quotes around fields that contain whitespace. */
export function splitTmpfilesLine(line: string): string[] {
  const fields: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) fields.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return fields;
}

interface Changes {
  /** Entries to write into the layer, paths already placed (var content relocated to the factory). */
  entries: UpperEntry[];
  tmpfiles: string[];
  /** Deletions of content the lower layers have: cannot be expressed by a layer. */
  deletions: string[];
  sysusers: string;
  /** Files that identify one machine, left out of a server-side compose. */
  perMachineDropped: string[];
}

function underAny(path: string, prefixes: string[]): boolean {
  return prefixes.some((p) => (p.endsWith('/') ? path === p.slice(0, -1) || path.startsWith(p) : path === p));
}

/** Merges the uppers (first wins), applies the path rules and finds users, deletions and /var content. */
async function collectChanges(uppers: string[], lowers: string[], plan: ScriptPlan, serverSide: boolean): Promise<Changes> {
  const seen = new Map<string, UpperEntry>();
  const hiddenBelow: string[] = [];
  for (const upper of uppers) {
    for (const e of await readUpper(upper)) {
      if (seen.has(e.path) || hiddenBelow.some((h) => e.path.startsWith(h + '/'))) continue;
      seen.set(e.path, e);
    }
    // What an upper layer deleted or made opaque hides the older upper's entries below it.
    for (const e of seen.values()) if (e.type === 'whiteout' || e.opaque) hiddenBelow.push(e.path);
  }
  const discard = [...plan.discard, ...plan.sandboxOnly.map((f) => f.path), ...MACHINE_FILES];
  const out: Changes = { entries: [], tmpfiles: [], deletions: [], sysusers: '', perMachineDropped: [] };
  const perMachine = serverSide ? (plan.perMachine?.paths ?? []) : [];
  for (const e of seen.values()) {
    const path = e.path.startsWith('/etc/') || e.path === '/etc' ? '/usr' + e.path : e.path;
    if (e.type === 'file' && perMachine.some((p) => (p.endsWith('*') ? path.startsWith(p.slice(0, -1)) : path === p))) {
      out.perMachineDropped.push(path);
      continue;
    }
    if (underAny(path + (e.type === 'directory' ? '/' : ''), DROPPED) || underAny(path, DROPPED) || underAny(path, discard)) continue;
    if (e.type === 'whiteout' || e.opaque) {
      if (existsInLowers(lowers, path)) out.deletions.push(path);
      if (e.type === 'whiteout') continue;
    }
    if (e.type === 'other') continue;
    if (path === '/var' || path.startsWith('/var/')) {
      if (e.type === 'directory' && existsInLowers(lowers, path)) continue;
      out.tmpfiles.push(runtimeLine(e, path));
      if (e.type === 'file') out.entries.push({ ...e, path: FACTORY_DIR + path });
      continue;
    }
    out.entries.push({ ...e, path });
  }
  out.sysusers = usersFrom(seen, lowers);
  return out;
}

function runtimeLine(e: UpperEntry, path: string): string {
  const mode = e.mode.toString(8).padStart(4, '0');
  const p = /[\s"\\]/.test(path) ? `"${path.replace(/["\\]/g, '\\$&')}"` : path;
  if (e.type === 'directory') return `d ${p} ${mode} ${e.uid} ${e.gid} -`;
  if (e.type === 'symlink') return `L ${p} - - - - ${e.linkTarget}`;
  return `C ${p} - - - - ${FACTORY_DIR}${p}`;
}

/** What the topmost lower that has something at `path` has there, and where on the host. */
function topmostInLowers(lowers: string[], path: string): { hostPath: string; st: Stats } | null {
  for (const lower of lowers) {
    const hostPath = join(lower, path);
    let st: Stats | undefined;
    try {
      st = lstatSync(hostPath, { throwIfNoEntry: false });
    } catch {
      // A parent that is not a directory there: nothing at `path` in this one.
    }
    if (st) return { hostPath, st };
  }
  return null;
}

function existsInLowers(lowers: string[], path: string): boolean {
  return topmostInLowers(lowers, path) !== null;
}

function readInLowers(lowers: string[], path: string): string {
  for (const lower of lowers) {
    try {
      return readFileSync(join(lower, path), 'utf8');
    } catch {
      // not in this one
    }
  }
  return '';
}

function usersFrom(changed: Map<string, UpperEntry>, lowers: string[]): string {
  const read = (name: string) => {
    const e = changed.get(`/etc/${name}`) ?? changed.get(`/usr/etc/${name}`);
    return e?.type === 'file' ? readFileSync(e.hostPath, 'utf8') : readInLowers(lowers, `/usr/etc/${name}`);
  };
  const before = { passwd: readInLowers(lowers, '/usr/etc/passwd'), group: readInLowers(lowers, '/usr/etc/group') };
  return sysusersConf(accountChanges(before, { passwd: read('passwd'), group: read('group') }));
}

async function commitScriptLayer(repo: OstreeRepo, changes: Changes, lowers: string[], extra: LayerFile[]): Promise<{ commit: string | null; notes: string[] }> {
  const notes: string[] = [];
  if (changes.deletions.length > 0) {
    const shown = changes.deletions.slice(0, 10).join(', ');
    throw new ScriptError(
      `maintainer scripts deleted ${changes.deletions.length} path(s) that the base or a package layer ships (${shown}); a layer cannot delete ` +
        'files, so this transaction cannot be composed. Install with --no-scripts, or report the package.',
    );
  }
  const generated: Array<{ path: string; content: string }> = [];
  const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);
  if (changes.tmpfiles.length > 0) {
    const text = `# Created by ostree-layer: what maintainer scripts left under /var, made at boot.\n${changes.tmpfiles.join('\n')}\n`;
    generated.push({ path: `/usr/lib/tmpfiles.d/ostree-layer-scripts-${digest(text)}.conf`, content: text });
    notes.push(`maintainer scripts: ${changes.tmpfiles.length} path(s) under /var are created at boot by ${generated.at(-1)!.path}`);
  }
  if (changes.sysusers) {
    // Named to sort first: sysusers keeps the first line for a name, and these carry the ids the scripts chose (which
    // the tree's /usr/etc/passwd has), ahead of the packages' own sysusers.d lines that would pick other ids.
    const text = `# Created by ostree-layer: users and groups that maintainer scripts added, kept across the /etc merge.\n${changes.sysusers}`;
    generated.push({ path: `/usr/lib/sysusers.d/00-ostree-layer-${digest(text)}.conf`, content: text });
    const names = changes.sysusers.split('\n').filter((l) => l.startsWith('u ') || l.startsWith('g ')).map((l) => l.split(' ')[1]);
    notes.push(`maintainer scripts added users/groups ${[...new Set(names)].join(', ')}; ${generated.at(-1)!.path} recreates them at boot if the local /etc/passwd differs`);
  }
  if (changes.entries.length === 0 && generated.length === 0 && extra.length === 0) return { commit: null, notes };

  const dirMeta = async (path: string): Promise<DirMeta> => {
    for (const lower of lowers) {
      try {
        const st = await lstat(join(lower, path));
        if (st.isDirectory()) return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      } catch {
        // not in this one
      }
    }
    return DEFAULT_DIR;
  };
  const commit = await writeLayer(repo, { dirMeta, subject: 'ostree-layer maintainer scripts' }, async (layer) => {
    for (const e of changes.entries) {
      const meta = { mode: e.mode, uid: e.uid, gid: e.gid };
      if (e.type === 'directory') await layer.directory(e.path, meta);
      else if (e.type === 'symlink') await layer.symlink(e.path, meta, e.linkTarget ?? '');
      else await layer.file(e.path, meta, e.size, createReadStream(e.hostPath));
    }
    for (const g of generated) await layer.file(g.path, { mode: 0o644, uid: 0, gid: 0 }, Buffer.byteLength(g.content), g.content);
    for (const f of extra) {
      const meta = { mode: f.mode, uid: 0, gid: 0 };
      if (f.type === 'symlink') await layer.symlink(f.path, meta, String(f.content));
      else if (f.type === 'directory') await layer.directory(f.path, meta);
      else await layer.file(f.path, meta, Buffer.byteLength(f.content ?? ''), f.content ?? '');
    }
  });
  return { commit, notes };
}

/**
 * Holds a script layer by its ref (`ostree admin deploy` prunes what nothing holds) and records it in `state`, after
 * the layers `state` already lists (`replace`: on a new base, where the earlier ones no longer apply).
 */
export async function keepScriptLayer(repo: OstreeRepo, refs: RefLedger, state: LayerState, commit: string, replace = false): Promise<void> {
  // Written into the objects as an orphan: on disk before its ref names it, as ostree's own commit makes sure.
  if (repo.objects()) await repo.flush();
  await refs.setRef(SCRIPT_LAYER_REF_PREFIX + commit, commit);
  state.scriptLayers = [...(replace ? [] : (state.scriptLayers ?? [])), commit];
}
