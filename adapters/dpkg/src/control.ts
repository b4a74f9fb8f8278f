/**
 * deb822 paragraphs: the format of DEBIAN/control, the dpkg `status` file and APT indexes.
 * Field names are case-insensitive; values keep their continuation lines verbatim so a paragraph written back is
 * byte-identical to what was read.
 */

export class Paragraph {
  private fieldMap?: Map<string, string>;
  /** The paragraph's exact text (without the separating blank line), when it was parsed from a file. */
  raw?: string;
  /**
   * Read lazily ({@link parseParagraphs} with `indexed`): the values of the indexed fields (lower-cased name →
   * value; absent: the paragraph lacks it); every other question parses {@link raw} first.
   */
  private indexed?: Map<string, string>;

  /** Lower-cased name → name as written; built on the first lookup that misses, dropped when a name comes or goes. */
  private byLowerName?: Map<string, string>;

  /** Fields in file order, keyed by the name as written. */
  get fields(): Map<string, string> {
    if (!this.fieldMap) {
      // Lazily read text was checked whole when it was scanned: it parses.
      this.fieldMap = this.raw === undefined ? new Map() : (parseParagraphs(this.raw)[0]?.fields ?? new Map());
      this.indexed = undefined;
    }
    return this.fieldMap;
  }

  private key(name: string): string | undefined {
    const fields = this.fields;
    if (fields.has(name)) return name;
    // Asking for a field a paragraph lacks is common (Multi-Arch, Essential on every status record): one map lookup,
    // not a lower-casing of every name.
    if (!this.byLowerName) {
      this.byLowerName = new Map();
      for (const k of fields.keys()) {
        const lower = k.toLowerCase();
        if (!this.byLowerName.has(lower)) this.byLowerName.set(lower, k);
      }
    }
    return this.byLowerName.get(name.toLowerCase());
  }

  /** The value of a field; multi-line values keep their "\n " continuation lines. */
  get(name: string): string | undefined {
    if (this.indexed) {
      const lower = lowerName(name);
      if (this.indexedNames!.has(lower)) return this.indexed.get(lower);
    }
    const k = this.key(name);
    return k === undefined ? undefined : this.fields.get(k);
  }

  private indexedNames?: ReadonlySet<string>;

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Sets a field, keeping its place when it exists already. */
  set(name: string, value: string): void {
    const k = this.key(name);
    if (k === undefined) this.byLowerName = undefined;
    this.fields.set(k ?? name, value);
    this.raw = undefined;
  }

  delete(name: string): void {
    const k = this.key(name);
    if (k !== undefined) this.fields.delete(k);
    this.byLowerName = undefined;
    this.raw = undefined;
  }

  clone(): Paragraph {
    const p = new Paragraph();
    for (const [k, v] of this.fields) p.fields.set(k, v);
    return p;
  }

  /** A paragraph of `raw` whose `indexed` fields are known already (the rest is parsed on demand). */
  static lazy(raw: string, names: ReadonlySet<string>, values: Map<string, string>): Paragraph {
    const p = new Paragraph();
    p.raw = raw;
    p.indexedNames = names;
    p.indexed = values;
    return p;
  }
}

const LOWER_NAMES = new Map<string, string>();

/** `name` lower-cased, remembered: the same few names are asked for thousands of times. */
function lowerName(name: string): string {
  let lower = LOWER_NAMES.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (LOWER_NAMES.size < 256) LOWER_NAMES.set(name, lower);
  }
  return lower;
}

export class ControlSyntaxError extends Error {}

/**
 * Parses deb822 text in one pass. Comment lines ("#…") are skipped; blank lines separate paragraphs.
 * Throws {@link ControlSyntaxError} (with the line number) on a line that is neither a field nor a continuation.
 */
