/**
 * A cheap, linear estimate of a YAML (or JSON) text's shape, taken before the parser sees it:
 * how many entries (mapping keys and sequence items) it holds, and how many keys its widest
 * mapping has. The `yaml` parser costs about a microsecond per byte and, with duplicate-key
 * checking, time quadratic in a mapping's keys (60 000 keys in one mapping blocked the registry
 * for 37 s); this pass costs a few nanoseconds per byte, so hostile input is refused before any
 * parsing. It is an estimate, not a parser: it may over-count (a `key: value` line inside a
 * multi-line quoted string), never under-count keys written one per line or comma-separated,
 * and it stops as soon as a bound is passed.
 */

/** Where a mapping was found to be too wide: its first key, and the document it is in. */
export interface WideMapping {
  keys: number;
  line: number;
  column: number;
  /** Zero-based index of the YAML document (`---`) in the text. */
  document: number;
}

export interface YamlShape {
  /** Mapping keys plus sequence items counted (up to the point where a bound was passed). */
  entries: number;
  /** The first mapping found with more than `maxMappingKeys` keys, if any. */
  wide?: WideMapping;
}

interface BlockFrame {
  indent: number;
  keys: number;
  line: number;
  column: number;
}

interface FlowFrame {
  map: boolean;
  keys: number;
  line: number;
  column: number;
}

const SPACE = 32;
const TAB = 9;
const CR = 13;
const HASH = 35;
const COLON = 58;
const DASH = 45;
const DOT = 46;
const QUOTE = 34;
const APOSTROPHE = 39;
const BACKSLASH = 92;
const COMMA = 44;

const LF = 10;

/** Whitespace, a line break, or the end of the text (charCodeAt past the end is NaN). */
const isBlank = (c: number): boolean => c === SPACE || c === TAB || c === CR || c === LF || Number.isNaN(c);

/**
 * Measures `text`, stopping early once a mapping has more than `maxMappingKeys` keys or more than
 * `maxEntries` entries were counted (the caller refuses the text in both cases).
 */
export function measureYaml(text: string, maxMappingKeys: number, maxEntries: number): YamlShape {
  const n = text.length;
  const block: BlockFrame[] = [];
  const flow: FlowFrame[] = [];
  let entries = 0;
  let document = 0;
  /** The current document has a start marker or content (a further `---` starts the next one). */
  let inDocument = false;
  /** A `...` ended the document: content after it starts the next one. */
  let ended = false;
  /** While ≥ 0, lines indented more than this are the content of a block scalar (`|`, `>`). */
  let scalarIndent = -1;
  /** The quote of a quoted scalar still open at the end of the previous line, or 0. */
  let quote = 0;
  let line = 0;
  let lineStart = 0;
  /** In flow context: the next character starts a token (see scanFlow). */
  let tokenStart = true;
  let wide: WideMapping | undefined;

  const widen = (keys: number, at: { line: number; column: number }): void => {
    if (keys > maxMappingKeys && !wide) wide = { keys, line: at.line, column: at.column, document };
  };

  /**
   * Scans flow collections and quoted scalars from `from` to `end`; returns at a comment or the
   * end. A quote opens a quoted scalar only where a token starts (after `[`, `{`, `,`, `? `, a
   * `: ` or a JSON key's `:`), never inside a plain scalar such as `it's`; that state carries
   * over lines, as flow collections do.
   */
  const scanFlow = (from: number, end: number): void => {
    if (flow.length === 0 && quote === 0) tokenStart = true;
    let prev = SPACE;
    for (let k = from; k < end; k++) {
      const c = text.charCodeAt(k);
      if (quote !== 0) {
        if (quote === QUOTE && c === BACKSLASH) {
          k++;
        } else if (c === quote) {
          if (quote === APOSTROPHE && text.charCodeAt(k + 1) === APOSTROPHE) k++;
          else quote = 0;
        }
        prev = quote === 0 ? QUOTE : c;
        tokenStart = false;
        continue;
      }
      if (isBlank(c)) {
        prev = c;
        continue;
      }
      if (c === HASH && isBlank(prev)) return;
      if ((c === QUOTE || c === APOSTROPHE) && tokenStart) {
        quote = c;
      } else if (c === 123 /* { */ || c === 91 /* [ */) {
        flow.push({ map: c === 123, keys: 0, line, column: k - lineStart + 1 });
        tokenStart = true;
        prev = c;
        continue;
      } else if (c === 125 /* } */ || c === 93 /* ] */) {
        const top = flow.pop();
        // The last entry has no comma after it (an empty collection counts one too: a bound, not a count).
        if (top) {
          entries++;
          if (top.map) widen(top.keys + 1, top);
        }
        if (flow.length === 0) return; // the rest of a block line after a flow value is not structure
      } else if (c === COMMA && flow.length > 0) {
        const top = flow[flow.length - 1];
        top.keys++;
        entries++;
        if (top.map) widen(top.keys + 1, top);
        if (wide || entries > maxEntries) return;
        tokenStart = true;
        prev = c;
        continue;
      } else if ((c === COLON || c === 63) /* ? */ && (isBlank(text.charCodeAt(k + 1)) || (c === COLON && prev === QUOTE))) {
        tokenStart = true; // a value (or an explicit key) follows; `"key":"value"` is JSON
        prev = c;
        continue;
      }
      tokenStart = false;
      prev = c;
    }
  };

  for (let i = 0; i < n && !wide && entries <= maxEntries; ) {
    lineStart = i;
    let eol = text.indexOf('\n', i);
    if (eol < 0) eol = n;
    line++;
    i = eol + 1;
    let j = lineStart;
    while (j < eol && text.charCodeAt(j) === SPACE) j++;
    const indent = j - lineStart;
    const first = text.charCodeAt(j);

    if (quote === 0 && flow.length === 0 && indent === 0 && isMarker(text, lineStart, eol)) {
      if (first === DASH) {
        if (inDocument) document++;
        inDocument = true;
        ended = false;
      } else {
        ended = true;
      }
      block.length = 0;
      scalarIndent = -1;
      j = lineStart + 3;
      while (j < eol && isBlank(text.charCodeAt(j))) j++;
      if (j < eol && first === DASH) scanValue(j, eol, -1);
      continue;
    }
    if (scalarIndent >= 0) {
      if (j >= eol || isBlank(first) || indent > scalarIndent) continue;
      scalarIndent = -1;
    }
    if (quote !== 0 || flow.length > 0) {
      scanFlow(j, eol);
      continue;
    }
    if (j >= eol || isBlank(first) || first === HASH) continue;
    if (indent === 0 && first === 37 /* % */) continue; // a directive
    if (ended) {
      document++;
      ended = false;
    }
    inDocument = true;

    // Sequence items (`- `, possibly several on one line) end the mappings nested deeper.
    let col = j;
    let itemIndent = indent;
    while (text.charCodeAt(col) === DASH && isBlank(text.charCodeAt(col + 1)) && col < eol) {
      entries++;
      itemIndent = col - lineStart;
      popDeeper(itemIndent);
      col++;
      while (col < eol && (text.charCodeAt(col) === SPACE || text.charCodeAt(col) === TAB)) col++;
    }
    if (col >= eol || text.charCodeAt(col) === HASH) continue;
    const keyEnd = blockKeyEnd(text, col, eol);
    if (keyEnd < 0) {
      scanValue(col, eol, itemIndent);
      continue;
    }
    const column = col - lineStart;
    popDeeper(column);
    const top = block[block.length - 1];
    if (top && top.indent === column) {
      top.keys++;
      widen(top.keys, top);
    } else {
      const frame = { indent: column, keys: 1, line, column: column + 1 };
      block.push(frame);
      widen(frame.keys, frame);
    }
    entries++;
    let v = keyEnd + 1;
    while (v < eol && isBlank(text.charCodeAt(v))) v++;
    if (v < eol) scanValue(v, eol, column);
  }
  return { entries, ...(wide ? { wide } : {}) };

  /** A value starting at `from`: a flow collection or quoted scalar is scanned, a block scalar skipped. */
  function scanValue(from: number, end: number, parentIndent: number): void {
    let v = from;
    // Anchors and tags before the value (`&a`, `!!str`).
    while (v < end && (text.charCodeAt(v) === 38 || text.charCodeAt(v) === 33)) {
      while (v < end && !isBlank(text.charCodeAt(v))) v++;
      while (v < end && isBlank(text.charCodeAt(v))) v++;
    }
    const c = text.charCodeAt(v);
    if (c === 124 /* | */ || c === 62 /* > */) scalarIndent = parentIndent;
    else if (c === 123 || c === 91 || c === QUOTE || c === APOSTROPHE) scanFlow(v, end);
  }

  function popDeeper(column: number): void {
    while (block.length > 0 && block[block.length - 1].indent > column) block.pop();
  }
}

