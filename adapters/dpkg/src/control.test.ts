import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ControlSyntaxError, Paragraph, formatParagraph, formatParagraphs, parseParagraphs } from './control.js';
import { FIXTURE_STATUS } from './testing/debs.js';

describe('parseParagraphs', () => {
  it('reads multi-line fields, continuation lines, comments and several paragraphs', () => {
    const text = '# a comment\nPackage: a\nDescription: short\n more\n .\n\tend\nconffiles:\n /etc/x 123\n\n\n# between\nPackage: b\r\nVersion: 1\n';
    const [a, b, ...rest] = parseParagraphs(text);
    expect(rest).toEqual([]);
    expect(a!.get('description')).toBe('short\n more\n .\n\tend');
    expect(a!.get('Conffiles')).toBe('\n /etc/x 123');
    expect(b!.get('VERSION')).toBe('1');
    expect(parseParagraphs('Package: c\nDescription: x\n l1\n# note\n l2\n')[0]!.get('Description')).toBe('x\n l1\n l2');
    expect(formatParagraph(a!)).toBe('Package: a\nConffiles:\n /etc/x 123\nDescription: short\n more\n .\n\tend\n');
  });

  it.each([
    [' leading continuation\n', /continuation/],
    ['Package: a\nno colon here\n', /expected "Field: value"/],
    ['Package: a\npackage: b\n', /duplicate/],
  ])('refuses %j', (text, pattern) => {
    expect(() => parseParagraphs(text)).toThrow(ControlSyntaxError);
    expect(() => parseParagraphs(text)).toThrow(pattern);
  });

  it('writes fields in dpkg order, unknown ones last in their own order', () => {
    const p = new Paragraph();
    for (const [k, v] of [['Homepage', 'h'], ['Description', 'd'], ['Version', '1'], ['X-Custom', 'x'], ['Status', 's'], ['Package', 'p']]) p.set(k!, v!);
    expect(formatParagraph(p)).toBe('Package: p\nStatus: s\nVersion: 1\nDescription: d\nHomepage: h\nX-Custom: x\n');
  });

  it('round-trips the Debian 12 status file and re-serialises all 743 paragraphs in dpkg order', async () => {
    if (!existsSync(FIXTURE_STATUS)) return console.warn('skipped: ../shared/fixtures/dpkg/debian12-status is absent');
    const text = await readFile(FIXTURE_STATUS, 'utf8');
    const started = performance.now();
    const paragraphs = parseParagraphs(text);
    const ms = performance.now() - started;
    expect(paragraphs).toHaveLength(743);
    expect(formatParagraphs(paragraphs)).toBe(text);
    // The writer, not the kept raw text: every paragraph dpkg wrote must come out identical from the fields alone.
    for (const p of paragraphs) expect(formatParagraph(p.clone())).toBe(p.raw + '\n');
    expect(ms).toBeLessThan(500);
  });
});

describe('Paragraph field names', () => {
  it('finds fields in any case as names come and go', () => {
    const [p] = parseParagraphs('Package: a\nVersion: 1\n');
    expect(p!.get('PACKAGE')).toBe('a');
    expect(p!.get('multi-arch')).toBeUndefined();
    p!.set('Multi-Arch', 'same');
    expect(p!.get('multi-arch')).toBe('same');
    p!.set('MULTI-ARCH', 'foreign');
    expect([...p!.fields.keys()]).toEqual(['Package', 'Version', 'Multi-Arch']);
    expect(p!.get('Multi-arch')).toBe('foreign');
    p!.delete('multi-ARCH');
    expect(p!.get('multi-arch')).toBeUndefined();
    expect(p!.has('version')).toBe(true);
  });
});
