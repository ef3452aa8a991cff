/**
 * The URL rules of the core: what a gateway may publish as its address and what a client may
 * send calls to, and what a gateway may proxy to. http(s) only (a hostile record must not steer
 * clients to `file:` or `javascript:`), no credentials, query or fragment, and nothing that could
 * split a header.
 */

const MAX_URL_LENGTH = 2048;

/**
 * `http(s)://host[:port][/path]` in RFC 3986 characters only: a host name (or IPv4 address), or a
 * bracketed IPv6 literal; each path segment of unreserved, sub-delims, ':' or '@' characters or
 * valid percent-escapes. Stricter than the contract's `format: uri`, never looser.
 */
const HTTP_URL =
  /^https?:\/\/(?:(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)*$/;

/** Why `value` is not a usable http(s) URL, or undefined when it is one. */
function httpUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  // WHATWG parsing strips tabs and newlines silently: refuse them (and every control character) first.
  if (/[\x00-\x20\x7f-\uffff<>"\\^`{|}]/.test(value)) return 'must not contain spaces, control, non-ASCII or unsafe characters';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must be an http(s) URL, got ${url.protocol}`;
  if (!url.hostname) return 'must name a host';
  if (url.username || url.password || url.search || url.hash || value.includes('?') || value.includes('#')) {
    return 'must not carry credentials, a query or a fragment';
  }
  if (!HTTP_URL.test(value)) return 'must be http(s)://host[:port][/path] with a lower-case scheme and a valid percent-encoding';
  return undefined;
}

/** Why `value` is not a usable gateway URL, or undefined when it is one. */
export function gatewayUrlProblem(value: unknown): string | undefined {
  return httpUrlProblem(value);
}

export function isValidGatewayUrl(value: unknown): value is string {
  return gatewayUrlProblem(value) === undefined;
}

/**
 * Why `value` is not an upstream a gateway may proxy to, or undefined. The same shape as a
 * gateway URL: the registry adds its own policy (which hosts) before writing.
 */
export function upstreamUrlProblem(value: unknown): string | undefined {
  return httpUrlProblem(value);
}
