/**
 * The activations a layered install records for dpkg, judged by the real `dpkg-trigger --no-await` on a scratch
 * admin directory holding the same `triggers/Unincorp`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deferredActivations } from './triggers.js';

const scratch = mkdtempSync(join(tmpdir(), 'dpkg-triggers-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** What dpkg-trigger leaves in Unincorp after activating `triggers` in order over `current`. */
function byDpkgTrigger(current: string, triggers: string[]): string {
  const admin = mkdtempSync(join(scratch, 'admin-'));
  mkdirSync(join(admin, 'triggers'));
  writeFileSync(join(admin, 'triggers/Unincorp'), current);
  for (const t of triggers) execFileSync('dpkg-trigger', [`--admindir=${admin}`, '--no-await', t]);
  return readFileSync(join(admin, 'triggers/Unincorp'), 'utf8');
}

describe('deferredActivations', () => {
  const cases: Array<[string, string, string[]]> = [
    ['an empty file', '', ['/usr/share/watched', 'ldconfig']],
    ['triggers already deferred, awaited or not', 'ldconfig libfoo\n/usr/share/x -\nman-db libbar libbaz\n', ['/usr/share/watched', 'ldconfig', '/usr/share/x', 'man-db']],
    ['the same trigger twice', 'ldconfig -\n', ['ldconfig', 'ldconfig', '/usr/lib/x86_64-linux-gnu']],
  ];
  for (const [what, current, triggers] of cases) {
    it(`writes what dpkg-trigger --no-await writes: ${what}`, async () => {
      const ours = deferredActivations(current, triggers);
      expect(ours).toBe(byDpkgTrigger(current, triggers));
      // And every activation is there for dpkg to incorporate.
      for (const t of triggers) expect(ours).toMatch(new RegExp(`^${t.replace(/[/.]/g, '\\$&')} -( |$)`, 'm'));
    });
  }
});
