import { execa } from 'execa';
/** Every real package under ../shared/fixtures/rpm against `rpm -qp --qf`; payloads checked against FILEDIGESTS. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PackageFormatError } from '@ostree-layer/core';
import { openRpm } from './package.js';
import { Tag } from './header.js';

const run = promisify(execFile);
const FIXTURES = resolve(import.meta.dirname, '../../../../shared/fixtures/rpm');
const present = existsSync(FIXTURES);
if (!present) console.warn(`skipping rpm fixture tests: ${FIXTURES} is absent (it is outside the repo, present in CI)`);

function listRpms(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? listRpms(p) : /\.rpm(-v3)?$/.test(name) ? [p] : [];
  });
}

const KINDS = ['requires', 'provides', 'conflicts', 'obsoletes', 'recommends', 'suggests', 'supplements', 'enhances'] as const;
const TAGNAME: Record<(typeof KINDS)[number], string> = {
  requires: 'REQUIRE', provides: 'PROVIDE', conflicts: 'CONFLICT', obsoletes: 'OBSOLETE', recommends: 'RECOMMEND',
  suggests: 'SUGGEST', supplements: 'SUPPLEMENT', enhances: 'ENHANCE',
};
const QF = [
  '%{NAME}\\n%{EPOCH}\\n%{VERSION}\\n%{RELEASE}\\n%{ARCH}\\n',
  '[F\\t%{FILENAMES}\\t%{FILEMODES}\\t%{FILEUSERNAME}\\t%{FILEGROUPNAME}\\t%{LONGFILESIZES}\\n]',
  ...KINDS.map((k) => `[${k}\\t%{${TAGNAME[k]}NAME}\\t%{${TAGNAME[k]}FLAGS}\\t%{${TAGNAME[k]}VERSION}\\n]`),
].join('');

async function rpmDigestsOk(file: string): Promise<boolean> {
  const r = await run('rpm', ['--dbpath', '/nonexistent', '-K', '--nosignature', file]).then((x) => x.stdout, (e) => String(e.stdout));
  return /digests OK/.test(r) && !/NOT OK/.test(r);
}

describe.skipIf(!present && !process.env.CI)('real rpm fixtures', () => {
  const files = listRpms(FIXTURES);

  it('finds the fixture packages', () => {
    expect(files.length).toBeGreaterThan(30);
  });

  it.each(files.map((f) => [f.slice(FIXTURES.length + 1), f]))('%s matches rpm -qp', async (_name, file) => {
    if (!(await rpmDigestsOk(file))) {
      // rpm itself reports a broken digest: we must refuse the package, clearly.
      await expect(openRpm(file)).rejects.toThrow(PackageFormatError);
      await expect(openRpm(file)).rejects.toThrow(/does not match|truncated|corrupt/);
      return;
    }
    const { stdout } = await execa('rpm', ['--dbpath', '/nonexistent', '-qp', '--nosignature', '--qf', QF, file], { maxBuffer: 1 << 26, encoding: 'buffer' });
    // rpm prints its text fields' bytes as they are: UTF-8 in most packages, ISO-8859 in some old ones.
    const lines = splitLines(Buffer.from(stdout)).map(decodeField).filter((l) => l !== '');
    const [name, epoch, version, release, arch] = lines;
    const pkg = await openRpm(file);
    const meta = pkg.metadata as Record<string, any>;
    expect({ name: meta.name, epoch: meta.epoch === null ? '(none)' : String(meta.epoch), version: meta.version, release: meta.release, arch: meta.arch ?? '(none)' })
      .toEqual({ name, epoch, version, release, arch });
    const rows = lines.slice(5).map((l) => l.split('\t'));
    const expectFiles = rows.filter((r) => r[0] === 'F').map(([, p, mode, user, group, size]) => ({
      // A source rpm lists its files relative ("hello.spec"); a binary one absolute. Kept as rpm lists them.
      path: p, mode: Number(mode) & 0o7777, user, group, size: (Number(mode) & 0o170000) === 0o100000 ? Number(size) : 0,
    }));
    expect(meta.files.map((f: any) => ({ path: f.path, mode: f.mode, user: f.user, group: f.group, size: f.size }))).toEqual(expectFiles);
    for (const kind of KINDS) {
      const want = rows.filter((r) => r[0] === kind).map(([, n, flags, v]) => ({ name: n, flags: Number(flags), version: v }));
      const got = meta.dependencies[kind].map((d: any) => ({ name: d.name, flags: d.flags, version: d.version ?? '' }));
      // rpm prints a version for unversioned dependencies too (empty): compare what both say.
      expect(got.map((d: any) => ({ ...d, version: d.version }))).toEqual(want.map((d) => ({ ...d, version: d.version && (d.flags & 14) ? d.version : '' })));
    }
  });

  it.each(files.filter((f) => !/corrupted/.test(f)).map((f) => [f.slice(FIXTURES.length + 1), f]))('%s payload matches the header digests', async (_name, file) => {
    const pkg = await openRpm(file, { verify: false });
    const algoNum = pkg.header.number(5011) ?? 1;
    const algo = ({ 1: 'md5', 2: 'sha1', 8: 'sha256', 9: 'sha384', 10: 'sha512' } as Record<number, string>)[algoNum];
    const digests = pkg.header.strings(Tag.FileDigests);
    const byPath = new Map(pkg.files.map((f) => [f.path, digests[f.index]]));
    let checked = 0;
    const seen: string[] = [];
    for await (const { entry, body } of pkg.payload()) {
      seen.push(entry.path);
      if (!body) continue;
      const h = createHash(algo);
      let size = 0;
      for await (const chunk of body) {
        h.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      expect(size).toBe(entry.size);
      const want = byPath.get(entry.path);
      if (want) {
        expect(h.digest('hex'), entry.path).toBe(want);
        checked++;
      }
    }
    expect(seen.sort()).toEqual(pkg.files.map((f) => f.path).sort());
    if (pkg.files.some((f) => f.type === 'file' && f.size > 0 && digests[f.index])) expect(checked).toBeGreaterThan(0);
  });
});

function splitLines(out: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  for (let start = 0; start <= out.length; ) {
    const end = out.indexOf(0x0a, start);
    lines.push(out.subarray(start, end === -1 ? out.length : end));
    if (end === -1) break;
    start = end + 1;
  }
  return lines;
}

function decodeField(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}
