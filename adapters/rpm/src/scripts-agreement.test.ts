/**
 * The plan's scripts do what rpm's do: the same packages are installed once by the real `rpm -i` (scripts run by
 * rpm 4.18 in a chroot) and once by running the plan's steps in bubblewrap around an `rpm -i --noscripts
 * --notriggers` of the payloads, both over a copy of the same base. Every script logs its name, arguments,
 * RPM_INSTALL_PREFIX, PATH and standard input; the logs must match except where rpm-ostree's order deliberately
 * differs (every %pre before the payloads), and the users, directories and files the scripts made must be equal.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryTree, type LayeredPackage, type ScriptPlan } from '@ostree-layer/core';
import { buildRpm, ensureRpmBase, installRpmRoot, removeTree, runScriptStep, writePlanFiles, type RpmSpec } from '@ostree-layer/testkit';
import { openRpmDatabase } from './database.js';
import { openRpm } from './package.js';
import { planRpmScripts } from './scripts.js';

const DB = '/usr/lib/sysimage/rpm';

/** A shell body that appends one line to /log: who runs, the arguments, the environment rpm sets. */
const log = (who: string) => `echo "${who} args=[$*] P=\${RPM_INSTALL_PREFIX-} P0=\${RPM_INSTALL_PREFIX0-} PATH=$PATH" >> /log`;
/** The same for a file trigger, with its standard input on the line. */
const logTrigger = (who: string) => `echo "${who} args=[$*] stdin=[$(tr '\\n' ' ')]" >> /log`;

const WATCHER: RpmSpec = {
  name: 'watcher', version: '1', files: [{ path: '/usr/share/watcher/readme', content: 'w\n' }],
  fileTriggers: [
    { kind: 'filetriggerin', prefixes: ['/usr/lib'], body: logTrigger('watcher %filetriggerin /usr/lib') },
    { kind: 'filetriggerin', prefixes: ['/usr/share/first', '/opt'], priority: 100, body: logTrigger('watcher %filetriggerin low') },
    { kind: 'transfiletriggerin', prefixes: ['/usr/share'], body: logTrigger('watcher %transfiletriggerin /usr/share') },
  ],
};

const NEW: RpmSpec[] = [
  {
    name: 'first', version: '2.0', release: '3',
    files: [
      { path: '/usr/lib/first/lib.so', content: 'lib\n' },
      { path: '/usr/share/first/data', content: 'data\n' },
      { path: '/usr/bin/first', content: '#!/bin/sh\n', mode: 0o755 },
    ],
    scripts: {
      pre: `${log('first %pre')}\ngrep -q '^first:' /etc/group || echo 'first:x:987:' >> /etc/group\n` +
        `grep -q '^first:' /etc/passwd || echo 'first:x:987:987:first daemon:/var/lib/first:/sbin/nologin' >> /etc/passwd`,
      post: `${log('first %post')}\nmkdir -p /var/lib/first && chown first:first /var/lib/first && chmod 0750 /var/lib/first\n` +
        'echo "configured by %post" > /etc/first.conf',
      posttrans: `${log('first %posttrans')}\nrm -f /usr/share/watcher/readme`,
    },
    fileTriggers: [
      { kind: 'filetriggerin', prefixes: ['/usr/bin'], body: logTrigger('first own %filetriggerin /usr/bin') },
      { kind: 'transfiletriggerin', prefixes: ['/usr/lib/', '/opt'], priority: 5, body: logTrigger('first %transfiletriggerin') },
    ],
  },
  {
    name: 'second', version: '1', requires: ['first'], files: [{ path: '/usr/lib/second/plugin', content: 'p\n' }],
    scripts: {
      pre: { interpreter: '/usr/bin/busybox sh', body: log('second %pre via busybox sh') },
      post: { interpreter: '/bin/true' },
      posttrans: log('second %posttrans'),
    },
  },
  {
    name: 'reloc', version: '1', requires: ['second'], prefixes: ['/opt/reloc'], files: [{ path: '/opt/reloc/bin/tool', content: 't\n' }],
    scripts: { pre: log('reloc %pre'), post: log('reloc %post') },
  },
];

let work: string;
let real: string;
let planned: string;
let plan: ScriptPlan;

const rpm = (root: string, ...args: string[]) => execFileSync('rpm', ['--root', root, '--dbpath', DB, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rpm-scripts-agree-'));
  const base = (await ensureRpmBase()).rpms;
  const rpms = join(work, 'rpms');
  const watcher = await buildRpm(rpms, WATCHER);
  const added: string[] = [];
  for (const s of NEW) added.push(await buildRpm(rpms, s));
  real = join(work, 'real');
  await installRpmRoot(real, [...base, watcher]);
  planned = join(work, 'planned');
  await cp(real, planned, { recursive: true, verbatimSymlinks: true });

  // rpm's own run: the order among the three is fixed by their Requires, the same order the plan is given.
  rpm(real, '-i', ...added);

  const tree = new DirectoryTree(planned);
  const layered: LayeredPackage[] = [];
  for (const file of added) layered.push({ package: await openRpm(file), entries: [], takenOver: new Map() });
  plan = (await planRpmScripts({ tree, database: await openRpmDatabase(tree, DB), added: layered }))!;
  const files = await writePlanFiles(work, plan);
  for (const step of plan.beforePayload) runScriptStep(planned, files, step);
  rpm(planned, '-i', '--noscripts', '--notriggers', '--nodeps', ...added);
  for (const step of plan.afterPayload) runScriptStep(planned, files, step);
}, 300_000);

afterAll(async () => {
  if (work) await removeTree(work);
});

const logLines = async (root: string) => (await readFile(join(root, 'log'), 'utf8')).trimEnd().split('\n');

describe('rpm scripts run from the plan agree with rpm -i', () => {
  it('every script and trigger ran with rpm\'s arguments, environment and stdin, in rpm\'s order after the %pre phase', async () => {
    const ours = await logLines(planned);
    const theirs = await logLines(real);
    const isPre = (line: string) => / %pre/.test(line);
    expect(ours.filter(isPre)).toEqual(theirs.filter(isPre));
    expect(ours.filter((l) => !isPre(l))).toEqual(theirs.filter((l) => !isPre(l)));
    // rpm-ostree's order: all %pre first.
    expect(ours.slice(0, 3).every(isPre)).toBe(true);
    // The log has teeth: both sides saw triggers fire with paths, the relocation prefix and a body-less %post.
    expect(theirs.length).toBeGreaterThan(10);
    expect(theirs).toContain('reloc %post args=[1] P=/opt/reloc P0=/opt/reloc PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/X11R6/bin');
    expect(theirs.some((l) => l.startsWith('watcher %transfiletriggerin /usr/share args=[0] stdin=[/usr/share/first/data ]'))).toBe(true);
  });

  it('users, groups, the /var directory they own and files the scripts wrote or removed are the same', async () => {
    for (const path of ['etc/passwd', 'etc/group', 'etc/first.conf']) {
      expect(await readFile(join(planned, path), 'utf8'), path).toBe(await readFile(join(real, path), 'utf8'));
    }
    const [ours, theirs] = await Promise.all([stat(join(planned, 'var/lib/first')), stat(join(real, 'var/lib/first'))]);
    expect({ uid: ours.uid, gid: ours.gid, mode: ours.mode }).toEqual({ uid: theirs.uid, gid: theirs.gid, mode: theirs.mode });
    expect(ours.uid).toBe(987);
    await expect(stat(join(planned, 'usr/share/watcher/readme'))).rejects.toThrow();
    await expect(stat(join(real, 'usr/share/watcher/readme'))).rejects.toThrow();
  });
});
