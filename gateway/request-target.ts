import { badRequest } from './errors.js';

/** A request target in origin form, checked and normalised. */
export interface RequestTarget {
  /** The path, empty segments collapsed; never contains a dot segment, in any encoding. */
  path: string;
  /** The query with its leading '?', or ''. Forwarded as received. */
  query: string;
}

const HEX = /^[0-9A-Fa-f]{2}$/;

/**
 * Parses a request target. Only origin form (`/path?query`) is accepted: an absolute-form target
 * (`http://other/x`) or `*` could otherwise choose where the request goes. Dot segments (`..`,
 * `%2e%2e`), encoded slashes and backslashes, NUL and malformed escapes are refused rather than
 * resolved, so a path can never climb out of the service it names, whatever the upstream decodes.
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
  if (!rawPath.includes('%') && !rawPath.includes('/.') && !rawPath.includes('//') && !rawPath.includes('\\')) {
    return { path: rawPath, query };
  }
  if (rawPath.includes('\\')) throw badRequest('the path must not contain a backslash');
  const segments = rawPath.split('/');
  const kept: string[] = [''];
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i];
    if (seg === '' && i < segments.length - 1) continue;
    const plain = seg.includes('%') ? decodeForCheck(seg) : seg;
    if (plain === '.' || plain === '..') {
      throw badRequest(`the path ${JSON.stringify(rawPath)} contains a dot segment (. or ..); send a normalised path`);
    }
    kept.push(seg);
  }
  const path = kept.length === 1 ? '/' : kept.join('/');
  return { path, query };
}

/** Decodes the escapes that matter for path safety; refuses those that change the path's structure. */
function decodeForCheck(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = seg.slice(i + 1, i + 3);
    if (!HEX.test(hex)) throw badRequest(`the path contains a malformed escape ${JSON.stringify(seg.slice(i, i + 3))}`);
    const code = parseInt(hex, 16);
    if (code === 0x2f || code === 0x5c || code === 0) {
      throw badRequest('the path must not contain an encoded slash, backslash or NUL (%2F, %5C, %00)');
    }
    // Only dots matter for the comparison that follows; any other character stands in as '%'.
    out += code === 0x2e ? '.' : '%';
    i += 2;
  }
  return out;
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
