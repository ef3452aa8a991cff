import type { KeyLayout } from '../../store/keys.js';
import type { Mutation } from '../../store/writer.js';
import type { ParsedInput } from '../manifest/parse.js';
import { toResource, type LocatedManifest } from '../manifest/schema.js';

/**
 * The applied source of an environment: its regions and services as written in the manifests
 * (variables not substituted), with the file and document each came from. Environment documents
 * are not part of it: variables live at `<env>/environment` and are never promoted.
 */
export interface StoredSource {
  version: 1;
  documents: Array<{ origin: { file: string; document: number }; resource: unknown }>;
}

/** Characters per `source/<n>` chunk: far below etcd's 1.5 MiB request limit (the text is ASCII). */
export const SOURCE_CHUNK_CHARS = 256 * 1024;

/**
 * The desired source after an apply: without prune, the stored one with the applied resources
 * replacing theirs (so it always describes the environment's whole desired state, which is
 * what a promotion re-renders); with prune, only the applied resources.
 */
export function mergeSource(stored: StoredSource | undefined, applied: readonly LocatedManifest[], prune: boolean): StoredSource {
  const docs = new Map<string, StoredSource['documents'][number]>();
  if (!prune && stored) {
    for (const d of stored.documents) docs.set(identity(d.resource), d);
  }
  for (const m of applied) {
    const resource = toResource(m.manifest);
    docs.set(identity(resource), { origin: m.origin, resource });
  }
  return { version: 1, documents: [...docs.values()] };
}

/** Documents of a stored source, ready to be parsed again (a promotion). */
export function sourceDocuments(source: StoredSource): ParsedInput[] {
  return source.documents.map((d) => ({ value: d.resource, origin: d.origin }));
}

/** JSON with every non-ASCII character escaped, so characters equal bytes and chunks split anywhere. */
export function encodeSource(source: StoredSource): string {
  return JSON.stringify(source).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function decodeSource(text: string): StoredSource | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<StoredSource>;
    return v.version === 1 && Array.isArray(v.documents) ? (v as StoredSource) : undefined;
  } catch {
    return undefined;
  }
}

/** Puts for the chunks that differ from the stored ones, deletes for stored chunks left over. */
export function sourceMutations(
  layout: KeyLayout,
  env: string,
  text: string,
  stored: readonly { key: string; value: string }[],
  chunkChars = SOURCE_CHUNK_CHARS,
): Mutation[] {
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += chunkChars) chunks.push(text.slice(i, i + chunkChars));
  const old = new Map(stored.map((s) => [s.key, s.value]));
  const out: Mutation[] = [];
  chunks.forEach((value, i) => {
    const key = layout.source(env, i);
    if (old.get(key) !== value) out.push({ type: 'put', key, value });
    old.delete(key);
  });
  for (const key of old.keys()) out.push({ type: 'delete', key });
  return out;
}

function identity(resource: unknown): string {
  const r = resource as { kind?: unknown; metadata?: { name?: unknown } };
  return `${String(r.kind)}/${String(r.metadata?.name)}`;
}
