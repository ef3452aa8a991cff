import type { IncomingMessage } from 'node:http';
import { badFraming } from './errors.js';

/** How a request's body is delimited, once checked: no body, a Content-Length, or chunked. */
export type RequestFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

/**
 * Headers that delimit messages or name the origin: a `Connection` header listing them is not
 * obeyed, so a client can never make the proxy drop them (only genuine hop-by-hop headers go).
 */
export const NEVER_HOP_BY_HOP: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'host']);

const DIGITS = /^[0-9]+$/;

/**
 * Throws `BAD_FRAMING` (400, connection closed) when another parser could delimit the request's
 * body differently than node did; every request is checked before it is routed. node's parser
 * (llhttp, strict) already refuses Content-Length with Transfer-Encoding, a repeated or
 * non-numeric Content-Length, obs-fold, and a Transfer-Encoding whose last coding is not chunked.
 * It still accepts, and this refuses:
 * - any Transfer-Encoding but a single `chunked`: `identity, chunked`, `gzip, chunked`,
 *   `,chunked`, `identity` and `chunked` on two lines, and an empty value, which llhttp reads as
 *   no body at all (even next to a Content-Length);
 * - Transfer-Encoding in HTTP/1.0, faulty framing by RFC 9112 §6.1.
 * llhttp's own refusals are repeated, so they hold even under a lenient parser.
 */
export function checkFraming(req: IncomingMessage): void {
  const raw = req.rawHeaders;
  let length: string | undefined;
  let lengths = 0;
  let coding: string | undefined;
  let codings = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'content-length') {
      lengths += 1;
      length = raw[i + 1].trim();
    } else if (name === 'transfer-encoding') {
      codings += 1;
      coding = raw[i + 1].trim().toLowerCase();
    }
  }
  if (codings > 0) {
    if (lengths > 0) throw badFraming('the request has both Content-Length and Transfer-Encoding: send one');
    if (req.httpVersion === '1.0') throw badFraming('Transfer-Encoding is not part of HTTP/1.0: send a Content-Length');
    if (codings > 1 || coding !== 'chunked') {
      throw badFraming('the only Transfer-Encoding accepted is a single "chunked" (no other coding, list or repetition)');
    }
    return;
  }
  if (lengths > 1) throw badFraming('the request has more than one Content-Length: send one');
  if (lengths === 1 && !(length !== undefined && DIGITS.test(length) && Number.isSafeInteger(Number(length)))) {
    throw badFraming(`Content-Length ${JSON.stringify(length)} is not a byte count`);
  }
}

/** How the body of a request that passed checkFraming is delimited. */
export function requestFraming(req: IncomingMessage): RequestFraming {
  if (req.headers['transfer-encoding'] !== undefined) return { kind: 'chunked' };
  const length = req.headers['content-length'];
  return length === undefined ? { kind: 'none' } : { kind: 'length', length: Number(length) };
}

/** The `Connection` values nearly every message carries, answered without parsing. */
const COMMON_CONNECTION: ReadonlyMap<string, ReadonlySet<string> | undefined> = new Map<string, ReadonlySet<string> | undefined>([
  // keep-alive is hop-by-hop already: listing it drops nothing more.
  ['keep-alive', undefined],
  ['Keep-Alive', undefined],
  ['close', new Set(['close'])],
  ['Close', new Set(['close'])],
]);

/**
 * The header fields listed in a `Connection` header (lower case), which the proxy drops with it,
 * minus NEVER_HOP_BY_HOP.
 */
export function connectionTokens(value: string | undefined): ReadonlySet<string> | undefined {
  if (!value) return undefined;
  const common = COMMON_CONNECTION.get(value);
  if (common !== undefined || COMMON_CONNECTION.has(value)) return common;
  const out = new Set<string>();
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase();
    if (token && !NEVER_HOP_BY_HOP.has(token)) out.add(token);
  }
  return out;
}
