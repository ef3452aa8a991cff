import { isValidName } from '../topology/index.js';

/** The suffix that marks a host name as a Waymark service in proxy requests (`http://catalog.waymark/...`). */
export const SERVICE_HOST_SUFFIX = '.waymark';

/** A request the agent routes: the service and the path under its base path (query included). */
export interface AgentTarget {
  service: string;
  path: string;
}

/** Why a request target names no service; `status` is the agent's answer. */
export interface TargetProblem {
  status: 400 | 404 | 405;
  code: string;
  message: string;
}

/**
 * Reads the service and path from a request, in the three forms the agent accepts:
 * - absolute-form, as sent to an `HTTP_PROXY`: `GET http://catalog/items/42` or `http://catalog.waymark/items/42`;
 * - origin-form with a service host: `Host: catalog.waymark`, `GET /items/42`;
 * - origin-form under the agent's base URL: `GET /catalog/items/42`.
 * The path is relative to the service's base path, as with `client.request(service, { url })`.
 */
export function parseTarget(method: string, rawUrl: string, host: string | undefined): AgentTarget | TargetProblem {
  if (method === 'CONNECT') {
    return {
      status: 405,
      code: 'CONNECT_UNSUPPORTED',
      message: 'the agent does not tunnel (CONNECT): call http://<service>/... through it; it speaks TLS to the gateways itself',
    };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rawUrl)) {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return { status: 400, code: 'INVALID_TARGET', message: `the request target ${JSON.stringify(rawUrl)} is not a URL` };
    }
    if (url.protocol !== 'http:') {
      return { status: 400, code: 'INVALID_TARGET', message: `only http:// targets are routed, got ${url.protocol}; the agent chooses http or https towards each gateway` };
    }
    return byHost(url.hostname, `${url.pathname}${url.search}`, true) ?? unknownHost(url.hostname);
  }
  if (!rawUrl.startsWith('/')) return { status: 400, code: 'INVALID_TARGET', message: `the request target ${JSON.stringify(rawUrl)} is neither a path nor an http:// URL` };
  const hostname = host?.replace(/:\d*$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (hostname?.endsWith(SERVICE_HOST_SUFFIX)) return byHost(hostname, rawUrl, false) ?? unknownHost(hostname);
  const match = /^\/([^/?#]*)(.*)$/s.exec(rawUrl)!;
  const service = decodeSegment(match[1]!);
  if (service === undefined || !isValidName(service)) {
    return {
      status: 404,
      code: 'NO_SERVICE_IN_PATH',
      message: `the first path segment must name a service (a DNS label), as in /catalog/items/42; got ${JSON.stringify(match[1])}`,
    };
  }
  return { service, path: match[2]! };
}

function byHost(hostname: string, path: string, bare: boolean): AgentTarget | undefined {
  const name = hostname.toLowerCase();
  const service = name.endsWith(SERVICE_HOST_SUFFIX) ? name.slice(0, -SERVICE_HOST_SUFFIX.length) : bare ? name : '';
  if (!isValidName(service)) return undefined;
  return { service, path };
}

function unknownHost(hostname: string): TargetProblem {
  return {
    status: 404,
    code: 'NOT_A_SERVICE',
    message: `${hostname} is not a Waymark service name (a DNS label, optionally with ${SERVICE_HOST_SUFFIX}); the agent is not an open proxy: list other hosts in NO_PROXY`,
  };
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
