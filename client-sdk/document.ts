import type { TopologyDocument } from '../openapi/index.js';
import { validateTopologyDocument } from '../topology/index.js';
import { InvalidTopologyError } from './errors.js';

/** Parses a received body into a checked document; throws InvalidTopologyError naming each problem. */
export function parseDocument(body: string, source: string, maxBytes: number): TopologyDocument {
  if (utf8Length(body, maxBytes) > maxBytes) {
    throw new InvalidTopologyError(source, 'too-large', [`the document is larger than ${maxBytes} bytes`]);
  }
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (err) {
    throw new InvalidTopologyError(source, 'malformed', [`not JSON: ${(err as Error).message}`]);
  }
  return checkDocument(data, source);
}

/**
 * Checks that `data` is a TopologyDocument the SDK can route on, by the core's document rule
 * (`validateTopologyDocument`, the same rule the gateway's records pass): the contract's shape,
 * http(s) gateway URLs only (a hostile gateway must not steer calls to `file:` or `javascript:`),
 * unique names, and services that only name regions of the document.
 */
export function checkDocument(data: unknown, source: string): TopologyDocument {
  const problems = validateTopologyDocument(data);
  if (problems.length > 0) throw new InvalidTopologyError(source, 'malformed', problems);
  return data as TopologyDocument;
}

/** UTF-8 length of `text`, encoded only when its characters alone do not settle it against `limit`. */
function utf8Length(text: string, limit: number): number {
  if (text.length > limit) return text.length;
  if (text.length * 3 <= limit) return text.length;
  return new TextEncoder().encode(text).length;
}
