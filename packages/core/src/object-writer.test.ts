import { execFileSync, spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { PackageFormatError } from './errors.js';
import { DEFAULT_DIR, LayerTar, type DirMeta } from './import/layer-tar.js';
import { ObjectWriter } from './object-writer.js';

// Needs root (owners other than root's in a bare repo). The judge is ostree itself: the same calls made into a
// LayerTar and committed by `ostree commit --tree=tar=-` must give the same commit checksum, and fsck must pass.
const work = mkdtempSync(join(tmpdir(), 'object-writer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Sink = Pick<LayerTar, 'directory' | 'file' | 'symlink' | 'hardlink'>;

function newRepo(): string {
  const repo = join(work, `repo-${Math.random().toString(36).slice(2)}`);
  execFileSync('ostree', ['init', `--repo=${repo}`, '--mode=bare']);
  return repo;
}

const implicit = async (path: string): Promise<DirMeta> => (path === '/usr/lib' ? { mode: 0o700, uid: 0, gid: 50 } : DEFAULT_DIR);

/** A layer touching every shape: modes, owners, empty and large files, links, sorting, wide directories. */
async function fill(sink: Sink, wide: number): Promise<void> {
  await sink.directory('/', DEFAULT_DIR);
  await sink.directory('/usr/share/doc', { mode: 0o2775, uid: 0, gid: 1001 });
  await sink.file('/usr/bin/su', { mode: 0o4755, uid: 0, gid: 0 }, 5, 'su me');
  await sink.file('/usr/bin/empty', { mode: 0o644, uid: 0, gid: 0 }, 0, '');
  await sink.file('/usr/lib/owned', { mode: 0o640, uid: 1000, gid: 1001 }, 4, Buffer.from('mine'));
  const big = Buffer.alloc(3 << 20, 7);
  big.write('a large file, written as it streams', 1000);
  await sink.file('/usr/lib/big.so', { mode: 0o755, uid: 0, gid: 0 }, big.length, Readable.from([big.subarray(0, 1 << 20), big.subarray(1 << 20)]));
  await sink.symlink('/usr/bin/link', { mode: 0o777, uid: 0, gid: 0 }, 'su');
  await sink.symlink('/usr/bin/dangling', { mode: 0o777, uid: 7, gid: 8 }, '/nowhere/at/all');
  await sink.hardlink('/usr/bin/su-again', { mode: 0o4755, uid: 0, gid: 0 }, '/usr/bin/su');
  for (const name of ['zeta', 'Alpha', 'émile', 'a', 'a-b', 'a.b', '_x']) await sink.file(`/usr/share/names/${name}`, { mode: 0o644, uid: 0, gid: 0 }, Buffer.byteLength(name), name);
  for (let i = 0; i < wide; i++) {
    if (i % 4 === 0) await sink.directory(`/usr/share/wide/d-${i}`, { mode: 0o755, uid: 0, gid: 0 });
    else await sink.file(`/usr/share/wide/file-with-a-longer-name-${i}`, { mode: 0o644, uid: 0, gid: 0 }, String(i).length, String(i));
  }
}

async function viaOstree(repo: string, wide: number, branch: string, subject: string): Promise<string> {
  const tar = new LayerTar(implicit);
  const out = ostreeWithInput([`--repo=${repo}`, 'commit', `--branch=${branch}`, `--subject=${subject}`, '--tree=tar=-'], tar.stream);
  await fill(tar, wide);
  tar.finalize();
  return out;
}

function ostreeWithInput(args: string[], input: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ostree', args, { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    input.pipe(child.stdin);
    child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`ostree exited ${code}`))));
  });
}

/** The commit's timestamp, as ostree wrote it. */
function timestampOf(repo: string, commit: string): number {
  const raw = execFileSync('ostree', [`--repo=${repo}`, 'show', '--raw', commit], { encoding: 'utf8' });
  return Number(/uint64 (\d+)/.exec(raw)![1]);
}

describe('ObjectWriter', () => {
  it.each([10, 400])('writes the commit ostree writes for the same layer, byte for byte (%i-entry directory)', async (wide) => {
    const repo = newRepo();
    const expected = await viaOstree(repo, wide, 'layer/expected', 'a layer');
    const writer = new ObjectWriter(repo, implicit);
    await fill(writer, wide);
    const ours = writer.finish({ subject: 'a layer', branch: 'layer/expected', timestamp: timestampOf(repo, expected) });
    expect(ours).toBe(expected);
    // Its objects are ostree's: a second repo holding only ours passes fsck, and a checkout reads back the content.
    const alone = newRepo();
    const mine = new ObjectWriter(alone, implicit);
    await fill(mine, wide);
    const commit = mine.finish({ subject: 'alone' });
    execFileSync('ostree', [`--repo=${alone}`, 'refs', `--create=mine`, commit]);
    execFileSync('ostree', [`--repo=${alone}`, 'fsck'], { stdio: 'pipe' });
    const out = join(work, `co-${wide}`);
    execFileSync('ostree', [`--repo=${alone}`, 'checkout', commit, out]);
    expect(execFileSync('cat', [join(out, 'usr/bin/su-again')], { encoding: 'utf8' })).toBe('su me');
    expect(lstatSync(join(out, 'usr/lib/big.so')).size).toBe(3 << 20);
    const su = lstatSync(join(out, 'usr/bin/su'));
    expect([su.mode & 0o7777, su.mtimeMs]).toEqual([0o4755, 0]);
    // Nothing left behind in the repo's tmp.
    expect(readdirSync(join(alone, 'tmp')).filter((n) => n.startsWith('ostree-layer-'))).toEqual([]);
  });

  it('refuses a layer where one path is a file and a directory, naming the package', async () => {
    const writer = new ObjectWriter(newRepo(), implicit, '/tmp/bad.deb');
    await writer.file('/usr/x', { mode: 0o644, uid: 0, gid: 0 }, 1, 'x');
    await expect(writer.directory('/usr/x/y', DEFAULT_DIR)).rejects.toThrow(PackageFormatError);
    await expect(writer.file('/usr/x/y', DEFAULT_DIR, 1, 'y')).rejects.toThrow(/bad\.deb.*\/usr\/x.*file and a directory/);
    const other = new ObjectWriter(newRepo(), implicit, '/tmp/bad.deb');
    await other.directory('/usr/d', DEFAULT_DIR);
    await expect(other.file('/usr/d', DEFAULT_DIR, 1, 'd')).rejects.toThrow(/\/usr\/d is both a directory and a file/);
  });

  it('removes the file being written when stopped halfway', async () => {
    const repo = newRepo();
    const writer = new ObjectWriter(repo, implicit);
    await writer.beginFile('/usr/lib/huge', { mode: 0o644, uid: 0, gid: 0 }, 4 << 20);
    writer.write(Buffer.alloc(2 << 20));
    expect(readdirSync(join(repo, 'tmp')).some((n) => n.startsWith('ostree-layer-object-'))).toBe(true);
    writer.destroy();
    expect(readdirSync(join(repo, 'tmp')).filter((n) => n.startsWith('ostree-layer-'))).toEqual([]);
  });
});
