/**
 * Lua scriptlets: rpm runs them inside itself; the plan runs them with the tree's own /usr/bin/rpmlua. Here the tree
 * gets an rpmlua (the machine's rpm 4.18 build with its libraries, packaged with rpmbuild into the base) and the same
 * Lua package is installed once by the real `rpm -i` and once from the plan; what the scriptlets saw (the count
 * argument and its Lua type, the install prefix table, the paths a file trigger reads with rpm.next_file) must match.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryTree, type LayeredPackage } from '@ostree-layer/core';
import { buildRpm, ensureRpmBase, installRpmRoot, removeTree, runScriptStep, writePlanFiles, type RpmFileSpec, type RpmSpec } from '@ostree-layer/testkit';
import { openRpmDatabase } from './database.js';
import { openRpm } from './package.js';
import { RPMLUA, planRpmScripts } from './scripts.js';

const DB = '/usr/lib/sysimage/rpm';

/** Appends one line to /lua.log: what rpm's Lua environment gave the scriptlet. */
const LUA_LOG = (who: string) => `local f = io.open('/lua.log', 'a')
f:write('${who} arg2=' .. tostring(arg[2]) .. ' type=' .. math.type(arg[2]) .. ' prefix=' .. tostring(RPM_INSTALL_PREFIX and RPM_INSTALL_PREFIX[1]) .. '\\n')
f:close()`;

const LUA_TRIGGER_LOG = (who: string) => `local paths = {}
local path = rpm.next_file()
while path do paths[#paths + 1] = path; path = rpm.next_file() end
local f = io.open('/lua.log', 'a')
f:write('${who} arg2=' .. tostring(arg[2]) .. ' paths=' .. table.concat(paths, ',') .. '\\n')
f:close()`;

const LUA_PACKAGE: RpmSpec = {
  name: 'luapkg', version: '1', prefixes: ['/opt/luapkg'],
  files: [{ path: '/opt/luapkg/lib/one', content: '1\n' }, { path: '/opt/luapkg/lib/two', content: '2\n' }],
  scripts: {
    post: { interpreter: '<lua>', body: LUA_LOG('%post') },
    posttrans: { interpreter: '<lua>', body: LUA_LOG('%posttrans') },
  },
  fileTriggers: [{ kind: 'transfiletriggerin', prefixes: ['/opt/luapkg/lib'], interpreter: '<lua>', body: LUA_TRIGGER_LOG('%transfiletriggerin') }],
};

/** The machine's rpmlua and every library ldd names, as files of a package for the test base. */
async function rpmluaPackage(): Promise<RpmSpec> {
  const libraries = execFileSync('ldd', [RPMLUA], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /(\/\S+) \(0x/.exec(line)?.[1])
    .filter((path): path is string => path !== undefined);
  const files: RpmFileSpec[] = [{ path: RPMLUA, source: RPMLUA, mode: 0o755 }];
  for (const library of libraries) {
    // The loader is found at /lib64 (a symlink to usr/lib64 in the base), the rest in the multiarch directory.
    const path = library.startsWith('/lib64/') ? `/usr${library}` : `/usr/lib/x86_64-linux-gnu/${basename(library)}`;
    files.push({ path, source: await realpath(library), mode: 0o755 });
  }
  for (const config of ['/usr/lib/rpm/rpmrc', '/usr/lib/rpm/macros']) files.push({ path: config, source: config });
  return { name: 'rpmlua-host', version: '4.18', arch: 'x86_64', files };
}

let work: string;
let real: string;
let planned: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rpm-scripts-lua-'));
  const rpms = join(work, 'rpms');
  const rpmlua = await buildRpm(rpms, await rpmluaPackage());
  const luapkg = await buildRpm(rpms, LUA_PACKAGE);
  real = join(work, 'real');
  await installRpmRoot(real, [...(await ensureRpmBase()).rpms, rpmlua]);
  planned = join(work, 'planned');
  await cp(real, planned, { recursive: true, verbatimSymlinks: true });
  execFileSync('rpm', ['--root', real, '--dbpath', DB, '-i', luapkg], { stdio: 'ignore' });

  const tree = new DirectoryTree(planned);
  const added: LayeredPackage[] = [{ package: await openRpm(luapkg), entries: [], takenOver: new Map() }];
  const plan = (await planRpmScripts({ tree, database: await openRpmDatabase(tree, DB), added }))!;
  const files = await writePlanFiles(work, plan);
  for (const step of plan.beforePayload) runScriptStep(planned, files, step);
  execFileSync('rpm', ['--root', planned, '--dbpath', DB, '-i', '--noscripts', '--notriggers', '--nodeps', luapkg], { stdio: 'ignore' });
  for (const step of plan.afterPayload) runScriptStep(planned, files, step);
}, 300_000);

afterAll(async () => {
  if (work) await removeTree(work);
});

describe('Lua scriptlets through the tree\'s rpmlua', () => {
  it('see what rpm\'s built-in Lua gives them: a numeric count, the prefix table, next_file over stdin', async () => {
    const theirs = await readFile(join(real, 'lua.log'), 'utf8');
    expect(theirs).toBe(
      '%post arg2=1 type=integer prefix=/opt/luapkg\n%posttrans arg2=1 type=integer prefix=/opt/luapkg\n' +
      '%transfiletriggerin arg2=0 paths=/opt/luapkg/lib/one,/opt/luapkg/lib/two\n',
    );
    expect(await readFile(join(planned, 'lua.log'), 'utf8')).toBe(theirs);
  });
});
