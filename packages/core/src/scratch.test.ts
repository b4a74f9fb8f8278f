import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { expect, it } from 'vitest';
import { removeStaleScratch, scratchDir, setTransactionScratch, tempDir } from './scratch.js';

it("removes scratch directories of dead processes and keeps a live one's", async () => {
  const repo = mkdtempSync(join(tmpdir(), 'scratch-'));
  mkdirSync(join(repo, 'tmp'));
  const mine = await scratchDir(repo, 'origin');
  expect(basename(mine)).toMatch(new RegExp(`^ostree-layer-origin-${process.pid}-`));
  const deadPid = spawnSync('true').pid!; // exited by now
  const stale = join(repo, 'tmp', `ostree-layer-prefetch-${deadPid}-abc123`);
  const foreign = join(repo, 'tmp', 'staging-of-ostree-itself');
  mkdirSync(stale);
  mkdirSync(foreign);
  await removeStaleScratch(repo);
  expect(existsSync(stale)).toBe(false);
  expect(existsSync(mine)).toBe(true);
  expect(existsSync(foreign)).toBe(true);
});

it("puts a backend's temp directory under the running transaction's scratch, else in the system temp directory", async () => {
  const repo = mkdtempSync(join(tmpdir(), 'scratch-'));
  mkdirSync(join(repo, 'tmp'));
  const outside = await tempDir('rpmdb');
  expect(outside.startsWith(join(tmpdir(), 'ostree-layer-rpmdb-'))).toBe(true);
  setTransactionScratch(repo);
  try {
    const inside = await tempDir('rpmdb');
    expect(inside.startsWith(join(repo, 'tmp', `ostree-layer-rpmdb-${process.pid}-`))).toBe(true);
  } finally {
    setTransactionScratch(undefined);
    rmSync(repo, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
  await expect(tempDir('rpm-db')).rejects.toThrow(TypeError);
});
