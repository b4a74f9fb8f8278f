/**
 * deb822 paragraphs: the format of DEBIAN/control, the dpkg `status` file and APT indexes.
 * Field names are case-insensitive; values keep their continuation lines verbatim so a paragraph written back is
 * byte-identical to what was read.
 */

export class Paragraph {
  /** Fields in file order, keyed by the name as written. */
  readonly fields = new Map<string, string>();
  /** The paragraph's exact text (without the separating blank line), when it was parsed from a file. */
  raw?: string;

  private key(name: string): string | undefined {
    if (this.fields.has(name)) return name;
    const lower = name.toLowerCase();
    for (const k of this.fields.keys()) if (k.toLowerCase() === lower) return k;
    return undefined;
  }

  /** The value of a field; multi-line values keep their "\n " continuation lines. */
  get(name: string): string | undefined {
    const k = this.key(name);
    return k === undefined ? undefined : this.fields.get(k);
  }

  has(name: string): boolean {
    return this.key(name) !== undefined;
  }

  /** Sets a field, keeping its place when it exists already. */
  set(name: string, value: string): void {
    const k = this.key(name) ?? name;
    this.fields.set(k, value);
    this.raw = undefined;
  }

  delete(name: string): void {
    const k = this.key(name);
    if (k !== undefined) this.fields.delete(k);
    this.raw = undefined;
  }

  clone(): Paragraph {
    const p = new Paragraph();
    for (const [k, v] of this.fields) p.fields.set(k, v);
    return p;
  }
}

export class ControlSyntaxError extends Error {}

/**
 * Parses deb822 text in one pass. Comment lines ("#…") are skipped; blank lines separate paragraphs.
 * Throws {@link ControlSyntaxError} (with the line number) on a line that is neither a field nor a continuation.
 */
export function parseParagraphs(text: string): Paragraph[] {
  const out: Paragraph[] = [];
  let current: Paragraph | null = null;
  let field: string | null = null;
  let start = 0;
  let lineNo = 0;
  let pos = 0;
  let lowerNames = new Set<string>();
  const finish = (end: number) => {
    if (current) {
      // Like dpkg: whitespace is trimmed at the ends of a whole value, never inside a multi-line one.
      for (const [k, v] of current.fields) current.fields.set(k, v.trimEnd());
      current.raw = text.slice(start, end).replace(/\n+$/, '');
      out.push(current);
    }
    current = null;
    field = null;
    lowerNames = new Set();
  };
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = text.length;
    const line = text.charCodeAt(nl - 1) === 13 ? text.slice(pos, nl - 1) : text.slice(pos, nl);
    lineNo++;
    const lineStart = pos;
    pos = nl + 1;
    const c = line.charCodeAt(0);
    if (line.length === 0 || /^\s*$/.test(line)) {
      finish(lineStart);
      continue;
    }
    if (c === 35 /* # */) continue;
    if (c === 32 || c === 9) {
      if (!current || field === null) throw new ControlSyntaxError(`line ${lineNo}: continuation line outside a field`);
      const para: Paragraph = current;
      para.fields.set(field, para.fields.get(field) + '\n' + line);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ControlSyntaxError(`line ${lineNo}: expected "Field: value", got ${JSON.stringify(line.slice(0, 60))}`);
    const name = line.slice(0, colon);
    if (!current) {
      current = new Paragraph();
      start = lineStart;
    }
    const para: Paragraph = current;
    const lower = name.toLowerCase();
    if (lowerNames.has(lower)) throw new ControlSyntaxError(`line ${lineNo}: duplicate field ${name}`);
    lowerNames.add(lower);
    para.fields.set(name, line.slice(colon + 1).trimStart());
    field = name;
  }
  finish(text.length);
  return out;
}

/** The order in which dpkg writes the fields it knows (lib/dpkg's field table); others follow in their own order. */
export const DPKG_FIELD_ORDER = [
  'Package', 'Essential', 'Protected', 'Status', 'Priority', 'Section', 'Installed-Size', 'Origin', 'Maintainer',
  'Bugs', 'Architecture', 'Multi-Arch', 'Source', 'Version', 'Config-Version', 'Replaces', 'Provides', 'Depends',
  'Pre-Depends', 'Recommends', 'Suggests', 'Breaks', 'Conflicts', 'Enhances', 'Conffiles', 'Filename', 'Size',
  'MD5sum', 'MSDOS-Filename', 'Description', 'Triggers-Pending', 'Triggers-Awaited',
];
const ORDER_INDEX = new Map(DPKG_FIELD_ORDER.map((f, i) => [f.toLowerCase(), i]));

function fieldLine(name: string, value: string): string {
  // A value whose first line is empty (Conffiles, Description-less lists) is written "Name:" then its lines.
  return value.startsWith('\n') || value === '' ? `${name}:${value}` : `${name}: ${value}`;
}

/** Serialises one paragraph in dpkg's field order and spelling of known field names (no trailing blank line). */
export function formatParagraph(p: Paragraph): string {
  const known: [number, string, string][] = [];
  const other: string[] = [];
  for (const [name, value] of p.fields) {
    const i = ORDER_INDEX.get(name.toLowerCase());
    if (i === undefined) other.push(fieldLine(name, value));
    else known.push([i, DPKG_FIELD_ORDER[i]!, value]);
  }
  known.sort((a, b) => a[0] - b[0]);
  return [...known.map(([, n, v]) => fieldLine(n, v)), ...other].join('\n') + '\n';
}

/** A file of paragraphs, each followed by a blank line as dpkg writes them; parsed ones keep their original bytes. */
export function formatParagraphs(paragraphs: Paragraph[]): string {
  return paragraphs.map((p) => (p.raw !== undefined ? p.raw + '\n' : formatParagraph(p)) + '\n').join('');
}
