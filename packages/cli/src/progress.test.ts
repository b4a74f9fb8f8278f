import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { renderer } from './progress.js';

/** A stream that records what is written, claiming to be a terminal or not. */
function sink(isTTY: boolean) {
  let text = '';
  const stream = Object.assign(new Writable({ write(chunk, _enc, done) { text += String(chunk); done(); } }), { isTTY });
  return { stream, text: () => text };
}

describe('progress renderer', () => {
  it('on a terminal redraws one status line and leaves a line per phase', () => {
    const out = sink(true);
    const report = renderer({ json: false, stream: out.stream });
    report.emit({ type: 'phase-start', phase: 'compose' });
    report.emit({ type: 'message', text: 'composed abc' });
    report.emit({ type: 'phase-end', phase: 'compose', ms: 1234 });
    report.emit({ type: 'download-start', files: 2, totalBytes: 2_000_000, cachedBytes: 500_000 });
    report.emit({ type: 'download-end', fetchedBytes: 1_500_000, ms: 500, files: 1 });
    const text = out.text();
    // The status line is cleared before the message and drawn again after it.
    expect(text).toContain('\r\x1b[KCompose…\r\x1b[Kcomposed abc\nCompose…');
    expect(text).toContain('\r\x1b[KCompose    1.2 s\n');
    expect(text).toMatch(/\r\x1b\[KDownloading 500\.0 kB of 2\.0 MB \(25%\), 0 B\/s, ETA --:--/);
    expect(text).toContain('Fetched 1.5 MB in 500 ms (3.0 MB/s)\n');
  });

  it('piped: plain lines only; with --json: nothing', () => {
    const out = sink(false);
    const report = renderer({ json: false, stream: out.stream });
    report.emit({ type: 'phase-start', phase: 'deploy' });
    report.emit({ type: 'phase-end', phase: 'deploy', ms: 80 });
    report.emit({ type: 'warning', text: 'mirror slow' });
    expect(out.text()).toBe('Deploy     80 ms\nwarning: mirror slow\n');
    const quiet = sink(false);
    const silent = renderer({ json: true, stream: quiet.stream });
    silent.emit({ type: 'message', text: 'x' });
    silent.emit({ type: 'phase-end', phase: 'deploy', ms: 1 });
    expect(quiet.text()).toBe('');
  });
});