export function parseParagraphs(input: string, options: { indexed?: ReadonlySet<string> } = {}): Paragraph[] {
  const text = input.includes('\r') ? input.replace(/\r\n?/g, '\n') : input;
  const { indexed } = options;
  const out: Paragraph[] = [];
  let current: Paragraph | null = null;
  // Lazily: the values of the indexed fields only; a paragraph's other fields are parsed from its text when asked for.
  let values = new Map<string, string>();
  let fieldLower = '';
  let lowerNames = new Set<string>();
  // The open field's value is one slice of the text, taken when the field ends: no per-line concatenation.
  let field: string | null = null;
  let valueStart = 0;
  let valueEnd = 0;
  // A field interrupted by a comment line keeps taking continuation lines, by concatenation (rare).
  let interrupted: string | null = null;
  let paraStart = 0;
  let lineNo = 0;
  const closeField = () => {
    if (current && field !== null) {
      if (!indexed) current.fields.set(field, text.slice(valueStart, valueEnd).trimEnd());
      else if (indexed.has(fieldLower)) values.set(fieldLower, text.slice(valueStart, valueEnd).trimEnd());
    }
    interrupted = field ?? interrupted;
    field = null;
  };
  const finish = (end: number) => {
    closeField();
    if (current) {
      let rawEnd = end;
      while (rawEnd > paraStart && text.charCodeAt(rawEnd - 1) === 10) rawEnd--;
      const raw = text.slice(paraStart, rawEnd);
      if (indexed) {
        out.push(Paragraph.lazy(raw, indexed, values));
        values = new Map();
      } else {
        current.raw = raw;
        out.push(current);
      }
    }
    current = null;
    interrupted = null;
    lowerNames = new Set();
  };
  for (let pos = 0; pos < text.length; ) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = text.length;
    lineNo++;
    const c = text.charCodeAt(pos);
    if (c === 32 || c === 9) {
      let i = pos + 1;
      while (i < nl && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
      if (i === nl) finish(pos);
      else if (field !== null) valueEnd = nl;
      else if (current && interrupted !== null) {
        const line = '\n' + text.slice(pos, nl).trimEnd();
        if (!indexed) current.fields.set(interrupted, current.fields.get(interrupted) + line);
        else {
          const lower = (interrupted as string).toLowerCase();
          if (values.has(lower)) values.set(lower, values.get(lower) + line);
        }
      }
      else throw new ControlSyntaxError(`line ${lineNo}: continuation line outside a field`);
    } else if (nl === pos) {
      finish(pos);
    } else if (c === 35 /* # */) {
      closeField();
    } else {
      const colon = text.indexOf(':', pos);
      if (colon === -1 || colon >= nl || colon === pos) {
        throw new ControlSyntaxError(`line ${lineNo}: expected "Field: value", got ${JSON.stringify(text.slice(pos, Math.min(nl, pos + 60)))}`);
      }
      closeField();
      interrupted = null;
      const name = text.slice(pos, colon);
      const lower = name.toLowerCase();
      if (lowerNames.has(lower)) throw new ControlSyntaxError(`line ${lineNo}: duplicate field ${name}`);
      lowerNames.add(lower);
      if (!current) {
        current = new Paragraph();
        paraStart = pos;
      }
      field = name;
      fieldLower = lower;
      valueStart = colon + 1;
      while (valueStart < nl && (text.charCodeAt(valueStart) === 32 || text.charCodeAt(valueStart) === 9)) valueStart++;
      valueEnd = nl;
    }
    pos = nl + 1;
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

/**
 * Why `name` is not a package name dpkg accepts (an alphanumeric first, then letters, digits and "-+._"), or
 * undefined when it is one. Checked at the edge: the name becomes file names in the database (`info/<name>.list`).
 */
export function packageNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (!/^[A-Za-z0-9]/.test(name)) return 'must start with a letter or digit';
  const bad = /[^A-Za-z0-9+.\-_]/.exec(name);
  return bad ? `has the character ${JSON.stringify(bad[0])}; only letters, digits and "-+._" are allowed` : undefined;
}

/** Why `arch` is not an architecture name dpkg accepts (an alphanumeric first, then letters, digits and "-"). */
export function architectureProblem(arch: string): string | undefined {
  if (arch === '') return 'is empty';
  if (!/^[A-Za-z0-9]/.test(arch)) return 'must start with a letter or digit';
  const bad = /[^A-Za-z0-9-]/.exec(arch);
  return bad ? `has the character ${JSON.stringify(bad[0])}; only letters, digits and "-" are allowed` : undefined;
}
