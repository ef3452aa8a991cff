import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Health } from '../openapi/index.js';
import { traceContext } from '../topology/index.js';
import { DESCRIPTION_JSON_PATH, DESCRIPTION_JSON_TYPE } from './description.js';
import { Discovery, TOPOLOGY_PATH, type Publication } from './discovery.js';
import { CorsRule } from './cors.js';
import { GatewayHttpError, methodNotAllowed, noSnapshot, notFound } from './errors.js';
import { isHeaderSafe, linkValue, uriReference } from './header-value.js';
import type { LoopGuard } from './loop-guard.js';
import { METRICS_PATH, type GatewayMetrics } from './metrics.js';
import { DISPATCH_HEADER, Proxy } from './proxy.js';
import { sendError, sendJson } from './reply.js';
import { assertSingleHost, parseTarget, type RequestTarget } from './request-target.js';
import type { RoutePlan } from './routes.js';

/** What the gateway tells listeners of its 'request' event about each answered request. */
export interface RequestInfo {
  method: string;
  /** The normalised path (absent when the target was refused). */
  path?: string;
  /** The service the path matched. */
  service?: string;
  /** The status sent (0 when none was). */
  status: number;
  /** True when the response was not sent whole (cut by the gateway, the upstream or the client). */
  aborted?: boolean;
  durationMs: number;
  /** True when the answer came from an upstream (or, dispatching, another gateway). */
  upstream?: boolean;
  /** True when forwarded to another gateway (dispatch). */
  dispatched?: boolean;
  /** The client's `X-Request-Id` when valid, else a new one (sent upstream when proxied). */
  requestId: string;
  /** The client's `traceparent` when valid, else a new one (sent upstream when proxied). */
  traceparent: string;
}

export interface RouterDeps {
  region: string;
  id: string;
  dispatch: boolean;
  discovery: Discovery;
  proxy: Proxy;
  /** Headers for answers given before any snapshot exists. */
  fallbackHeaders: () => readonly string[];
  /** Links put in error bodies (the topology document). */
  errorLinks: () => Record<string, { href: string }>;
  /** /readyz body and whether the gateway is ready. */
  readiness: () => { ready: boolean; health: Health };
  /** True while the gateway drains: connections close after their response. */
  draining: () => boolean;
  /** Whether anyone listens to request events (so the common case pays nothing). */
  observed: () => boolean;
  onRequest: (info: RequestInfo) => void;
  /** Request counters and latencies (cheap: pre-resolved series of plain numbers). */
  metrics: GatewayMetrics;
  /** Refuses requests that loop back through this gateway (508), and marks forwarded ones. */
  loops: LoopGuard;
}

/** At most this many alternates are named in a 421 (headers and body). */
const MAX_ALTERNATES = 8;

/**
 * The gateway's request dispatch, on plain node:http: the topology document first (an exact
 * string compare), then the request target is checked, then well-known paths, health, and the
 * service whose base path matches.
 */
