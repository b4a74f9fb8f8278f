import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifySystemError, DiskFullError, SystemStateError, UsageError } from './errors.js';

/** The error a real file-system call throws. */
function thrownBy(call: () => unknown): unknown {
  try {
    call();
  } catch (err) {
    return err;
  }
  throw new Error('the call did not fail');
}

describe('classifySystemError', () => {
  it('names faults of the machine and of the input instead of leaving them to "internal error"', () => {
    const dir = mkdtempSync(join(tmpdir(), 'classify-'));
    expect(classifySystemError(thrownBy(() => readFileSync(dir)))).toBeInstanceOf(UsageError);

    const readOnly = mkdtempSync(join(tmpdir(), 'classify-ro-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly]);
    try {
      const erofs = classifySystemError(thrownBy(() => writeFileSync(join(readOnly, 'x'), 'x')));
      expect(erofs).toBeInstanceOf(SystemStateError);
      expect((erofs as Error).message).toMatch(new RegExp(`${readOnly}/x is read-only.*remount it read-write`));
    } finally {
      execFileSync('umount', [readOnly]);
    }

    const full = mkdtempSync(join(tmpdir(), 'classify-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]);
    try {
      const enospc = classifySystemError(thrownBy(() => writeFileSync(join(full, 'x'), Buffer.alloc(1 << 20))));
      expect(enospc).toBeInstanceOf(DiskFullError);
    } finally {
      execFileSync('umount', [full]);
    }

    // Root is refused a write only where the file itself forbids it: an immutable file (EPERM).
    const immutable = join(dir, 'immutable');
    writeFileSync(immutable, 'x');
    execFileSync('chattr', ['+i', immutable]);
    try {
      const eperm = classifySystemError(thrownBy(() => writeFileSync(immutable, 'y')));
      expect(eperm).toBeInstanceOf(SystemStateError);
      expect((eperm as Error).message).toContain(`permission denied on ${immutable}`);
    } finally {
      execFileSync('chattr', ['-i', immutable]);
    }

    const bug = new TypeError('x is undefined');
    expect(classifySystemError(bug)).toBe(bug);
  });
});
