/** The cpio reader on streams written here: newc, rpm's stripped "07070X" variant, partial reads, bad input. */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { PackageFormatError } from '@ostree-layer/core';
import { readCpio } from './cpio.js';

const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

function newc(name: string, body: Buffer, mode = 0o100644): Buffer {
  const fields = [1, mode, 0, 0, 1, 1700000000, body.length, 0, 0, 0, 0, Buffer.byteLength(name) + 1, 0];
  const head = Buffer.from('070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join(''), 'latin1');
  const nameBuf = Buffer.from(name + '\0');
  return Buffer.concat([head, nameBuf, pad4(head.length + nameBuf.length), body, pad4(body.length)]);
}

function stripped(index: number, body: Buffer): Buffer {
  const head = Buffer.from('07070X' + index.toString(16).padStart(8, '0'), 'latin1');
  return Buffer.concat([head, pad4(head.length), body, pad4(body.length)]);
}

/** Feeds the bytes in awkward 7-byte chunks so every boundary case is crossed. */
function chunks(buf: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += 7) parts.push(buf.subarray(i, i + 7));
  return Readable.from(parts);
}

async function collect(buf: Buffer, sizes?: (i: number) => number, readBodies = true) {
  const out: Array<{ name?: string; index?: number; body: string }> = [];
  for await (const { entry, body } of readCpio(chunks(buf), 'test.rpm', sizes)) {
    let text = '';
    if (readBodies) for await (const c of body) text += (c as Buffer).toString();
    out.push({ name: entry.name, index: entry.index, body: text });
  }
  return out;
}

describe('readCpio', () => {
  const trailer = newc('TRAILER!!!', Buffer.alloc(0));

  it('reads newc members with odd sizes across chunk boundaries', async () => {
    const buf = Buffer.concat([newc('./a', Buffer.from('x')), newc('./dir/bb', Buffer.from('hello world')), newc('./e', Buffer.alloc(0)), trailer]);
    expect(await collect(buf)).toEqual([
      { name: './a', index: undefined, body: 'x' },
      { name: './dir/bb', index: undefined, body: 'hello world' },
      { name: './e', index: undefined, body: '' },
    ]);
  });

  it('skips bodies the consumer does not read', async () => {
    const buf = Buffer.concat([newc('./a', Buffer.alloc(100000, 1)), newc('./b', Buffer.from('ok')), trailer]);
    const names = (await collect(buf, undefined, false)).map((e) => e.name);
    expect(names).toEqual(['./a', './b']);
  });

  it('reads stripped 07070X entries with sizes from the header', async () => {
    const bodies = [Buffer.from('abc'), Buffer.from('0123456789')];
    const buf = Buffer.concat([stripped(1, bodies[1]), stripped(0, bodies[0]), trailer]);
    expect(await collect(buf, (i) => bodies[i].length)).toEqual([
      { name: undefined, index: 1, body: '0123456789' },
      { name: undefined, index: 0, body: 'abc' },
    ]);
  });

  it('refuses stripped entries without a header to size them, bad magic and truncation', async () => {
    await expect(collect(Buffer.concat([stripped(0, Buffer.from('a')), trailer]))).rejects.toThrow(/stripped cpio entry/);
    await expect(collect(Buffer.from('070707' + '0'.repeat(200)))).rejects.toThrow(/not a cpio archive/);
    const whole = Buffer.concat([newc('./a', Buffer.alloc(5000, 2)), trailer]);
    await expect(collect(whole.subarray(0, 3000))).rejects.toThrow(PackageFormatError);
    await expect(collect(whole.subarray(0, 3000))).rejects.toThrow(/truncated inside the body of \.\/a/);
    await expect(collect(whole.subarray(0, 50))).rejects.toThrow(/truncated inside a cpio header/);
  });

  it('refuses an impossible name length', async () => {
    const bad = Buffer.from(newc('./a', Buffer.alloc(0)));
    bad.write('7fffffff', 6 + 11 * 8, 'latin1');
    await expect(collect(bad)).rejects.toThrow(/name length 2147483647 is impossible/);
  });
});
