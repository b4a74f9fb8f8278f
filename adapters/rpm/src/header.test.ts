/** Header parsing of every tag type, appending install-time tags, and rich dependency parsing. */
import { describe, expect, it } from 'vitest';
import { parseRichDependency, rangeSatisfies, rpmlibSatisfies } from './dependencies.js';
import { TagType, appendEntries, charEntry, int32Entry, parseHeaderBlob } from './header.js';

/** Builds a header blob from (tag, type, count, data) with the alignment rules of the format. */
function blob(entries: Array<[number, TagType, number, Buffer]>): Buffer {
  const index: Buffer[] = [];
  const store: Buffer[] = [];
  let dl = 0;
  for (const [tag, type, count, data] of entries) {
    const align = type === TagType.Int16 ? 2 : type === TagType.Int32 ? 4 : type === TagType.Int64 ? 8 : 1;
    const pad = (align - (dl % align)) % align;
    store.push(Buffer.alloc(pad));
    dl += pad;
    const e = Buffer.alloc(16);
    e.writeUInt32BE(tag, 0);
    e.writeUInt32BE(type, 4);
    e.writeUInt32BE(dl, 8);
    e.writeUInt32BE(count, 12);
    index.push(e);
    store.push(data);
    dl += data.length;
  }
  const head = Buffer.alloc(8);
  head.writeUInt32BE(entries.length, 0);
  head.writeUInt32BE(dl, 4);
  return Buffer.concat([head, ...index, ...store]);
}

const i16 = Buffer.from([0x01, 0xed, 0x81, 0xa4]);
const i64 = Buffer.alloc(8);
i64.writeBigUInt64BE(5000000000n);

describe('rpm header', () => {
  const h = parseHeaderBlob(blob([
    [100, TagType.StringArray, 2, Buffer.from('C\0de\0')],
    [1000, TagType.String, 1, Buffer.from('name\0')],
    [1004, TagType.I18nString, 2, Buffer.from('Summary\0Zusammenfassung\0')],
    [1029, TagType.Char, 3, Buffer.from([0, 1, 2])],
    [1030, TagType.Int16, 2, i16],
    [1034, TagType.Int32, 1, Buffer.from([0, 0, 1, 0])],
    [5008, TagType.Int64, 1, i64],
    [261, TagType.Bin, 4, Buffer.from([1, 2, 3, 4])],
    [1049, TagType.StringArray, 2, Buffer.from('a\0b c\0')],
  ]), 't');

  it('decodes every type', () => {
    expect(h.string(1000)).toBe('name');
    expect(h.string(1004)).toBe('Summary');
    expect(h.get(1004)).toEqual(['Summary', 'Zusammenfassung']);
    expect(h.numbers(1029)).toEqual([0, 1, 2]);
    expect(h.numbers(1030)).toEqual([0o755, 0o100644]);
    expect(h.number(1034)).toBe(256);
    expect(h.numbers(5008)).toEqual([5000000000]);
    expect(h.bin(261)).toEqual(Buffer.from([1, 2, 3, 4]));
    expect(h.strings(1049)).toEqual(['a', 'b c']);
  });

  it('refuses misaligned integers, unterminated strings and unknown types', () => {
    const mis = blob([[1000, TagType.String, 1, Buffer.from('x\0')]]);
    mis.writeUInt32BE(TagType.Int32, 12);
    mis.writeUInt32BE(1, 16);
    expect(() => parseHeaderBlob(mis, 't')).toThrow(/misaligned/);
    const unterminated = blob([[1000, TagType.String, 1, Buffer.from('abc')]]);
    expect(() => parseHeaderBlob(unterminated, 't')).toThrow(/string running past/);
    const unknown = blob([[1000, TagType.String, 1, Buffer.from('x\0')]]);
    unknown.writeUInt32BE(42, 12);
    expect(() => parseHeaderBlob(unknown, 't')).toThrow(/unknown type 42/);
  });

  it('appends entries after the store, aligned and sorted, keeping the old ones', () => {
    const out = parseHeaderBlob(appendEntries(h, [int32Entry(1128, [7]), charEntry(1029 + 1000, [9])]), 't');
    expect(out.number(1128)).toBe(7);
    expect(out.numbers(2029)).toEqual([9]);
    expect(out.string(1004)).toBe('Summary');
    expect(out.entries.slice(-2).map((e) => e.tag)).toEqual([1128, 2029]);
  });
});

describe('rich dependencies', () => {
  it('parses nested boolean expressions into a tree', () => {
    expect(parseRichDependency('(foo >= 1.0 and (bar or baz < 2))', 't')).toEqual({
      op: 'and',
      operands: [
        { op: 'atom', name: 'foo', operator: '>=', version: '1.0' },
        { op: 'or', operands: [{ op: 'atom', name: 'bar' }, { op: 'atom', name: 'baz', operator: '<', version: '2' }] },
      ],
    });
    expect(parseRichDependency('(a if b else c)', 't')).toEqual({ op: 'if', left: { op: 'atom', name: 'a' }, right: { op: 'atom', name: 'b' }, otherwise: { op: 'atom', name: 'c' } });
    expect(() => parseRichDependency('(a and b or c)', 't')).toThrow(/expected "\)" but found "or"/);
    expect(() => parseRichDependency('(a and', 't')).toThrow(/ends too early/);
  });

  it('intersects version ranges like rpmdsCompare and knows rpmlib() features', () => {
    expect(rangeSatisfies({ operator: '=', version: '1.2-3' }, { operator: '>=', version: '1.0' })).toBe(true);
    expect(rangeSatisfies({ operator: '=', version: '0.9' }, { operator: '>=', version: '1.0' })).toBe(false);
    expect(rangeSatisfies({ operator: '<', version: '2' }, { operator: '>', version: '1' })).toBe(true);
    expect(rpmlibSatisfies({ name: 'rpmlib(PayloadIsZstd)', operator: '<=', version: '5.4.18-1', flags: 0 })).toBe(true);
    expect(rpmlibSatisfies({ name: 'rpmlib(NoSuchThing)', flags: 0 })).toBe(false);
  });
});
