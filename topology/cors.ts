/**
 * CORS of a proxied service: the policy a manifest declares (`spec.cors`), stored in the
 * service's record and answered by every gateway (preflights included), never published in the
 * discovery document. One rule for the registry (before writing), the gateway (on every record
 * read) and the manifest checker, so a policy a gateway would refuse is never written.
 */
import type { CorsPolicy } from './types.js';
import { at, ProblemList } from './problems.js';

/** Defaults of a CORS policy's optional fields (only `allowOrigins` is required). */
export const CORS_DEFAULTS = {
  /** The CORS-safelisted methods. */
  allowMethods: ['GET', 'HEAD', 'POST'],
  allowHeaders: [],
  exposeHeaders: [],
  allowCredentials: false,
  /** How long a browser may cache a preflight answer, s. */
  maxAgeSeconds: 600,
} as const satisfies Omit<Required<CorsPolicy>, 'allowOrigins'>;

/** Browsers cap a preflight cache lower (Firefox 24 h, Chromium 2 h); more says nothing. */
export const MAX_CORS_MAX_AGE_SECONDS = 86_400;
/** Entries of one list of a policy. */
export const MAX_CORS_LIST_LENGTH = 64;

/** Request headers Waymark clients send (the SDK in a browser): always allowed by a preflight. */
export const WAYMARK_REQUEST_HEADERS: readonly string[] = ['x-request-id', 'traceparent'];
/** Response headers a Waymark client reads (revision, region, 421 alternates): always exposed. */
export const WAYMARK_EXPOSED_HEADERS: readonly string[] = ['Link', 'Retry-After', 'X-Request-Id', 'X-Waymark-Revision', 'X-Waymark-Region', 'X-Waymark-Gateway'];

const FIELDS = ['allowOrigins', 'allowMethods', 'allowHeaders', 'exposeHeaders', 'allowCredentials', 'maxAgeSeconds'];
/** An HTTP token (RFC 9110 §5.6.2): what a method or a header name is. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Why `value` is not an origin a policy may list (`*`, or a serialized http(s) origin), if it is not. */
export function corsOriginProblem(value: unknown): string | undefined {
  if (value === '*') return undefined;
  if (typeof value !== 'string') return 'must be a string';
  const hint = 'must be "*" or an origin such as https://app.example.com (scheme, host and port only, lowercase, no path or trailing slash)';
  if (value.length > 2048 || /[\x00-\x20\x7f-\uffff]/.test(value)) return hint;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return hint;
  }
  // The serialized origin is what a browser sends in `Origin`: a listed origin is compared to it byte for byte.
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== value) return hint;
  return undefined;
}

/** The problems of a CORS policy (`allowOrigins[1]: must be …`); none when it is valid. */
export function validateCorsPolicy(value: unknown): string[] {
  const p = new ProblemList();
  checkCorsPolicy(value, '', p);
  return p.result();
}

/** Checks a service's `cors` field at `path`, adding each problem to `p`. */
export function checkCorsPolicy(value: unknown, path: string, p: ProblemList): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return p.add(path, 'must be an object');
  const policy = value as Record<string, unknown>;
  for (const k of Object.keys(policy)) if (!FIELDS.includes(k)) p.add(at(path, k), `is not a known field (use ${FIELDS.join(', ')})`);
  const origins = policy.allowOrigins;
  if (origins === undefined) p.add(at(path, 'allowOrigins'), 'is required: the origins whose pages may call the service, or ["*"]');
  else if (list(origins, at(path, 'allowOrigins'), p, corsOriginProblem)) {
    if (origins.length === 0) p.add(at(path, 'allowOrigins'), 'must list at least one origin');
    if (origins.includes('*') && origins.length > 1) p.add(at(path, 'allowOrigins'), '"*" must be alone: it already allows every origin');
    if (origins.includes('*') && policy.allowCredentials === true) {
      p.add(at(path, 'allowCredentials'), 'cannot be true with allowOrigins ["*"]: browsers refuse credentials with a wildcard origin; list the origins');
    }
  }
  const token = (what: string) => (v: unknown) => (typeof v === 'string' && v !== '*' && TOKEN.test(v) ? undefined : `must be ${what} (an HTTP token; "*" is not supported: list them)`);
  if (policy.allowMethods !== undefined) list(policy.allowMethods, at(path, 'allowMethods'), p, token('a method such as PUT'));
  if (policy.allowHeaders !== undefined) list(policy.allowHeaders, at(path, 'allowHeaders'), p, token('a header name such as content-type'));
  if (policy.exposeHeaders !== undefined) list(policy.exposeHeaders, at(path, 'exposeHeaders'), p, token('a header name such as x-total-count'));
  if (policy.allowCredentials !== undefined && typeof policy.allowCredentials !== 'boolean') p.add(at(path, 'allowCredentials'), 'must be true or false');
  const age = policy.maxAgeSeconds;
  if (age !== undefined && !(Number.isInteger(age) && (age as number) >= 0 && (age as number) <= MAX_CORS_MAX_AGE_SECONDS)) {
    p.add(at(path, 'maxAgeSeconds'), `must be a whole number of seconds from 0 to ${MAX_CORS_MAX_AGE_SECONDS}`);
  }
}

/** A list of at most MAX_CORS_LIST_LENGTH distinct entries (case-insensitive), each checked by `problem`. */
function list(value: unknown, path: string, p: ProblemList, problem: (v: unknown) => string | undefined): value is string[] {
  if (!Array.isArray(value)) {
    p.add(path, 'must be a list');
    return false;
  }
  if (value.length > MAX_CORS_LIST_LENGTH) {
    p.add(path, `must have at most ${MAX_CORS_LIST_LENGTH} entries`);
    return false;
  }
  const seen = new Set<string>();
  let ok = true;
  value.forEach((v, i) => {
    const why = problem(v);
    if (why) {
      p.add(at(path, i), why);
      ok = false;
    } else if (seen.has(String(v).toLowerCase())) {
      p.add(at(path, i), `${JSON.stringify(v)} is listed twice`);
    }
    seen.add(String(v).toLowerCase());
  });
  return ok;
}
