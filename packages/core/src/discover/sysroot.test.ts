/**
 * The deployment list read from the boot loader entries must be `ostree admin status`'s, in every state `ostree admin`
 * leaves a sysroot in: one deployment, a new default, --retain and --not-as-default, a second stateroot, an
 * undeploy. Needs root (`ostree admin deploy` writes owners and immutable bits).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeOstreeReady, makeSysroot, type Sysroot as TestSysroot } from '@ostree-layer/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBootLoaderDeployments, Sysroot, type Deployment } from './sysroot.js';

const root = process.getuid?.() === 0;
if (!root) console.warn('deployment listing tests skipped: they need root (ostree admin deploy)');

describe.skipIf(!root && !process.env.CI)('deployments read from the boot loader entries', () => {
  let work: string;
  let made: TestSysroot;
  let sysroot: Sysroot;
  let serial = 0;

  /** Commits a tiny tree (its own marker file, so a new commit) into the sysroot's repo; its checksum. */
  const commitTree = async (ref: string): Promise<string> => {
    const tree = join(work, `tree-${serial++}`);
    mkdirSync(join(tree, 'usr/lib'), { recursive: true });
    mkdirSync(join(tree, 'etc'));
    writeFileSync(join(tree, 'usr/lib/os-release'), 'ID=tiny\nNAME=tiny\n');
    writeFileSync(join(tree, 'usr/lib/marker'), `${serial}\n`);
    await makeOstreeReady(tree);
    return execFileSync('ostree', [`--repo=${made.repo}`, 'commit', `--branch=${ref}`, `--tree=dir=${tree}`, '--subject=tiny'], { encoding: 'utf8' }).trim();
  };
  const admin = (...args: string[]) => execFileSync('ostree', ['admin', args[0]!, `--sysroot=${made.sysroot}`, ...args.slice(1)], { encoding: 'utf8' });
  const shape = (ds: Deployment[] | null) => ds?.map(({ osName, commit, serial, dir, origin, booted, pending, rollback }) => ({ osName, commit, serial, dir, origin, booted, pending, rollback }));

  /** The native reading, not the fallback, agrees with `ostree admin status`. */
  const agrees = async () => {
    const native = await readBootLoaderDeployments(made.sysroot);
    expect(native, 'the boot loader entries were readable').not.toBeNull();
    const status = await sysroot.adminStatusDeployments();
    expect(shape(native)).toEqual(shape(status));
    return native!;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'ostree-layer-deployments-'));
    const tree = join(work, 'first');
    mkdirSync(join(tree, 'usr/lib'), { recursive: true });
    mkdirSync(join(tree, 'etc'));
    writeFileSync(join(tree, 'usr/lib/os-release'), 'ID=tiny\nNAME=tiny\n');
    await makeOstreeReady(tree);
    made = await makeSysroot({ treeDir: tree, osName: 'tiny', ref: 'tiny/a' });
    sysroot = new Sysroot(made.sysroot, false);
  });
  afterAll(async () => {
    await made?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  it('lists the one deployment of a new sysroot', async () => {
    const [only, ...rest] = await agrees();
    expect(rest).toEqual([]);
    expect(only!.commit).toBe(made.commit);
    expect(only!.origin.origin?.refspec).toBe('tiny/a');
  });

  it('puts a new deployment first and keeps the old one second', async () => {
    const next = await commitTree('tiny/a');
    admin('deploy', '--os=tiny', next);
    const listed = await agrees();
    expect(listed.map((d) => d.commit)).toEqual([next, made.commit]);
  });

  it('orders --retain and --not-as-default deployments as ostree does', async () => {
    admin('deploy', '--os=tiny', '--retain', await commitTree('tiny/a'));
    admin('deploy', '--os=tiny', '--retain', '--not-as-default', await commitTree('tiny/b'));
    const listed = await agrees();
    expect(listed).toHaveLength(4);
    // The same commit deployed twice gets a second serial.
    admin('deploy', '--os=tiny', '--retain', listed[0]!.commit);
    const again = await agrees();
    expect(again[0]!.commit).toBe(listed[0]!.commit);
    expect(again[0]!.serial).not.toBe(again[1]!.serial);
  });

  it('lists the deployments of a second stateroot with their own names and directories', async () => {
    admin('os-init', 'other');
    admin('deploy', '--os=other', '--retain', await commitTree('other/a'));
    const listed = await agrees();
    expect(listed[0]!.osName).toBe('other');
    expect(listed[0]!.dir).toContain('/ostree/deploy/other/deploy/');
    expect(listed.filter((d) => d.osName === 'tiny').length).toBeGreaterThan(1);
  });

  it('follows an undeploy (the boot version flips)', async () => {
    const before = await agrees();
    admin('undeploy', '1');
    const after = await agrees();
    expect(after.map((d) => d.dir)).toEqual(before.filter((_, i) => i !== 1).map((d) => d.dir));
  });

  it('marks the deployment at the booted root, and pending and rollback of its stateroot as ostree admin status does', async () => {
    const listed = await agrees();
    const tiny = listed.filter((d) => d.osName === 'tiny');
    expect(tiny.length).toBeGreaterThanOrEqual(3);
    // Booted from the second deployment of "tiny": the first is pending, the third the rollback; "other" is neither.
    const booted = await readBootLoaderDeployments(made.sysroot, tiny[1]!.dir);
    const flags = (d: Deployment) => [d.booted, d.pending, d.rollback];
    const byDir = new Map(booted!.map((d) => [d.dir, d]));
    expect(flags(byDir.get(tiny[1]!.dir)!)).toEqual([true, false, false]);
    expect(flags(byDir.get(tiny[0]!.dir)!)).toEqual([false, true, false]);
    expect(flags(byDir.get(tiny[2]!.dir)!)).toEqual([false, false, true]);
    for (const d of booted!.filter((d) => d.osName === 'other')) expect(flags(d)).toEqual([false, false, false]);
    // A root that is no deployment (composefs, overlay): not guessed, ostree admin status is asked.
    expect(await readBootLoaderDeployments(made.sysroot, work)).toBeNull();
  });

  it('leaves an entry it cannot read as ostree does to ostree admin status', async () => {
    const entries = join(made.sysroot, 'boot/loader/entries');
    const name = readdirSync(entries).find((n) => n.startsWith('ostree-'))!;
    const file = join(entries, name);
    const text = execFileSync('cat', [file], { encoding: 'utf8' });
    writeFileSync(file, text.replace(/^version .*$/m, 'version 2a'));
    try {
      expect(await readBootLoaderDeployments(made.sysroot)).toBeNull();
      expect(shape(await sysroot.deployments())).toEqual(shape(await sysroot.adminStatusDeployments()));
    } finally {
      writeFileSync(file, text);
    }
  });
});
