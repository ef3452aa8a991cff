/**
 * The gateway URL rule: what a gateway may publish as its address and what a client may send
 * calls to: an http(s) origin (a hostile record must not steer clients to `file:` or
 * `javascript:`, nor to a path of another server), no credentials, query or fragment, and
 * nothing that could split a header.
 */

const MAX_URL_LENGTH = 2048;

/** Why `value` is not a usable gateway URL, or undefined when it is one. */
export function gatewayUrlProblem(value: unknown): string | undefined {
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
  // An origin only: a path would let a document aim a service's calls at any path of any host.
  if (url.pathname !== '/') return 'must be an origin (scheme, host and port) without a path';
  return undefined;
}

export function isValidGatewayUrl(value: unknown): value is string {
  return gatewayUrlProblem(value) === undefined;
}