/** `---` or `...` at the start of a line, followed by a blank or the end of the line. */
function isMarker(text: string, start: number, eol: number): boolean {
  const c = text.charCodeAt(start);
  if (c !== DASH && c !== DOT) return false;
  return text.charCodeAt(start + 1) === c && text.charCodeAt(start + 2) === c && (start + 3 >= eol || isBlank(text.charCodeAt(start + 3)));
}

/**
 * The offset of the `:` that makes the block content at `from` a mapping key (`key: value`,
 * `"key": value`, `? key`), or -1 when it is not one.
 */
function blockKeyEnd(text: string, from: number, eol: number): number {
  const c = text.charCodeAt(from);
  if (c === 63 /* ? */ && isBlank(text.charCodeAt(from + 1))) return from;
  let k = from;
  if (c === QUOTE || c === APOSTROPHE) {
    for (k = from + 1; k < eol; k++) {
      const d = text.charCodeAt(k);
      if (c === QUOTE && d === BACKSLASH) k++;
      else if (d === c) break;
    }
    if (k >= eol) return -1;
    k++;
    while (k < eol && (text.charCodeAt(k) === SPACE || text.charCodeAt(k) === TAB)) k++;
    return text.charCodeAt(k) === COLON && isBlank(text.charCodeAt(k + 1)) ? k : -1;
  }
  if (c === 123 || c === 91) {
    // A flow collection as a key (`[a]: 1`) is legal YAML: find its end on this line (implicit keys
    // are single-line), so a mapping of such keys is counted like any other.
    let depth = 0;
    let inQuote = 0;
    for (; k < eol; k++) {
      const d = text.charCodeAt(k);
      if (inQuote !== 0) {
        if (inQuote === QUOTE && d === BACKSLASH) k++;
        else if (d === inQuote) inQuote = 0;
      } else if (d === QUOTE || d === APOSTROPHE) inQuote = d;
      else if (d === 123 || d === 91) depth++;
      else if ((d === 125 || d === 93) && --depth === 0) break;
    }
    k++;
    while (k < eol && (text.charCodeAt(k) === SPACE || text.charCodeAt(k) === TAB)) k++;
    return k < eol && text.charCodeAt(k) === COLON && isBlank(text.charCodeAt(k + 1)) ? k : -1;
  }
  for (let prev = SPACE; k < eol; k++) {
    const d = text.charCodeAt(k);
    if (d === COLON && (k + 1 >= eol || isBlank(text.charCodeAt(k + 1)))) return k;
    if (d === HASH && isBlank(prev)) return -1;
    prev = d;
  }
  return -1;
}
