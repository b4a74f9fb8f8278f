import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRpm, ensureRpmBase, findTamperedObject, makeSysroot, RPM_BASE_REF, type RpmBase, type Sysroot } from './index.js';
import { isRoot } from './run.js';

const rpmq = async (file: string, ...args: string[]) => (await execa('rpm', ['-qp', ...args, file])).stdout.trim();

describe('buildRpm', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'testkit-rpm-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes the identity, relations and scriptlets the spec names', async () => {
    const file = await buildRpm(dir, {
      name: 'hello',
      version: '2.10',
      release: '3.fc40',
      epoch: 2,
      arch: 'x86_64',
      requires: ['libfoo.so.1()(64bit)', 'bash >= 5.0'],
      provides: ['hello-virtual = 2.10', 'libhello.so.1()(64bit)'],
      conflicts: ['hello-old < 2'],
      obsoletes: ['hello-legacy'],
      recommends: ['hello-doc'],
      files: [{ path: '/usr/bin/hello', content: '#!/bin/sh\necho 100%\n', mode: 0o755 }],
      scripts: { post: 'echo "post 100%"' },
    });
    expect(basename(file)).toBe('hello-2.10-3.fc40.x86_64.rpm');
    expect(await rpmq(file, '--qf', '%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}')).toBe('hello|2|2.10|3.fc40|x86_64');
    const requires = (await rpmq(file, '--requires')).split('\n');
    expect(requires).toEqual(expect.arrayContaining(['libfoo.so.1()(64bit)', 'bash >= 5.0']));
    const provides = (await rpmq(file, '--provides')).split('\n');
    expect(provides).toEqual(expect.arrayContaining(['hello-virtual = 2.10', 'libhello.so.1()(64bit)', 'hello = 2:2.10-3.fc40', 'hello(x86-64) = 2:2.10-3.fc40']));
    expect(await rpmq(file, '--conflicts')).toBe('hello-old < 2');
    expect(await rpmq(file, '--obsoletes')).toBe('hello-legacy');
    expect(await rpmq(file, '--recommends')).toBe('hello-doc');
    expect(await rpmq(file, '--scripts')).toContain('echo "post 100%"');
  });

  it('records modes, owners, symlinks, %config and %ghost as rpm reads them', async () => {
    const file = await buildRpm(dir, {
      name: 'files',
      version: '1',
      files: [
        { path: '/usr/bin/tool', content: 'x', mode: 0o4755, user: 'root', group: 'wheel' },
        { path: '/usr/bin/tool-link', symlink: 'tool' },
        { path: '/etc/tool.conf', content: 'a=1\n', config: 'noreplace' },
        { path: '/etc/tool.d', dir: true, mode: 0o750 },
        { path: '/var/log/tool.log', ghost: true, mode: 0o640 },
      ],
    });
    const rows = await rpmq(file, '--qf', '[%{FILENAMES}|%{FILEMODES:perms}|%{FILEUSERNAME}:%{FILEGROUPNAME}|%{FILEFLAGS:fflags}|%{FILELINKTOS}\\n]');
    expect(rows.split('\n').sort()).toEqual(
      [
        '/etc/tool.conf|-rw-r--r--|root:root|cn|',
        '/etc/tool.d|drwxr-x---|root:root||',
        '/usr/bin/tool|-rwsr-xr-x|root:wheel||',
        '/usr/bin/tool-link|lrwxrwxrwx|root:root||tool',
        '/var/log/tool.log|-rw-r-----|root:root|g|',
      ].sort(),
    );
    // The ghost has no body in the payload: rpm2archive's tar holds everything else.
    const { stdout } = await execa('sh', ['-c', `rpm2archive - < '${file}' | tar -tz`]);
    expect(stdout.split('\n').sort()).toEqual(['./etc/tool.conf', './etc/tool.d/', './usr/bin/tool', './usr/bin/tool-link']);
  });

  it('uses the payload compressor asked for, and equal specs give equal files', async () => {
    for (const [compression, tag] of [['gzip', 'gzip'], ['xz', 'xz'], ['zstd', 'zstd'], ['bzip2', 'bzip2']] as const) {
      const sub = join(dir, compression);
      const file = await buildRpm(sub, { name: 'c', version: '1', compression, files: [{ path: '/usr/share/c/data', content: 'data\n' }] });
      expect(await rpmq(file, '--qf', '%{PAYLOADCOMPRESSOR}')).toBe(tag);
    }
    const spec = { name: 'same', version: '1', files: [{ path: '/usr/share/same', content: 'same\n' }] };
    const a = await execa('sha256sum', [await buildRpm(join(dir, 'a'), spec)]);
    const b = await execa('sha256sum', [await buildRpm(join(dir, 'b'), spec)]);
    expect(a.stdout.split(' ')[0]).toBe(b.stdout.split(' ')[0]);
  });

  it('refuses a path that climbs out of the package', async () => {
    await expect(buildRpm(dir, { name: 'bad', version: '1', files: [{ path: '/usr/../../etc/x' }] })).rejects.toThrow(/bad file path/);
  });
});

