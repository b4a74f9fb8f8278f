/**
 * The rpm script plan on packages built with rpmbuild over a base installed by the real rpm: which steps, in which
 * order, with which argv, stdin and environment. What those steps do compared with a real `rpm -i` is in
 * scripts-agreement.test.ts.
 */
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryTree, SCRIPT_DIR, ScriptError, type LayeredPackage, type ScriptPlan, type ScriptStep } from '@ostree-layer/core';
import { buildRpm, ensureRpmBase, installRpmRoot, removeTree, type RpmSpec } from '@ostree-layer/testkit';
import { openRpmDatabase } from './database.js';
import { openRpm } from './package.js';
import { RPMLUA, RPM_SCRIPT_PATH, planRpmScripts } from './scripts.js';

const DB = '/usr/lib/sysimage/rpm';
let work: string;
let baseRpms: string[];

/** A package whose files sit under /usr/lib/NAME and /usr/share/NAME. */
function spec(name: string, extra: Partial<RpmSpec> = {}): RpmSpec {
  return {
    name, version: '1', files: [{ path: `/usr/lib/${name}/a`, content: 'a\n' }, { path: `/usr/share/${name}/b`, content: 'b\n' }], ...extra,
  };
}

/** Installs `baseSpecs` (built here) over the testkit base into a fresh root and plans the scripts for `addedSpecs`. */
async function plan(baseSpecs: RpmSpec[], addedSpecs: RpmSpec[], prepare?: (root: string) => Promise<void>): Promise<ScriptPlan | null> {
  const dir = await mkdtemp(join(work, 'case-'));
  const built = async (s: RpmSpec) => buildRpm(join(dir, 'rpms'), s);
  const root = join(dir, 'root');
  await installRpmRoot(root, [...baseRpms, ...(await Promise.all(baseSpecs.map(built)))]);
  await prepare?.(root);
  const tree = new DirectoryTree(root);
  const database = await openRpmDatabase(tree, DB);
  const added: LayeredPackage[] = [];
  for (const s of addedSpecs) added.push({ package: await openRpm(await built(s)), entries: [], takenOver: new Map() });
  return planRpmScripts({ tree, database, added });
}

const labels = (steps: ScriptStep[]) => steps.map((s) => `${s.package?.name} ${s.label}`);
const script = (p: ScriptPlan, step: ScriptStep) => String(p.files.find((f) => `${SCRIPT_DIR}/${f.name}` === step.argv.at(-2))?.content);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rpm-scripts-'));
  baseRpms = (await ensureRpmBase()).rpms;
}, 300_000);

afterAll(async () => {
  if (work) await removeTree(work);
});

