import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import { duplicateKeys } from './duplicate-keys.js';
import type { Problems } from './errors.js';
import { MANIFEST_DEFAULTS, type ManifestLimits, type Origin, type PathSegment, type Position } from './schema.js';
import { measureYaml } from './yaml-shape.js';

/**
 * One input of an apply: the text of a file (multi-document YAML, or JSON), or documents that
 * are already parsed (a JSON request body, a stored source). `file` names it in errors.
 */
export type ManifestSource =
  | { file: string; text: string }
  | { file: string; documents: readonly ParsedInput[] };

/** An already-parsed document, optionally with the origin it had when it was first applied. */
export interface ParsedInput {
  value: unknown;
  origin?: Origin;
}

/** One document before checking: its plain value and a way to find a field's line and column. */
export interface ParsedDocument {
  origin: Origin;
  value: unknown;
  locate(path: readonly PathSegment[]): Position | undefined;
}

const nowhere = (): undefined => undefined;

/**
 * Parses every source into documents. YAML syntax errors, oversized documents and alias bombs
 * become problems (with line and column) and their document is skipped. A source whose root is a
 * sequence (a JSON array of resources) counts each item as a document; `{documents: [...]}` too.
 * Before any text is parsed, its shape is measured (see yaml-shape.ts): a mapping wider than
 * `maxMappingKeys` skips its source, more than `maxEntries` in all stops the apply, so hostile
 * input never reaches the parser.
 */
export function parseManifests(sources: readonly ManifestSource[], problems: Problems, limits: ManifestLimits = {}): ParsedDocument[] {
  const maxDocumentBytes = limits.maxDocumentBytes ?? MANIFEST_DEFAULTS.maxDocumentBytes;
  const maxDocuments = limits.maxDocuments ?? MANIFEST_DEFAULTS.maxDocuments;
  const maxAliasCount = limits.maxAliasCount ?? MANIFEST_DEFAULTS.maxAliasCount;
  const maxMappingKeys = limits.maxMappingKeys ?? MANIFEST_DEFAULTS.maxMappingKeys;
  const maxEntries = limits.maxEntries ?? MANIFEST_DEFAULTS.maxEntries;
  const out: ParsedDocument[] = [];
  let entries = 0;

  const push = (doc: ParsedDocument, bytes: number): void => {
    if (bytes > maxDocumentBytes) {
      problems.add(
        { origin: doc.origin, position: doc.locate([]) },
        `the document is ${bytes} bytes, over the limit of ${maxDocumentBytes}: split it into smaller documents`,
      );
      return;
    }
    out.push(doc);
  };

  for (const source of sources) {
    if ('documents' in source) {
      source.documents.forEach((d, i) => {
        push({ origin: d.origin ?? { file: source.file, document: i }, value: d.value, locate: nowhere }, Buffer.byteLength(JSON.stringify(d.value) ?? ''));
      });
    } else {
      const shape = measureYaml(source.text, maxMappingKeys, maxEntries - entries);
      entries += shape.entries;
      if (shape.wide) {
        const { document, line, column } = shape.wide;
        problems.add(
          { origin: { file: source.file, document }, position: { line, column } },
          `this mapping has more than ${maxMappingKeys} keys, the limit (counted before parsing): no manifest needs that many; nothing of this file was read`,
        );
        continue;
      }
      if (entries > maxEntries) {
        problems.add(
          { origin: { file: source.file, document: 0 } },
          `more than ${maxEntries} entries (mapping keys and list items, counted before parsing) in one apply: split the apply`,
        );
        return [];
      }
      parseText(source.file, source.text, problems, maxAliasCount, push);
    }
    if (out.length > maxDocuments) {
      problems.add({ origin: { file: source.file, document: out.length - 1 } }, `more than ${maxDocuments} documents in one apply: split the apply`);
      return [];
    }
  }
  return out;
}

function parseText(
  file: string,
  text: string,
  problems: Problems,
  maxAliasCount: number,
  push: (doc: ParsedDocument, bytes: number) => void,
): void {
  const lines = new LineCounter();
  // Duplicate keys are found by duplicateKeys() in linear time; the parser's own check is quadratic.
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const position = (offset: number | undefined): Position | undefined => {
    if (offset === undefined) return undefined;
    const p = lines.linePos(offset);
    return { line: p.line, column: p.col };
  };
  // parseAllDocuments returns an EmptyStream (an empty array) for an empty text.
  docs.forEach((doc, index) => {
    const origin = { file, document: index };
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const at = err.linePos?.[0];
        problems.add(
          { origin, position: at ? { line: at.line, column: at.col } : position(err.pos[0]) },
          `YAML syntax error: ${err.message}`,
        );
      }
      return;
    }
    if (doc.contents === null) return; // an empty document (a trailing `---`, only comments)
    const duplicates = duplicateKeys(doc);
    for (const key of duplicates) {
      // The parser's message for the same problem (with uniqueKeys: true), kept for clients that match it.
      problems.add({ origin, position: position(key.range?.[0]) }, 'YAML syntax error: Map keys must be unique');
    }
    if (duplicates.length > 0) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount });
    } catch (err) {
      problems.add({ origin, position: position(doc.range[0]) }, `the document cannot be read: ${(err as Error).message}`);
      return;
    }
    const bytesOf = (node: Node | null | undefined): number => {
      const r = node?.range;
      return r ? Buffer.byteLength(text.slice(r[0], r[2])) : 0;
    };
    const root = doc.contents;
    if (isSeq(root) && Array.isArray(value)) {
      // A JSON array of resources (or a YAML list): each item is a document of this file.
      value.forEach((item, i) => {
        const node = root.items[i] as Node | undefined;
        push({ origin: { file, document: i }, value: item, locate: (p) => locate(doc, position, [i, ...p]) }, bytesOf(node));
      });
      return;
    }
    if (isMap(root) && isEnvelope(value)) {
      const items = root.get('documents', true);
      value.documents.forEach((item, i) => {
        const node = isSeq(items) ? (items.items[i] as Node | undefined) : undefined;
        push(
          { origin: { file, document: i }, value: item, locate: (p) => locate(doc, position, ['documents', i, ...p]) },
          bytesOf(node),
        );
      });
      return;
    }
    push({ origin, value, locate: (p) => locate(doc, position, p) }, bytesOf(root));
  });
}

/** `{documents: [...]}` (the contract's JSON body) rather than a resource. */
function isEnvelope(value: unknown): value is { documents: unknown[] } {
  return (
    typeof value === 'object' && value !== null && !('apiVersion' in value) && Array.isArray((value as { documents?: unknown }).documents)
  );
}

/** Position of the deepest node along `path` that exists: a map entry's key, or a list item. */
function locate(
  doc: Document,
  position: (offset: number | undefined) => Position | undefined,
  path: readonly PathSegment[],
): Position | undefined {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0];
  for (const seg of path) {
    if (isMap(node)) {
      const pair = pairOf(node, seg);
      if (!pair) break;
      offset = (pair.key as Node | null)?.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
      node = node.items[seg];
      offset = (node as Node).range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return position(offset);
}

/** Each mapping's first pair per key, built on first use: a document with many problems locates each in O(1). */
const keyIndex = new WeakMap<YAMLMap, Map<unknown, Pair>>();

function pairOf(map: YAMLMap, key: PathSegment): Pair | undefined {
  let index = keyIndex.get(map);
  if (!index) {
    index = new Map();
    for (const p of map.items) {
      const k = isScalar(p.key) ? p.key.value : p.key;
      if (!index.has(k)) index.set(k, p);
    }
    keyIndex.set(map, index);
  }
  return index.get(key);
}
