import type { IncomingMessage } from 'node:http';
import { CORS_DEFAULTS, WAYMARK_EXPOSED_HEADERS, WAYMARK_REQUEST_HEADERS, type CorsPolicy } from '../topology/index.js';
import { GatewayHttpError } from './errors.js';

/** Methods a preflight need not list (Fetch: CORS-safelisted methods). */
const SAFELISTED_METHODS = new Set(['GET', 'HEAD', 'POST']);
/** Request headers always allowed: Waymark's own, and those CORS never restricts by name. */
const ALWAYS_ALLOWED_HEADERS = new Set([...WAYMARK_REQUEST_HEADERS, 'accept', 'accept-language', 'content-language']);
const PREFLIGHT_VARY = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';

/** A preflight's answer: the headers of a 204, or why it is refused (a 403). */
export type PreflightAnswer = { ok: true; headers: string[] } | { ok: false; error: GatewayHttpError };

/**
 * A service's CORS policy, compiled once per snapshot: answers preflights and gives the headers
 * of every other answer. An `Origin` is only ever echoed when it is listed byte for byte, so no
 * request value reaches a response header unchecked.
 */
export class CorsRule {
  private readonly anyOrigin: boolean;
  private readonly origins: ReadonlySet<string>;
  private readonly methods: ReadonlySet<string>;
  private readonly headers: ReadonlySet<string>;
  private readonly credentials: boolean;
  private readonly allowMethods: string;
  private readonly maxAge: string;
  private readonly expose: string;

  constructor(policy: CorsPolicy) {
    this.anyOrigin = policy.allowOrigins.includes('*');
    this.origins = new Set(policy.allowOrigins);
    const methods = policy.allowMethods ?? CORS_DEFAULTS.allowMethods;
    this.methods = new Set(methods);
    this.allowMethods = methods.join(', ');
    this.headers = new Set((policy.allowHeaders ?? CORS_DEFAULTS.allowHeaders).map((h) => h.toLowerCase()));
    this.credentials = policy.allowCredentials ?? CORS_DEFAULTS.allowCredentials;
    this.maxAge = String(policy.maxAgeSeconds ?? CORS_DEFAULTS.maxAgeSeconds);
    this.expose = [...WAYMARK_EXPOSED_HEADERS, ...(policy.exposeHeaders ?? CORS_DEFAULTS.exposeHeaders)].join(', ');
  }

  /** A CORS preflight (Fetch §4.8): OPTIONS with Origin and Access-Control-Request-Method. */
  static isPreflight(req: IncomingMessage): boolean {
    return req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined;
  }

  preflight(req: IncomingMessage): PreflightAnswer {
    const origin = req.headers.origin;
    const allowOrigin = this.allowOrigin(origin);
    const refuse = (code: string, message: string): PreflightAnswer => ({ ok: false, error: new GatewayHttpError(403, code, message, ['Vary', PREFLIGHT_VARY]) });
    if (allowOrigin === undefined) return refuse('CORS_ORIGIN_NOT_ALLOWED', 'this origin may not call the service from a browser: its CORS policy does not list it');
    const method = String(req.headers['access-control-request-method']);
    if (!SAFELISTED_METHODS.has(method) && !this.methods.has(method)) {
      return refuse('CORS_METHOD_NOT_ALLOWED', `the service's CORS policy allows only ${this.allowMethods} from a browser`);
    }
    const requested = String(req.headers['access-control-request-headers'] ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean);
    const refused = requested.filter((h) => !ALWAYS_ALLOWED_HEADERS.has(h) && !this.headers.has(h));
    if (refused.length > 0) {
      // Only counted, never quoted: the names come from the request.
      return refuse('CORS_HEADER_NOT_ALLOWED', `${refused.length} requested header(s) are not allowed by the service's CORS policy (allowHeaders)`);
    }
    const headers = ['Access-Control-Allow-Origin', allowOrigin, 'Access-Control-Allow-Methods', this.allowMethods];
    // Every requested name is a member of an allowed set, so echoing them is safe.
    if (requested.length > 0) headers.push('Access-Control-Allow-Headers', requested.join(', '));
    if (this.credentials) headers.push('Access-Control-Allow-Credentials', 'true');
    headers.push('Access-Control-Max-Age', this.maxAge, 'Vary', PREFLIGHT_VARY);
    return { ok: true, headers };
  }

  /** Headers of any other answer to a request with this Origin: CORS ones when allowed, and always `Vary: Origin`. */
  responseHeaders(origin: string | string[] | undefined): string[] {
    const allowOrigin = this.allowOrigin(origin);
    if (allowOrigin === undefined) return ['Vary', 'Origin'];
    const out = ['Access-Control-Allow-Origin', allowOrigin, 'Access-Control-Expose-Headers', this.expose];
    if (this.credentials) out.push('Access-Control-Allow-Credentials', 'true');
    out.push('Vary', 'Origin');
    return out;
  }

  /** The Access-Control-Allow-Origin value for an Origin, or undefined when it is not allowed. */
  private allowOrigin(origin: string | string[] | undefined): string | undefined {
    if (typeof origin !== 'string') return undefined;
    if (this.anyOrigin) return this.credentials ? undefined : '*';
    return this.origins.has(origin) ? origin : undefined;
  }
}
