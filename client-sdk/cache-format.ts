import { checkDocument } from './document.js';
import { InvalidTopologyError } from './errors.js';
import type { CachedTopology } from './platform.js';

/** The text a cache keeps: `{ confirmedAt, document }`, the same in a file and in localStorage. */
export function serializeCached(entry: CachedTopology): string {
  return JSON.stringify({ confirmedAt: entry.confirmedAt.toISOString(), document: entry.document });
}

/** Reads a cache's text back; InvalidTopologyError naming `source` when it is unusable. */
export function parseCached(text: string, source: string): CachedTopology {
  let data: { document?: unknown; confirmedAt?: unknown };
  try {
    data = JSON.parse(text) as typeof data;
  } catch (err) {
    throw new InvalidTopologyError(source, 'malformed', [`not JSON: ${(err as Error).message}`]);
  }
  const confirmedAt = new Date(typeof data?.confirmedAt === 'string' ? data.confirmedAt : Number.NaN);
  if (Number.isNaN(confirmedAt.getTime())) throw new InvalidTopologyError(source, 'malformed', ['confirmedAt: must be a date-time']);
  return { document: checkDocument(data.document, source), confirmedAt };
}
