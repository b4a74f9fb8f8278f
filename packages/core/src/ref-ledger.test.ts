/** The ledger on a real ostree repo: what a failed transaction puts back, and what a deploy keeps. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolError } from './errors.js';
import { OstreeRepo } from './ostree.js';
import { RefLedger } from './ref-ledger.js';

let dir: string;
let repo: OstreeRepo;
const commits: string[] = [];
const ostree = (...args: string[]) => execFileSync('ostree', [`--repo=${repo.path}`, ...args], { encoding: 'utf8' }).trim();
const refs = () => ostree('refs').split('\n').filter(Boolean).sort().map((r) => `${r} ${ostree('rev-parse', r)}`);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ref-ledger-'));
  repo = new OstreeRepo(join(dir, 'repo'));
  ostree('init', '--mode=bare-user-only');
  for (const n of [1, 2]) {
    const tree = join(dir, `tree${n}`);
    mkdirSync(tree);
    writeFileSync(join(tree, 'f'), `${n}\n`);
    commits.push(ostree('commit', '--orphan', `--tree=dir=${tree}`));
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('RefLedger', () => {
  it('takes back created refs and points moved ones at their old commit; refs it never noted stay', async () => {
    const [one, two] = commits as [string, string];
    ostree('refs', `--create=kept/moved`, one);
    ostree('refs', `--create=other/untouched`, one);
    const before = refs();
    const ledger = new RefLedger(repo);
    await ledger.setRef('kept/moved', two);
    await ledger.setRef('new/one', two);
    await ledger.setRef('new/one', one);
    ledger.note('new/two', null);
    ostree('refs', '--create=new/two', two);
    expect(refs()).not.toEqual(before);
    await Promise.all([ledger.takeBack(), ledger.takeBack()]);
    ledger.close();
    expect(refs()).toEqual(before);
  });

  it('keeps everything once settled (the deploy made the refs part of a deployment)', async () => {
    const ledger = new RefLedger(repo);
    await ledger.setRef('held/base', commits[0]!);
    ledger.settle();
    await ledger.takeBack();
    ledger.close();
    expect(ostree('rev-parse', 'held/base')).toBe(commits[0]);
  });
});

describe('OstreeRepo.setRef', () => {
  it('writes refs ostree reads as its own, moves them, and leaves no temp file behind', async () => {
    const [one, two] = commits as [string, string];
    await repo.setRef('direct/a-1.0_x86_64', one);
    expect(ostree('rev-parse', 'direct/a-1.0_x86_64')).toBe(one);
    await repo.setRef('direct/a-1.0_x86_64', two);
    expect(ostree('rev-parse', 'direct/a-1.0_x86_64')).toBe(two);
    expect(ostree('refs', '--list', 'direct')).toBe('direct/a-1.0_x86_64');
    ostree('refs', '--delete', 'direct/a-1.0_x86_64');
    expect(ostree('refs', '--list', 'direct')).toBe('');
    expect(readdirSync(join(repo.path, 'tmp')).filter((n) => n.startsWith('ostree-layer-ref-'))).toEqual([]);
  });

  it('leaves what it cannot write itself to ostree, which refuses it with its reason', async () => {
    const [one] = commits as [string, string];
    await expect(repo.setRef('bad name', one)).rejects.toThrow(ToolError);
    // A ref where a ref directory is: ostree names the clash.
    await repo.setRef('clash/inner', one);
    await expect(repo.setRef('clash', one)).rejects.toThrow(ToolError);
    expect(ostree('refs', '--list', 'direct')).toBe('');
  });

  it('lists refs under a prefix as ostree refs --list does', async () => {
    const [one] = commits as [string, string];
    for (const ref of ['list/a', 'list/b/c', 'list/b/d-1.0', 'listed-not/x']) await repo.setRef(ref, one);
    expect(await repo.listRefs('list')).toEqual(ostree('refs', '--list', 'list').split('\n').sort());
    expect(await repo.listRefs('list')).toEqual(['list/a', 'list/b/c', 'list/b/d-1.0']);
    expect(await repo.listRefs('nothing-here')).toEqual([]);
  });
});