const root = isRoot();
if (!root) console.warn('testkit RPM base tests skipped: they need root (rpm --root, ostree admin deploy)');

describe.skipIf(!root && !process.env.CI)('RPM base deployed into a throwaway sysroot', () => {
  let base: RpmBase;
  let sysroot: Sysroot;
  let deployment: string;
  beforeAll(async () => {
    const started = performance.now();
    base = await ensureRpmBase();
    console.log(`ensureRpmBase: ${Math.round(performance.now() - started)} ms`);
    sysroot = await makeSysroot({ base });
    console.log(`makeSysroot (rpm base): ${Math.round(sysroot.setupMs)} ms`);
    deployment = sysroot.deploymentDir();
  });
  afterAll(() => sysroot?.dispose());

  it('has a database the real rpm reads at /usr/lib/sysimage/rpm', async () => {
    const { stdout } = await execa('rpm', ['--dbpath', join(deployment, 'usr/lib/sysimage/rpm'), '-qa', '--qf', '%{NEVRA}\\n']);
    expect(stdout.trim().split('\n').sort()).toEqual([
      'busybox-1:1.35.0-1.x86_64',
      'filesystem-3.18-1.x86_64',
      'libtestkit-1.2.0-3.x86_64',
      'setup-2.14.3-2.noarch',
    ]);
    expect(base.ref).toBe(RPM_BASE_REF);
    expect(base.rpms.map((f) => basename(f)).sort()).toEqual([
      'busybox-1.35.0-1.x86_64.rpm',
      'filesystem-3.18-1.x86_64.rpm',
      'libtestkit-1.2.0-3.x86_64.rpm',
      'setup-2.14.3-2.noarch.rpm',
    ]);
  });

  it('matches its database: rpm --verify finds every file with the recorded digest and mode', async () => {
    const result = await execa('rpm', ['--root', deployment, '--dbpath', '/usr/lib/sysimage/rpm', '-Va', '--nomtime'], { reject: false });
    // Only /var may be reported missing: ostree never deploys it from the commit (the %ghost lives there too).
    const problems = result.stdout.split('\n').filter((l) => l.trim() !== '' && !/^missing\s+\/var(\/|$)/.test(l));
    expect(problems).toEqual([]);
  });

  it('runs its static busybox shell in a chroot', async () => {
    const { stdout } = await execa('chroot', [deployment, '/bin/sh', '-c', 'echo hello from $(cat /etc/os-release | grep ^ID=)']);
    expect(stdout).toBe('hello from ID=testkit-rpm');
  });

  it('notices a deployment file written in place (it is a hardlink into the cache)', async () => {
    // A private cache, so the shared one is never damaged by this test.
    const cacheDir = await mkdtemp(join(tmpdir(), 'testkit-cache-'));
    try {
      const privateBase = await ensureRpmBase({ cacheDir });
      const victim = await makeSysroot({ base: privateBase });
      try {
        expect(await findTamperedObject(privateBase.repo)).toBeNull();
        await appendFile(join(victim.deploymentDir(), 'usr/lib/os-release'), 'TAMPERED=1\n');
        expect(await findTamperedObject(privateBase.repo)).toMatch(/\.file$/);
      } finally {
        await victim.dispose();
      }
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
    expect(existsSync(cacheDir)).toBe(false);
  });
});