export class GatewayRouter {
  constructor(private readonly deps: RouterDeps) {}

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const deps = this.deps;
    if (deps.draining()) res.shouldKeepAlive = false;
    const info: RequestInfo | undefined = deps.observed() ? { method: req.method ?? '', status: 0, durationMs: 0, ...traceContext(req.headers) } : undefined;
    if (info) {
      const started = performance.now();
      // `on`, not `once`: 'close' comes once, and once's bound wrapper is a cost on every request.
      res.on('close', () => {
        info.status = res.headersSent ? res.statusCode : 0;
        if (!res.writableFinished) info.aborted = true;
        info.durationMs = performance.now() - started;
        deps.onRequest(info);
      });
    }
    const metrics = deps.metrics;
    if (req.url === TOPOLOGY_PATH) {
      if (info) info.path = TOPOLOGY_PATH;
      deps.discovery.topology(req, res, '');
      return metrics.topology.settle(res);
    }
    let target: RequestTarget;
    try {
      target = parseTarget(req.url);
      assertSingleHost(req.rawHeaders);
      // RFC 9112 §3.2.2: an absolute-form target's authority replaces the Host header.
      if (target.authority !== undefined) req.headers.host = target.authority;
    } catch (err) {
      this.fail(res, err as GatewayHttpError);
      return metrics.rejected.settle(res);
    }
    if (info) info.path = target.path;
    const path = target.path;
    if (path.startsWith('/.well-known/')) {
      deps.discovery.handle(req, res, path, target.query);
      return metrics.discovery.settle(res);
    }
    if (path === '/healthz' || path === '/readyz') {
      this.health(req, res, path);
      return metrics.health.settle(res);
    }
    if (path === METRICS_PATH) return metrics.serve(req, res, deps.discovery.publication?.common ?? deps.fallbackHeaders());
    this.route(req, res, target, info);
  };

  private route(req: IncomingMessage, res: ServerResponse, target: RequestTarget, info: RequestInfo | undefined): void {
    const pub = this.deps.discovery.publication;
    const metrics = this.deps.metrics;
    if (!pub) {
      this.fail(res, noSnapshot());
      return metrics.unrouted.settle(res);
    }
    const plan = pub.routes.match(target.path);
    if (!plan) {
      this.fail(res, notFound(`no service of environment ${pub.doc.environment} has a base path matching ${target.path}: see ${TOPOLOGY_PATH}`), pub);
      return metrics.unrouted.settle(res);
    }
    if (info) info.service = plan.name;
    // The service's CORS headers go on every answer, relayed or the gateway's own (a browser must read a 421's Link too).
    let headers = pub.common;
    if (plan.cors) {
      if (CorsRule.isPreflight(req)) {
        metrics.proxy(plan.name).track(res);
        return this.preflight(req, res, plan.cors, pub);
      }
      headers = [...pub.common, ...plan.cors.responseHeaders(req.headers.origin)];
    }
    const alternates = plan.servedHere ? undefined : plan.upstreamsForDispatch(this.deps.dispatch, req.headers[DISPATCH_HEADER] !== undefined);
    const hop = plan.servedHere || alternates ? this.deps.loops.next(req) : undefined;
    if (hop && 'error' in hop) {
      (plan.servedHere ? metrics.proxy(plan.name) : metrics.dispatch(plan.name)).track(res);
      return sendError(res, hop.error, headers, this.deps.errorLinks());
    }
    const hops = hop?.hops;
    if (plan.servedHere) {
      if (info) info.upstream = true;
      metrics.proxy(plan.name).track(res);
      return this.deps.proxy.forward(req, res, target, {
        hops,
        ...(info ? { requestId: info.requestId, traceparent: info.traceparent } : {}),
        service: plan.name,
        upstreams: plan.upstreams,
        start: plan.nextStart(),
        headers,
        ownsCors: plan.cors !== undefined,
        links: this.deps.errorLinks(),
      });
    }
    if (alternates) {
      if (info) {
        info.upstream = true;
        info.dispatched = true;
      }
      metrics.dispatch(plan.name).track(res);
      return this.deps.proxy.forward(req, res, target, {
        ...(info ? { requestId: info.requestId, traceparent: info.traceparent } : {}),
        service: plan.name,
        upstreams: alternates,
        start: 0,
        headers,
        ownsCors: plan.cors !== undefined,
        links: this.deps.errorLinks(),
        dispatchedBy: this.deps.id,
        hops,
      });
    }
    this.misdirected(res, pub, plan, target, headers);
    metrics.misdirected(plan.name).settle(res);
  }

  /** A CORS preflight for a service with a policy: answered here, never forwarded. */
  private preflight(req: IncomingMessage, res: ServerResponse, cors: CorsRule, pub: Publication): void {
    req.resume();
    const answer = cors.preflight(req);
    if (!answer.ok) return sendError(res, answer.error, pub.common, this.deps.errorLinks());
    res.writeHead(204, [...pub.common, ...answer.headers, 'Cache-Control', 'no-store']);
    res.end();
  }

  /**
   * 421: the service exists but this gateway does not serve it; name the gateways that do. The
   * request's path and query are percent-encoded into each link, and a gateway URL that is not
   * header-safe is left out, so neither a client nor an etcd record can add a link or a header.
   */
  private misdirected(res: ServerResponse, pub: Publication, plan: RoutePlan, target: RequestTarget, headers: readonly string[]): void {
    const alternates = plan.alternates().filter((g) => isHeaderSafe(g.url)).slice(0, MAX_ALTERNATES);
    const links: Record<string, { href: string; title?: string }> = {
      ...this.deps.errorLinks(),
      service: { href: `${pub.baseUrl}${TOPOLOGY_PATH}/services/${plan.name}` },
      'service-desc': { href: `${pub.baseUrl}${DESCRIPTION_JSON_PATH}` },
    };
    const linkHeaders: string[] = [];
    const rest = uriReference(`${target.path}${target.query}`);
    alternates.forEach((g, i) => {
      const href = `${g.url.replace(/\/+$/, '')}${rest}`;
      const title = `${g.id} (${g.region})`;
      links[`alternate-${i + 1}`] = { href, title };
      linkHeaders.push(linkValue(href, { rel: 'alternate', title }));
    });
    // The description of the API that tells a client where the service is served (RFC 8631).
    linkHeaders.push(linkValue(`${pub.baseUrl}${DESCRIPTION_JSON_PATH}`, { rel: 'service-desc', type: DESCRIPTION_JSON_TYPE }));
    const why =
      plan.service.placement === 'pinned' && plan.service.regions.includes(this.deps.region)
        ? `service ${plan.name} is pinned to ${(plan.service.jurisdictions ?? []).join(', ')} and this gateway (region ${this.deps.region}) is outside`
        : `service ${plan.name} is not served by this gateway (region ${this.deps.region})`;
    const where = alternates.length > 0 ? 'send the request to a gateway linked here' : 'no live gateway serves it right now; retry later';
    sendError(res, new GatewayHttpError(421, 'MISDIRECTED_REQUEST', `${why}: ${where}`), headers, links, ['Link', linkHeaders.join(', ')]);
  }

  private health(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.fail(res, methodNotAllowed('GET, HEAD'));
    const headers = this.deps.discovery.publication?.common ?? this.deps.fallbackHeaders();
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' } satisfies Health, headers);
    const { ready, health } = this.deps.readiness();
    sendJson(res, ready ? 200 : 503, health, headers);
  }

  private fail(res: ServerResponse, err: GatewayHttpError, pub = this.deps.discovery.publication): void {
    sendError(res, err, pub?.common ?? this.deps.fallbackHeaders(), this.deps.errorLinks());
  }
}