describe('planScripts for rpm', () => {
  it('runs every %pre before the payloads, then %post, %posttrans and the file triggers in rpm order', async () => {
    const watcher = spec('watcher', {
      fileTriggers: [
        { kind: 'filetriggerin', prefixes: ['/usr/lib'], body: 'cat' },
        { kind: 'filetriggerin', prefixes: ['/usr/share'], body: 'cat', priority: 100 },
        { kind: 'transfiletriggerin', prefixes: ['/usr/share/'], body: 'cat' },
        { kind: 'filetriggerun', prefixes: ['/usr/lib'], body: 'echo never' },
      ],
    });
    const first = spec('first', { scripts: { pre: 'echo pre', post: 'echo post', posttrans: 'echo posttrans', preun: 'x', postun: 'x', pretrans: 'x' } });
    const second = spec('second', {
      scripts: { pre: 'echo pre2', post: 'echo post2' },
      fileTriggers: [{ kind: 'transfiletriggerin', prefixes: ['/usr/lib/first', '/usr/lib/second'], body: 'cat' }],
    });
    const p = (await plan([watcher], [first, second]))!;
    expect(labels(p.beforePayload)).toEqual(['first %pre', 'second %pre']);
    expect(labels(p.afterPayload)).toEqual([
      'watcher %filetriggerin -- /usr/lib', 'first %post', 'watcher %filetriggerin -- /usr/share',
      'watcher %filetriggerin -- /usr/lib', 'second %post', 'watcher %filetriggerin -- /usr/share',
      'first %posttrans',
      'watcher %transfiletriggerin -- /usr/share/', 'second %transfiletriggerin -- /usr/lib/first /usr/lib/second',
    ]);
    const [pre] = p.beforePayload;
    expect(pre.argv).toEqual(['/bin/sh', `${SCRIPT_DIR}/first-1-1.noarch.pre`, '1']);
    expect(script(p, pre)).toBe('echo pre');
    expect(pre.env).toMatchObject({ PATH: RPM_SCRIPT_PATH });
    expect(pre.env).not.toHaveProperty('RPM_INSTALL_PREFIX');
    const after = p.afterPayload;
    expect(after[1].argv.at(-1)).toBe('1');
    expect(after[6].argv.at(-1)).toBe('1');
    // File triggers get 0, and the matching paths on stdin: the new package's for others' triggers…
    expect(after[0].argv).toEqual(['/bin/sh', `${SCRIPT_DIR}/watcher-1-1.noarch.filetriggerin.0`, '0']);
    expect(after[0].stdin).toBe('/usr/lib/first/a\n');
    expect(after[5].stdin).toBe('/usr/share/second/b\n');
    expect(after[7].stdin).toBe('/usr/share/first/b\n/usr/share/second/b\n');
    // …and the whole database's for a new package's own %transfiletriggerin, prefix by prefix.
    expect(after[8].stdin).toBe('/usr/lib/first/a\n/usr/lib/second/a\n');
    expect(p.discard).toEqual([`${DB}/rpmdb.sqlite-shm`, `${DB}/rpmdb.sqlite-wal`, `${DB}/.rpm.lock`, '/var/lib/rpm-state/']);
    expect(p.sandboxOnly.map((f) => f.path)).toEqual(['/var/lib/rpm-state/.ostree-layer', '/run/ostree-booted']);
    expect(p.binds).toEqual([]);
  }, 120_000);

  it('gives a package its own %filetriggerin twice, as rpm does: its files, then what was installed before it', async () => {
    const own = spec('own', { fileTriggers: [{ kind: 'filetriggerin', prefixes: ['/usr/lib/'], body: 'cat' }] });
    const p = (await plan([], [spec('earlier'), own]))!;
    expect(labels(p.afterPayload)).toEqual(['own %filetriggerin -- /usr/lib/', 'own %filetriggerin -- /usr/lib/']);
    expect(p.afterPayload[0].stdin).toBe('/usr/lib/own/a\n');
    // Searched through directory names: /usr/lib64/… (libtestkit) does not start with /usr/lib/, os-release does.
    expect(p.afterPayload[1].stdin).toBe('/usr/lib/os-release\n/usr/lib/earlier/a\n');
  }, 120_000);

  it('takes the interpreter and its arguments from the header, and runs a body-less one alone', async () => {
    const p = (await plan([], [spec('interp', { scripts: { pre: { interpreter: '/usr/bin/busybox sh', body: 'echo hi' }, post: { interpreter: '/bin/true' } } })]))!;
    expect(p.beforePayload[0].argv).toEqual(['/usr/bin/busybox', 'sh', `${SCRIPT_DIR}/interp-1-1.noarch.pre`, '1']);
    expect(p.afterPayload[0].argv).toEqual(['/bin/true']);
  }, 120_000);

  it('sets RPM_INSTALL_PREFIX for a relocatable package', async () => {
    const p = (await plan([], [{ name: 'reloc', version: '1', prefixes: ['/opt/reloc'], files: [{ path: '/opt/reloc/x' }], scripts: { post: 'true' } }]))!;
    expect(p.afterPayload[0].env).toMatchObject({ RPM_INSTALL_PREFIX: '/opt/reloc', RPM_INSTALL_PREFIX0: '/opt/reloc' });
  }, 120_000);

  it('returns null when nothing runs (only scripts it never runs, an empty Lua scriptlet)', async () => {
    const quiet = spec('quiet', { scripts: { preun: 'echo bye', pretrans: 'echo early', post: { interpreter: '<lua>' } } });
    expect(await plan([], [quiet])).toBeNull();
  }, 120_000);

  it('refuses a Lua scriptlet when the tree has no rpmlua, naming the package, the scriptlet and --no-scripts', async () => {
    const lua = spec('luapkg', { scripts: { post: { interpreter: '<lua>', body: 'print(arg[2])' } } });
    const refusal = await plan([], [lua]).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(ScriptError);
    expect((refusal as Error).message).toMatch(/luapkg-1-1\.noarch %post is a Lua scriptlet and the tree has no \/usr\/bin\/rpmlua/);
    expect((refusal as Error).message).toContain('--no-scripts');
  }, 120_000);

  it('runs a Lua scriptlet through the tree\'s rpmlua, with rpm\'s numeric arg and next_file', async () => {
    const addRpmlua = async (root: string) => {
      await writeFile(join(root, RPMLUA), '#!/bin/sh\n');
      await chmod(join(root, RPMLUA), 0o755);
    };
    const lua = spec('luapkg', {
      scripts: { post: { interpreter: '<lua>', body: 'print(arg[2])' } },
      fileTriggers: [{ kind: 'transfiletriggerin', prefixes: ['/usr/lib/luapkg'], interpreter: '<lua>', body: 'print(rpm.next_file())' }],
    });
    const p = (await plan([], [lua], addRpmlua))!;
    const [post, trigger] = p.afterPayload;
    expect(post.argv).toEqual([RPMLUA, `${SCRIPT_DIR}/luapkg-1-1.noarch.post`, '1']);
    expect(script(p, post)).toBe('arg[2] = tonumber(arg[2]);print(arg[2])');
    expect(trigger.argv).toEqual([RPMLUA, `${SCRIPT_DIR}/luapkg-1-1.noarch.transfiletriggerin.0`, '0']);
    expect(script(p, trigger)).toContain('rpm.next_file = function()');
    expect(trigger.stdin).toBe('/usr/lib/luapkg/a\n');
  }, 120_000);

  it('refuses an interpreter the tree lacks; one a new package ships serves %post but not %pre', async () => {
    const shell = spec('zsh', { files: [{ path: '/usr/bin/zsh', content: '#!/bin/sh\n', mode: 0o755 }, { path: '/bin/rzsh', symlink: 'zsh' }] });
    const user = spec('user', { scripts: { pre: { interpreter: '/bin/bash', body: 'true' }, post: { interpreter: '/bin/rzsh', body: 'true' } } });
    const refusal = (await plan([], [shell, user]).catch((err: unknown) => err)) as Error;
    expect(refusal).toBeInstanceOf(ScriptError);
    expect(refusal.message).toContain('user-1-1.noarch %pre needs the interpreter /bin/bash, which is not in the tree before the payloads are unpacked');
    expect(refusal.message).not.toContain('%post');
    const fine = (await plan([], [shell, spec('user2', { scripts: { post: { interpreter: '/bin/rzsh', body: 'true' } } })]))!;
    expect(fine.afterPayload[0].argv[0]).toBe('/bin/rzsh');
  }, 120_000);

  it('refuses package triggers (new, or of a base package on a new name) and bodies rpm would macro-expand', async () => {
    const watcher = spec('watcher', { packageTriggers: [{ kind: 'triggerin', on: 'expand', body: 'true' }, { kind: 'triggerin', on: 'setup', body: 'true' }] });
    const newTrigger = spec('trig', { packageTriggers: [{ kind: 'triggerin', on: 'setup', body: 'true' }] });
    const expand = spec('expand', { scripts: { post: { body: 'echo %{_prefix}', expand: true } } });
    const refusal = (await plan([watcher], [newTrigger, expand]).catch((err: unknown) => err)) as Error;
    expect(refusal).toBeInstanceOf(ScriptError);
    expect(refusal.message.split('\n').slice(1, 4).map((l) => l.trim())).toEqual([
      'trig-1-1.noarch has a %triggerin on setup, a kind of script this tool does not run',
      'base package watcher-1-1.noarch has a %triggerin on expand, a kind of script this tool does not run',
      'expand-1-1.noarch %post: the body is macro-expanded (-e) by rpm at install time, which this tool does not do',
    ]);
  }, 120_000);
});
