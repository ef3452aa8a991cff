import { badRequest } from './errors.js';

/** A request target in origin form, checked and normalised. */
export interface RequestTarget {
  /** The path, empty segments collapsed; never contains a dot segment, in any encoding. */
  path: string;
  /** The query with its leading '?', or ''. Forwarded as received. */
  query: string;
}

const HEX = /^[0-9A-Fa-f]{2}$/;
/** RFC 3986 §2.3: escapes of these may be decoded without changing what a URI means. */
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const ESCAPE = /%([0-9A-Fa-f]{2})/g;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a request target. Only origin form (`/path?query`) is accepted: an absolute-form target
 * (`http://other/x`) or `*` could otherwise choose where the request goes.
 *
 * Backends disagree on what a path means, so anything one of them could read as a dot segment or
 * a separator is refused (400) rather than resolved: `.` and `..` in any encoding, also behind a
 * `;` path parameter (`..;/`, which servlet containers treat as `..`), double-encoded (`%252e`),
 * as overlong or invalid UTF-8 (`%c0%ae`), or as Unicode look-alikes (`%ef%bc%8e`, full-width
 * dots that NFKC folds to '.'); encoded slashes and backslashes, NUL, and malformed escapes.
 * Escapes of unreserved characters (`%72` for `r`) are decoded before matching, since every
 * backend reads them so. What passes cannot climb out of the service it names.
 */
export function parseTarget(url: string | undefined): RequestTarget {
  if (!url || url.charCodeAt(0) !== 47 /* / */) {
    throw badRequest('the request target must be a path (origin form, such as /hr/v1/employees); absolute URLs and * are not accepted');
  }
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  if (url.includes('#')) throw badRequest('the request target must not contain a fragment (#)');
  // Fast path: nothing that could encode or form a dot segment or an empty one.
  if (!rawPath.includes('%') && !rawPath.includes('/.') && !rawPath.includes('//') && !rawPath.includes('\\') && !/[^\x00-\x7f]/.test(rawPath)) {
    return { path: rawPath, query };
  }
  if (rawPath.includes('\\')) throw badRequest('the path must not contain a backslash');
  const segments = rawPath.split('/');
  const kept: string[] = [''];
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i];
    if (seg === '' && i < segments.length - 1) continue;
    const plain = seg.includes('%') || /[^\x00-\x7f]/.test(seg) ? decodeForCheck(seg) : seg;
    // A path parameter does not change what a segment is to servlet containers: `..;x` is `..`.
    const core = plain.split(';', 1)[0];
    if (/^\.+$/.test(core)) {
      throw badRequest(`the path ${JSON.stringify(rawPath)} contains a dot segment (., .. or a disguised one); send a normalised path`);
    }
    kept.push(seg.includes('%') ? seg.replace(ESCAPE, (e, hex: string) => (UNRESERVED.test(String.fromCharCode(parseInt(hex, 16))) ? String.fromCharCode(parseInt(hex, 16)) : e)) : seg);
  }
  const path = kept.length === 1 ? '/' : kept.join('/');
  return { path, query };
}

/**
 * A segment as a backend could read it: escapes decoded, bytes read as strict UTF-8, folded by
 * NFKC. Refuses what changes the path's structure in any of those readings.
 */
function decodeForCheck(seg: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c !== 37 /* % */) {
      // node reads raw bytes of the target as latin1: each char is one byte.
      bytes.push(c & 0xff);
      continue;
    }
    const hex = seg.slice(i + 1, i + 3);
    if (!HEX.test(hex)) throw badRequest(`the path contains a malformed escape ${JSON.stringify(seg.slice(i, i + 3))}`);
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  if (bytes.some((b) => b === 0x2f || b === 0x5c || b === 0)) {
    throw badRequest('the path must not contain an encoded slash, backslash or NUL (%2F, %5C, %00)');
  }
  let text: string;
  try {
    text = utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw badRequest('the path is not valid UTF-8 once decoded (overlong or truncated sequences are refused)');
  }
  // A second decoding (some frameworks do one) must not produce a separator or a dot either.
  if (/%(2e|2f|5c|00|3b)/i.test(text)) throw badRequest('the path contains a double-encoded dot, slash, backslash, NUL or semicolon (%25…)');
  const folded = text.normalize('NFKC');
  if (folded.includes('/') || folded.includes('\\')) throw badRequest('the path contains a character that folds to a slash or backslash');
  return folded;
}

/**
 * RFC 9112 §3.2: a request with more than one Host field line gets a 400. node accepts it (and
 * keeps the first), while an intermediary in front of the gateway may have routed on another one.
 */
export function assertSingleHost(rawHeaders: readonly string[]): void {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (seen) throw badRequest('the request has more than one Host header: send exactly one');
    seen = true;
  }
}
