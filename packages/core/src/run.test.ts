import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CommandError, run, runStream } from './run.js';

describe('run', () => {
  it('returns stdout without its final newline, or as exact bytes, and feeds stdin from a string or a stream', async () => {
    expect((await run('printf', ['a\\nb\\n'])).stdout).toBe('a\nb');
    expect((await run('printf', ['a\\n'], { encoding: 'buffer' })).stdout.equals(Buffer.from('a\n'))).toBe(true);
    expect((await run('cat', [], { input: 'from a string' })).stdout).toBe('from a string');
    expect((await run('wc', ['-c'], { input: Readable.from([Buffer.alloc(1 << 20), Buffer.alloc(5)]) })).stdout.trim()).toBe(String((1 << 20) + 5));
  });

  it('fails with the exit code and stderr, or returns the failure with reject: false', async () => {
    const failing = run('sh', ['-c', 'echo out; echo bad >&2; exit 3']);
    await expect(failing).rejects.toBeInstanceOf(CommandError);
    await expect(failing).rejects.toMatchObject({ exitCode: 3, stderr: 'bad', stdout: 'out', shortMessage: 'Command failed with exit code 3: sh -c echo out; echo bad >&2; exit 3' });
    const returned = await run('sh', ['-c', 'echo x; echo y >&2; exit 1'], { reject: false, all: true });
    expect(returned).toMatchObject({ failed: true, exitCode: 1, all: 'x\ny' });
    await expect(run('/nonexistent/tool', [])).rejects.toMatchObject({ exitCode: null, shortMessage: expect.stringContaining('ENOENT') });
  });

  it('kills the program on abort, on timeout, and when it prints more than maxBuffer', async () => {
    const abort = new AbortController();
    const slow = run('sleep', ['30'], { signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    await expect(slow).rejects.toThrow(/was canceled: sleep 30/);
    await expect(run('sleep', ['30'], { timeout: 50 })).rejects.toThrow(/timed out after 50 ms/);
    await expect(run('yes', [], { maxBuffer: 1 << 16 })).rejects.toThrow(/printed more than 65536 bytes on stdout/);
  });

  it('streams stdout, and a failure becomes the stream error', async () => {
    const chunks: Buffer[] = [];
    for await (const c of runStream('printf', ['streamed'])) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('streamed');
    const failing = runStream('sh', ['-c', 'echo partial; echo nope >&2; exit 2']);
    await expect((async () => { for await (const _ of failing) void _; })()).rejects.toMatchObject({ exitCode: 2, stderr: 'nope' });
  });
});
