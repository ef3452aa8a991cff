/**
 * The URL rules of the core: what a gateway may publish as its address and what a client may
 * send calls to, and what a gateway may proxy to. http(s) only (a hostile record must not steer
 * clients to `file:` or `javascript:`), RFC 3986 characters only, and nothing that could split a
 * header. A gateway URL is an origin: a path would let a document aim calls at any path of any host. Both are stricter than the contract's `format: uri`, never looser (a unit test checks).
 */

const MAX_URL_LENGTH = 2048;

const PCT = '%[0-9A-Fa-f]{2}';
/** A host name or IPv4 address, or a bracketed IPv6 literal, and a port. */
const HOST = `(?:(?:[A-Za-z0-9\\-._~!$&'()*+,;=]|${PCT})+|\\[[0-9A-Fa-f:.]+\\])(?::\\d{1,5})?`;
/** Segments of unreserved, sub-delims, ':' or '@' characters or valid percent-escapes. */
const PATH = `(?:/(?:[A-Za-z0-9\\-._~!$&'()*+,;=:@]|${PCT})*)*`;
const USERINFO = `(?:(?:[A-Za-z0-9\\-._~!$&'()*+,;=:]|${PCT})*@)?`;
const QUERY = `(?:\\?(?:[A-Za-z0-9\\-._~!$&'()*+,;=:@/?]|${PCT})*)?`;

const GATEWAY_URL = new RegExp(`^https?://${HOST}${PATH}$`);
const UPSTREAM_URL = new RegExp(`^https?://${USERINFO}${HOST}${PATH}${QUERY}$`);

/** The parsed URL, or why `value` is not an absolute http(s) URL. */
function parseHttpUrl(value: unknown): { problem: string } | { url: URL; text: string } {
  if (typeof value !== 'string') return { problem: 'must be a string' };
  if (value.length > MAX_URL_LENGTH) return { problem: `must be at most ${MAX_URL_LENGTH} characters` };
  // WHATWG parsing strips tabs and newlines silently: refuse them (and every control character) first.
  if (/[\x00-\x20\x7f-\uffff<>"\\^`{|}]/.test(value)) return { problem: 'must not contain spaces, control, non-ASCII or unsafe characters' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: 'must be an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { problem: `must be an http(s) URL, got ${url.protocol}` };
  if (!url.hostname) return { problem: 'must name a host' };
  return { url, text: value };
}

/** Why `value` is not a usable gateway URL (no credentials, query or fragment), or undefined when it is one. */
export function gatewayUrlProblem(value: unknown): string | undefined {
  const parsed = parseHttpUrl(value);
  if ('problem' in parsed) return parsed.problem;
  const { url, text } = parsed;
  if (url.username || url.password || url.search || url.hash || text.includes('?') || text.includes('#')) {
    return 'must not carry credentials, a query or a fragment';
  }
  if (!GATEWAY_URL.test(text)) return 'must be http(s)://host[:port] with a lower-case scheme and a valid percent-encoding';
  // An origin only: a path would let a document aim a service's calls at any path of any host.
  if (url.pathname !== '/') return 'must be an origin (scheme, host and port) without a path';
  return undefined;
}

export function isValidGatewayUrl(value: unknown): value is string {
  return gatewayUrlProblem(value) === undefined;
}

/**
 * Why `value` is not an upstream a gateway could proxy to, or undefined: what every reader can
 * handle safely. Userinfo and a query are left to the registry's upstream policy; a fragment
 * means nothing to a server.
 */
export function upstreamUrlProblem(value: unknown): string | undefined {
  const parsed = parseHttpUrl(value);
  if ('problem' in parsed) return parsed.problem;
  if (parsed.url.hash || parsed.text.includes('#')) return 'must not carry a fragment';
  if (!UPSTREAM_URL.test(parsed.text)) return 'must be http(s)://host[:port][/path][?query] with a lower-case scheme and a valid percent-encoding';
  return undefined;
}

/**
 * Why `value` is not a link a public document may carry to another site (a service's docs or
 * description), or undefined: absolute http(s), no credentials (the document is public).
 */
export function publicUrlProblem(value: unknown): string | undefined {
  const parsed = parseHttpUrl(value);
  if ('problem' in parsed) return parsed.problem;
  if (parsed.url.username || parsed.url.password) return 'must not carry credentials';
  return undefined;
}
