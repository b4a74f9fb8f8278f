// alpm hooks: what a hook file says and which of them an install triggers.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryTree, type PackageEntry } from '@ostree-layer/core';
import { describe, expect, it } from 'vitest';
import { HookSyntaxError, parseHook, splitExec, triggeredHooks } from './hooks.js';

const hook = (trigger: string, action = 'When = PostTransaction\nExec = /usr/bin/true') => `[Trigger]\n${trigger}\n\n[Action]\nDescription = test\n${action}\n`;
const entry = (path: string, type: PackageEntry['type'] = 'file'): PackageEntry => ({ path, type, mode: 0o644, user: 'root', group: 'root', size: 0, mtime: 0 });

describe('alpm hooks', () => {
  it('splits Exec as alpm does, quotes and backslashes included', () => {
    expect(splitExec(`/bin/sh -c 'echo "a b" > /x' plain\\ word "q\\"uote"`)).toEqual(['/bin/sh', '-c', 'echo "a b" > /x', 'plain word', 'q"uote']);
    expect(() => splitExec(`/bin/sh -c 'open`)).toThrow(HookSyntaxError);
  });

  it('parses triggers and the action, refusing a hook without Exec or When', () => {
    const h = parseHook('a.hook', hook('Operation = Install\nOperation = Upgrade\nType = Path\nTarget = usr/lib/*.so*\nTarget = !usr/lib/debug/*', 'When = PreTransaction\nExec = /usr/bin/ldconfig\nNeedsTargets\nAbortOnFail'));
    expect(h).toMatchObject({ when: 'PreTransaction', exec: ['/usr/bin/ldconfig'], needsTargets: true, abortOnFail: true, triggers: [{ operations: ['Install', 'Upgrade'], type: 'Path', targets: ['usr/lib/*.so*', '!usr/lib/debug/*'] }] });
    expect(() => parseHook('b.hook', '[Trigger]\nOperation = Install\nType = Path\nTarget = *\n')).toThrow(/no \[Action\]/);
    expect(() => parseHook('c.hook', hook('Operation = Install\nType = Path\nTarget = *', 'When = Sometimes\nExec = /x'))).toThrow(/When/);
  });

  it('finds the hooks an install triggers, in name order, with their sorted targets; /etc overrides, /dev/null disables', async () => {
    const root = mkdtempSync(join(tmpdir(), 'alpm-hooks-'));
    const usr = join(root, 'usr/share/libalpm/hooks');
    const etc = join(root, 'usr/etc/pacman.d/hooks');
    mkdirSync(usr, { recursive: true });
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(usr, '20-libs.hook'), hook('Operation = Install\nType = Path\nTarget = usr/lib/*\nTarget = !usr/lib/debug/*'));
    writeFileSync(join(usr, '10-by-name.hook'), hook('Operation = Install\nType = Package\nTarget = greet*'));
    writeFileSync(join(usr, '30-removals.hook'), hook('Operation = Remove\nType = Path\nTarget = *'));
    writeFileSync(join(usr, '40-overridden.hook'), hook('Operation = Install\nType = Path\nTarget = *'));
    writeFileSync(join(etc, '40-overridden.hook'), hook('Operation = Install\nType = Path\nTarget = etc/?reet.conf'));
    writeFileSync(join(usr, '50-disabled.hook'), hook('Operation = Install\nType = Path\nTarget = *'));
    symlinkSync('/dev/null', join(etc, '50-disabled.hook'));
    // A new package's own hooks: its PostTransaction one counts (it is on disk after extraction), its Pre one not.
    const shipped = new Map([
      ['/usr/share/libalpm/hooks/60-shipped-post.hook', Buffer.from(hook('Operation = Install\nType = Package\nTarget = other'))],
      ['/usr/share/libalpm/hooks/70-shipped-pre.hook', Buffer.from(hook('Operation = Install\nType = Package\nTarget = other', 'When = PreTransaction\nExec = /usr/bin/true'))],
    ]);
    const found = await triggeredHooks(new DirectoryTree(root), [
      { name: 'greet', entries: [entry('/usr/lib', 'directory'), entry('/usr/lib/libgreet.so'), entry('/usr/lib/debug/libgreet.so.debug'), entry('/etc/greet.conf')] },
      { name: 'other', entries: [entry('/usr/lib/libother.so')] },
    ], shipped);
    expect(found.map(({ hook: h, targets }) => [h.name, targets])).toEqual([
      ['10-by-name.hook', ['greet']],
      // "usr/lib/*" matches the directory entry "usr/lib/" too, as fnmatch does for alpm.
      ['20-libs.hook', ['usr/lib/', 'usr/lib/libgreet.so', 'usr/lib/libother.so']],
      ['40-overridden.hook', ['etc/greet.conf']],
      ['60-shipped-post.hook', ['other']],
    ]);
  });
});
