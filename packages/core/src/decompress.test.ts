/**
 * xz decoding, in-process for small input and through `xz` otherwise, judged by the real `xz`: every form it decodes
 * gives the same bytes, every form it refuses is refused, whichever route the input takes.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { decompress, IN_PROCESS_XZ_MAX_BYTES } from './decompress.js';

const xz = (data: Buffer, ...args: string[]) => execFileSync('xz', ['-c', ...args], { input: data, maxBuffer: 1 << 30 });
/** What `xz -dc` makes of `data`: its output, or null when it refuses it. */
function byXz(data: Buffer): Buffer | null {
  try {
    return execFileSync('xz', ['-dc'], { input: data, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

async function ours(data: Buffer, size = data.length): Promise<Buffer> {
  const chunks: Buffer[] = [];
  // Small chunks, as an ar member body arrives.
  const input = Readable.from(Array.from({ length: Math.ceil(data.length / 4096) }, (_, i) => data.subarray(i * 4096, (i + 1) * 4096)));
  for await (const c of decompress(input, 'xz', 'test.deb', 'data.tar.xz', { size })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

// Compressible but not trivial: text with random words.
const plain = Buffer.from(Array.from({ length: 20000 }, (_, i) => `line ${i} ${randomBytes(4).toString('hex')}\n`).join(''));
const stream = xz(plain);

const PATH = process.env.PATH;
afterEach(() => {
  process.env.PATH = PATH;
});

describe('decompress xz', () => {
  const forms: Array<[string, Buffer]> = [
    ['one whole stream', stream],
    ['two streams one after the other', Buffer.concat([stream, xz(Buffer.from('second\n'))])],
    ['the same stream twice', Buffer.concat([stream, stream])],
    ['a stream with padding after it', Buffer.concat([stream, Buffer.alloc(8)])],
    ['a stream of several blocks', xz(plain, '--block-size=65536')],
    ['a stream without an integrity check', xz(plain, '--check=none')],
    ['truncated by one byte', stream.subarray(0, stream.length - 1)],
    ['truncated in the middle', stream.subarray(0, Math.floor(stream.length / 2))],
    ['cut at the index', stream.subarray(0, stream.length - 24)],
    ['with garbage after it', Buffer.concat([stream, Buffer.from('garbage!')])],
    ['with a damaged byte', Buffer.concat([stream.subarray(0, 2000), Buffer.from([stream[2000]! ^ 0xff]), stream.subarray(2001)])],
  ];
  for (const [what, data] of forms) {
    it(`gives what xz -dc gives: ${what}`, async () => {
      const expected = byXz(data);
      if (expected === null) await expect(ours(data)).rejects.toThrow(/test\.deb: data\.tar\.xz: .*corrupt or truncated/);
      else expect((await ours(data)).equals(expected)).toBe(true);
    });
  }

  it('decodes small input in-process: no xz needed on PATH', async () => {
    process.env.PATH = '/nonexistent';
    expect((await ours(stream)).equals(plain)).toBe(true);
    // Input above the in-process limit goes to the tool, which is then missing, and says so.
    await expect(ours(stream, IN_PROCESS_XZ_MAX_BYTES + 1)).rejects.toThrow(/cannot run "xz".*apt-get install xz-utils/);
  });
});
