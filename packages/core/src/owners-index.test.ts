import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOwnersIndex, OwnersIndex, type OwnedList } from './owners-index.js';

const libc = { name: 'libc6', version: '2.36-9', arch: 'amd64' };
const base = { name: 'base-files', version: '12.4', arch: 'amd64' };
const lists: OwnedList[] = [
  { id: libc, paths: ['/.', '/usr', '/usr/lib', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/etc/ld.so.conf.d/x.conf'] },
  { id: base, paths: ['/.', '/usr', '/etc/debian_version', '/usr/share/ümlaut', '/usr/share/\u{1F600}', '/usr/share/\uFFFD'] },
];

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('the dpkg owners index', () => {
  it('finds every listed path with all its owners, and nothing else', async () => {
    const index = OwnersIndex.parse(OwnersIndex.build(lists))!;
    for (const { id, paths } of lists) for (const path of paths.filter((p) => p !== '/.')) expect(await index.lookup(path), path).toContainEqual(id);
    expect(await index.lookup('/usr')).toEqual([libc, base]);
    // Non-BMP and high-BMP characters sort differently in UTF-16 and UTF-8: the search must agree with the build.
    expect(await index.lookup('/usr/share/\u{1F600}')).toEqual([base]);
    expect(await index.lookup('/usr/share/\uFFFD')).toEqual([base]);
    for (const missing of ['/.', '/', '/usr/lib/x86_64-linux-gnu', '/usr/share/umlaut', '/zzz', '/a', '/usr/lib0']) expect(await index.lookup(missing), missing).toBeUndefined();
  });

  it('answers lookups over thousands of paths as a map would, from memory and from the file', async () => {
    const many: OwnedList[] = Array.from({ length: 50 }, (_, n) => ({
      id: { name: `p${n}`, version: '1', arch: 'all' },
      paths: Array.from({ length: 200 }, (_, f) => `/usr/share/p${n % 7}/${(f * 7919) % 1000}`),
    }));
    const index = OwnersIndex.parse(OwnersIndex.build(many))!;
    const truth = new Map<string, string[]>();
    for (const { id, paths } of many) for (const p of paths) if (!truth.get(p)?.includes(id.name)) truth.set(p, [...(truth.get(p) ?? []), id.name]);
    for (const [path, names] of truth) expect((await index.lookup(path))?.map((p) => p.name), path).toEqual(names);
    expect(await index.lookup('/usr/share/p7/1')).toBeUndefined();
    // From the file: the header, then only the blocks the asked paths fall in.
    const dir = await mkdtemp(join(tmpdir(), 'owners-index-'));
    dirs.push(dir);
    await writeFile(join(dir, 'index'), OwnersIndex.build(many));
    const fromFile = OwnersIndex.open(join(dir, 'index'))!;
    const asked = [...truth.keys(), '/usr/share/p7/1', '/', '/zzz'];
    const answers = await fromFile.ownersOf(asked);
    expect(answers.size).toBe(truth.size);
    for (const [path, names] of truth) expect(answers.get(path)?.map((p) => p.name), path).toEqual(names);
  });

  it('keeps owners in list order past nine packages, once each, apart from paths that begin the same', async () => {
    // Paths that are prefixes of each other, a package listing a path twice, and package numbers of one and two digits.
    const shared = ['/p', '/p-x', '/p/x', '/p\u00e9', '/p\u{1F600}', '/p\uFF01'];
    const many: OwnedList[] = Array.from({ length: 12 }, (_, n) => ({
      id: { name: `q${n}`, version: '1', arch: 'all' },
      paths: ['/.', ...shared.filter((_, i) => (n + i) % 3 !== 0), `/own/${n}`, `/own/${n}`, ...(n % 4 === 0 ? ['/p'] : [])],
    }));
    const index = OwnersIndex.parse(OwnersIndex.build(many))!;
    for (const path of [...shared, '/own/3', '/own/11']) {
      const expected = many.filter((l) => l.paths.includes(path)).map((l) => l.id.name);
      expect((await index.lookup(path))?.map((p) => p.name), path).toEqual(expected);
    }
    expect(await index.lookup('/own/1')).toEqual([many[1]!.id]);
    expect(await index.lookup('/p/')).toBeUndefined();
  });

  it('refuses a file that is not an index, and rebuilds over it', async () => {
    expect(OwnersIndex.parse(Buffer.from('something else\n'))).toBeNull();
    const truncated = OwnersIndex.build(lists);
    expect(OwnersIndex.parse(truncated.subarray(0, truncated.length - 3))).toBeNull();
    // An index of the earlier format (one file read whole) is not one either: it is rebuilt.
    expect(OwnersIndex.parse(Buffer.from('ostree-layer owners 1\n0\n'))).toBeNull();
    const dir = await mkdtemp(join(tmpdir(), 'owners-index-'));
    dirs.push(dir);
    const cache = join(dir, 'dpkg-owners-abc');
    await writeFile(cache, 'garbage');
    let reads = 0;
    const read = async () => {
      reads++;
      return lists;
    };
    expect(await (await loadOwnersIndex(cache, read)).lookup('/etc/debian_version')).toEqual([base]);
    expect(reads).toBe(1);
    expect((await readFile(cache)).equals(OwnersIndex.build(lists))).toBe(true);
    // The next transaction reads the file and not the lists.
    expect(await (await loadOwnersIndex(cache, read)).lookup('/usr/lib')).toEqual([libc]);
    expect(reads).toBe(1);
  });
});
