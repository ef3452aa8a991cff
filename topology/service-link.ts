/**
 * The rule for a service's `docs` and `openapi` links, published in the public document and the
 * API catalog: an absolute http(s) URL, or a path under the service's base path (served through
 * the gateway, so it resolves against whichever gateway a client asks). One rule for the
 * registry, the gateway and the SDK, so no document can aim a client at `javascript:` or at
 * another service's paths.
 */
import { publicUrlProblem } from './url.js';

/** The longest link accepted (the contract's `ServiceLink.maxLength`). */
export const MAX_SERVICE_LINK_LENGTH = 2048;

/** Characters no link may hold: a link reaches JSON read by browsers and terminals. */
const UNSAFE = /[\x00-\x20\x7f-\uffff<>"\\^`{|}]/;

/** Why `value` is not a valid docs/openapi link of a service at `basePath`, or undefined. */
export function serviceLinkProblem(value: unknown, basePath: string): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length > MAX_SERVICE_LINK_LENGTH) return `must be at most ${MAX_SERVICE_LINK_LENGTH} characters`;
  if (UNSAFE.test(value)) return 'must not contain spaces, control, non-ASCII or unsafe characters';
  if (!value.startsWith('/')) {
    const problem = publicUrlProblem(value);
    return problem === undefined ? undefined : `must be an absolute http(s) URL or a path under the base path ${basePath} (${problem})`;
  }
  const path = value.split(/[?#]/, 1)[0]!;
  const prefix = basePath.endsWith('/') ? basePath : `${basePath}/`;
  // Dot segments and encoded separators would leave the base path once a server normalizes them.
  const escapes = path.split('/').some((seg) => seg === '.' || seg === '..') || /%(2e|2f|5c)/i.test(path);
  if (escapes || (path !== basePath && path !== prefix.slice(0, -1) && !path.startsWith(prefix))) {
    return `must be an absolute http(s) URL or a path under the base path ${basePath}, such as ${prefix}openapi.json`;
  }
  return undefined;
}
