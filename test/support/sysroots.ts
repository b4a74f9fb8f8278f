/** Throwaway sysroots for a test file, disposed for it: one pool instead of an array and hooks in every e2e file. */
import { afterAll, afterEach } from 'vitest';
import { makeSysroot, type Sysroot, type SysrootOptions } from '@ostree-layer/testkit';

/**
 * Registers the hooks that dispose what the returned function makes: after each test (`'each'`, for files whose tests
 * make their own sysroots) or once the whole file is done (`'all'`). Call it at the top level of a test file.
 */
export function sysrootPool(disposeAfter: 'each' | 'all' = 'each'): (options: SysrootOptions) => Promise<Sysroot> {
  const made: Sysroot[] = [];
  const disposeAll = async () => {
    while (made.length > 0) await made.pop()!.dispose();
  };
  if (disposeAfter === 'each') afterEach(disposeAll);
  afterAll(disposeAll);
  return async (options) => {
    const s = await makeSysroot(options);
    made.push(s);
    return s;
  };
}
