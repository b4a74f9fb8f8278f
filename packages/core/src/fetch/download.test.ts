import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VerificationError } from '../errors.js';
import { downloadFile, NotFoundError, readUrl, UnreachableError } from './download.js';
import { fetchAll } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'fetch-'));
const body = Buffer.alloc(300_000, 7);
writeFileSync(join(dir, 'pkg.deb'), body);
const sha256 = createHash('sha256').update(body).digest('hex');
const url = pathToFileURL(join(dir, 'pkg.deb')).href;
const dl = (over: object) => ({ url, size: body.length, sha256, fileName: 'pkg_1_all.deb', origin: 'test', ...over });

describe('fetchAll', () => {
  it('downloads, verifies and reuses a verified file from the cache', async () => {
    const cache = join(dir, 'c1');
    const [first] = await fetchAll([dl({})], { cacheDir: cache });
    expect(first.cached).toBe(false);
    expect(existsSync(join(cache, 'archives/pkg_1_all.deb'))).toBe(true);
    const [again] = await fetchAll([dl({})], { cacheDir: cache });
    expect(again.cached).toBe(true);
  });

  it('refuses a digest mismatch and a short file, leaving nothing under the final name', async () => {
    const cache = join(dir, 'c2');
    const bad = fetchAll([dl({ sha256: '0'.repeat(64) })], { cacheDir: cache, label: () => 'pkg 1' });
    await expect(bad).rejects.toThrow(VerificationError);
    await expect(bad).rejects.toThrow(new RegExp(`pkg 1: ${url} has SHA256 ${sha256}, but the signed metadata expects 0{64}`));
    await expect(fetchAll([dl({ size: body.length + 10 })], { cacheDir: cache })).rejects.toThrow(/truncated or incomplete: expected 300010 bytes, got 300000/);
    await expect(fetchAll([dl({ size: body.length - 10 })], { cacheDir: cache })).rejects.toThrow(/larger than the 299990 bytes/);
    expect(existsSync(join(cache, 'archives/pkg_1_all.deb'))).toBe(false);
    expect(readdirSync(join(cache, 'archives/partial'))).toEqual([]);
  });
});

describe('a stalling mirror', () => {
  /** A server on 127.0.0.1 that answers `stallAfter` bytes of `body` (or not even the headers) and then goes silent. */
  async function stallingServer(stallAfter: number | 'headers') {
    const sockets = new Set<import('node:net').Socket>();
    const server = createServer((req, res) => {
      if (stallAfter === 'headers') return;
      res.writeHead(200, { 'content-length': String(body.length) });
      res.write(body.subarray(0, stallAfter));
    });
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/pool/pkg.deb`,
      close: () => {
        for (const s of sockets) s.destroy();
        server.close();
      },
    };
  }

  it.each([['before the headers', 'headers' as const], ['in the middle of the body', 100_000]])('fails %s with a VerificationError naming the URL, instead of hanging', async (_what, stallAfter) => {
    const server = await stallingServer(stallAfter);
    const saved = process.env.OSTREE_LAYER_DOWNLOAD_TIMEOUT;
    process.env.OSTREE_LAYER_DOWNLOAD_TIMEOUT = '1';
    try {
      const dest = join(dir, `stall-${stallAfter}`, 'pkg.deb');
      const started = Date.now();
      const run = downloadFile({ url: server.url, dest, expected: { size: body.length, sha256 }, what: 'pkg 1' });
      await expect(run).rejects.toThrow(VerificationError);
      await expect(run).rejects.toThrow(new RegExp(`${server.url}: the server sent no data for 1 s`));
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(existsSync(dest)).toBe(false);
      expect(readdirSync(join(dir, `stall-${stallAfter}`, 'partial'))).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.OSTREE_LAYER_DOWNLOAD_TIMEOUT;
      else process.env.OSTREE_LAYER_DOWNLOAD_TIMEOUT = saved;
      server.close();
    }
  });
});

describe('readUrl: small metadata read whole, with a size limit', () => {
  /** A server that sends `size` bytes, announcing the length or not (chunked). */
  async function sendingServer(size: number, announce: boolean) {
    const server = createServer((_req, res) => {
      res.writeHead(200, announce ? { 'content-length': String(size) } : {});
      res.end(Buffer.alloc(size, 1));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/InRelease` };
  }

  it('reads a body up to the limit, and refuses a longer one whether its length is announced or not', async () => {
    for (const announce of [true, false]) {
      const { server, url: at } = await sendingServer(5000, announce);
      try {
        expect((await readUrl(at, { maxBytes: 5000 })).length).toBe(5000);
        const over = readUrl(at, { maxBytes: 4999 });
        await expect(over).rejects.toThrow(VerificationError);
        await expect(over).rejects.toThrow(`${at}: the server sends more than 4999 bytes`);
      } finally {
        server.close();
      }
    }
  });

  it('reads file:// URLs and says NotFoundError for a missing one', async () => {
    expect((await readUrl(url)).equals(body)).toBe(true);
    await expect(readUrl(pathToFileURL(join(dir, 'missing')).href)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('http downloads', () => {
  it('follows redirects (relative ones too), says NotFoundError for 404, names the status otherwise, and UnreachableError for a closed port', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/old') return void res.writeHead(301, { location: '/moved/pkg.deb' }).end();
      if (req.url === '/moved/pkg.deb') return void res.writeHead(200, { 'content-length': String(body.length) }).end(body);
      if (req.url === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
      if (req.url === '/broken') return void res.writeHead(500).end('oops');
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await readUrl(`${base}/old`)).equals(body)).toBe(true);
      const cache = join(dir, 'c-http');
      const [got] = await fetchAll([dl({ url: `${base}/old` })], { cacheDir: cache });
      expect(got.cached).toBe(false);
      await expect(readUrl(`${base}/missing`)).rejects.toThrow(NotFoundError);
      await expect(readUrl(`${base}/broken`)).rejects.toThrow(`${base}/broken: HTTP 500 Internal Server Error`);
      await expect(readUrl(`${base}/loop`)).rejects.toThrow(/more than 20 redirects/);
    } finally {
      server.close();
    }
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(readUrl(`http://127.0.0.1:${port}/x`)).rejects.toThrow(UnreachableError);
    await expect(readUrl(`http://127.0.0.1:${port}/x`)).rejects.toThrow(/ECONNREFUSED/);
  });
});
