/** The ledger on a real ostree repo: what a failed transaction puts back, and what a deploy keeps. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
