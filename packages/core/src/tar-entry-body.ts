/**
 * A tar member's body as the contract promises it (a Node Readable), for adapters whose packages are tar archives
 * read with tar-stream. tar-stream hands out streamx streams; this wraps one without copying, with backpressure.
 */
import { Readable } from 'node:stream';

/** What the wrapper needs of a tar-stream entry ('data' gives Buffers, 'error' an Error; streamx types them loosely). */
export interface TarEntrySource {
  on(event: 'data' | 'end' | 'error', listener: (...args: any[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * `body` streams the entry; `ended` settles when it has been read to its end, or rejects with the archive's error
 * mapped by `onError` (the same error also reaches the body).
 */
export function tarEntryBody(source: TarEntrySource, onError: (err: unknown) => Error): { body: Readable; ended: Promise<void> } {
  const body = new Readable({
    highWaterMark: 1 << 16,
    read() {
      source.resume();
    },
  });
  // The consumer may be between receiving the body and piping it (awaiting something else) when the archive turns
  // out truncated: the error must not be an unhandled 'error' event. It still reaches the consumer, through the
  // stream's errored state (pipeline, for-await) and through the payload iterator (`ended`).
  body.on('error', () => undefined);
  const ended = new Promise<void>((resolve, reject) => {
    source.on('data', (chunk: Buffer) => {
      if (!body.destroyed && !body.push(chunk)) source.pause();
    });
    source.on('end', () => {
      if (!body.destroyed) body.push(null);
      resolve();
    });
    source.on('error', (err: Error) => {
      const mapped = onError(err);
      body.destroy(mapped);
      reject(mapped);
    });
  });
  ended.catch(() => undefined);
  source.pause();
  return { body, ended };
}
