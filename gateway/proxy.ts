import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HOP_BY_HOP_HEADERS, newRequestId, newTraceparent, validRequestId, validTraceparent } from '../topology/index.js';
import { GatewayHttpError, payloadTooLarge, uploadsBusy } from './errors.js';
import { Exchange, type ExchangeHost } from './exchange.js';
import { connectionTokens, requestFraming, type RequestFraming } from './framing.js';
import { HOPS_HEADER } from './loop-guard.js';
import type { UpstreamErrorReason } from './metrics.js';
import { sendError } from './reply.js';
import { readBodyStart, type BodyLimits, type BodyStart } from './request-body.js';
import type { RequestTarget } from './request-target.js';
import type { Upstream } from './routes.js';
import { UpstreamPools, type PoolLimits } from './upstream-pools.js';
import type { ProxyGuard } from './upstream-guard.js';

/** What the proxy needs from the gateway's options. */
export interface ProxySettings extends BodyLimits, PoolLimits {
  id: string;
}

/** One forwarding job: where to, and what the answers carry. */
export interface ForwardContext {
  /** Service name, for error messages; also the pool of upstream sockets used. */
  service: string;
  /** Candidates, tried in order from `start`, each at most once. */
  upstreams: readonly Upstream[];
  start: number;
  /** Raw header pairs added to every response (X-Waymark-*). */
  headers: readonly string[];
  /** Links put in error bodies. */
  links: Record<string, { href: string }>;
  /** Set when forwarding to another gateway (dispatch): marks the request so it is not dispatched again. */
  dispatchedBy?: string;
  /** The request's id and traceparent when the caller already settled them (to log the same ones). */
  requestId?: string;
  traceparent?: string;
  /** X-Waymark-Hops to send (the gateways this request went through, this one last): see loop-guard.ts. */
  hops?: string;
  /** The gateway answers CORS for this service (its headers are in `headers`): the upstream's `Access-Control-*` are dropped. */
  ownsCors?: boolean;
}

/** Marks a request forwarded by a dispatching gateway; a gateway never dispatches such a request again. */
export const DISPATCH_HEADER = 'x-waymark-dispatched-by';

/** Request headers the proxy sets itself (merging what the client sent where that makes sense). */
const REPLACED_ON_REQUEST = new Set([
  'host',
  // The body is re-framed: the proxy sends the length of what it read, or chunks.
  'content-length',
  'expect',
  'forwarded',
  'via',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'traceparent',
  DISPATCH_HEADER,
  HOPS_HEADER,
]);

/** Response headers the gateway sets itself. */
const REPLACED_ON_RESPONSE = new Set(['via', 'x-request-id', 'x-waymark-revision', 'x-waymark-region', 'x-waymark-gateway']);

/** Response headers not passed on: one lookup per field. */
const DROPPED_ON_RESPONSE = new Set([...HOP_BY_HOP_HEADERS, ...REPLACED_ON_RESPONSE]);

const NO_BODY: BodyStart = { complete: true, bytes: Buffer.alloc(0) };

/**
 * Streams requests to upstreams and responses back, over pooled keep-alive connections (undici,
 * one set of pools per service: see upstream-pools.ts). Only the upstreams handed in are ever
 * contacted: the request target and Host header choose nothing. Every request goes out with the
 * framing the proxy chose for the body it read itself (see `send`), whatever the method, so no
 * byte of a body is ever read upstream as another request. A body is read up to `bodyBufferBytes` before any upstream socket is taken.
 * A connect failure or timeout moves on to the next candidate (when the body can be sent again);
 * when all fail the answer is a JSON 502 or 504. An upstream connection whose exchange did not
 * end cleanly is destroyed, never reused.
 */
export class Proxy {
  private readonly pools: UpstreamPools;
  /** This gateway's Via element for HTTP/1.1 exchanges, the usual case. */
  private readonly via11: string;
  /** What each request's Exchange uses of the proxy: made once, shared by every request. */
  private readonly host: ExchangeHost;

  constructor(
    private readonly settings: ProxySettings,
    /** Told of every failed upstream exchange (for metrics): the service and why, never the address. */
    private readonly onUpstreamError: (service: string, reason: UpstreamErrorReason) => void = () => undefined,
    /** The upstream rules, checked before connecting, on the resolved address and on the socket. */
    private readonly guard?: ProxyGuard,
  ) {
    this.pools = new UpstreamPools(settings, guard);
    this.via11 = `1.1 ${settings.id}`;
    this.host = {
      settings,
      refuses: (up, use) => this.guard?.check(up, use) !== undefined,
      dispatcher: (service, up, use) => this.pools.pool(service, up, use),
      upstreamError: (service, reason) => this.onUpstreamError(service, reason),
      fail: (x, err) => this.fail(x.req, x.res, x.ctx, err, x.requestId),
      responseHeaders: (raw, x) => this.responseHeaders(raw, x.requestId, x.ctx.headers, x.ctx.ownsCors === true),
    };
  }

  forward(req: IncomingMessage, res: ServerResponse, target: RequestTarget, ctx: ForwardContext): void {
    const requestId = ctx.requestId ?? validRequestId(req.headers['x-request-id']) ?? newRequestId();
    const framing = requestFraming(req);
    if (framing.kind === 'length' && framing.length > this.settings.maxBodyBytes) {
      return this.fail(req, res, ctx, payloadTooLarge(this.settings.maxBodyBytes), requestId);
    }
    if (ctx.upstreams.length === 0) {
      return this.fail(
        req,
        res,
        ctx,
        new GatewayHttpError(502, 'NO_UPSTREAM', `service ${ctx.service} has no usable upstream for this gateway: check its deployments`),
        requestId,
      );
    }
    if (framing.kind === 'none') return this.send(req, res, target, ctx, requestId, framing, NO_BODY);
    void readBodyStart(req, this.settings).then((start) => {
      if ('gone' in start) return;
      if ('error' in start) return this.fail(req, res, ctx, start.error, requestId);
      this.send(req, res, target, ctx, requestId, framing, start);
    });
  }

  /**
   * Sends the request with the body read so far: a complete body with its Content-Length (none
   * when the client sent no body), the rest of a larger one streamed under its Content-Length or
   * in chunks, while one of the service's upload slots is held.
   */
  private send(
    req: IncomingMessage,
    res: ServerResponse,
    target: RequestTarget,
    ctx: ForwardContext,
    requestId: string,
    framing: RequestFraming,
    body: BodyStart,
  ): void {
    let release: (() => void) | undefined;
    if (!body.complete) {
      release = this.pools.claimUpload(ctx.service);
      if (!release) return this.fail(req, res, ctx, uploadsBusy(ctx.service), requestId);
    }
    const headers = this.requestHeaders(req, requestId, ctx.dispatchedBy, ctx.traceparent, ctx.hops);
    if (body.complete) {
      if (framing.kind !== 'none') headers.push('Content-Length', String(body.bytes.length));
    } else if (framing.kind === 'length') {
      headers.push('Content-Length', String(framing.length));
    }
    // Otherwise the rest streams in chunks (undici chunks a body of unknown length).
    new Exchange(this.host, req, res, target, ctx, requestId, framing, body, headers, release).attempt(0);
  }

  close(): void {
    this.pools.close();
  }

  private fail(req: IncomingMessage, res: ServerResponse, ctx: ForwardContext, err: GatewayHttpError, requestId: string): void {
    // Answered before the body was read: the rest of it is not waited for, the connection ends.
    if (!req.complete) res.shouldKeepAlive = false;
    sendError(res, err, ctx.headers, ctx.links, ['X-Request-Id', requestId]);
  }

  /** The headers sent upstream; index 1 holds the Host value, set per attempt on a copy. */
  private requestHeaders(
    req: IncomingMessage,
    requestId: string,
    dispatchedBy: string | undefined,
    traceparent: string | undefined,
    hops: string | undefined,
  ): string[] {
    const raw = req.rawHeaders;
    const listed = connectionTokens(req.headers.connection);
    const out: string[] = ['Host', ''];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      if (HOP_BY_HOP_HEADERS.has(name) || REPLACED_ON_REQUEST.has(name) || listed?.has(name)) continue;
      out.push(raw[i], raw[i + 1]);
    }
    const client = clientAddress(req.socket);
    const proto = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
    const host = req.headers.host;
    const forwardedFor = req.headers['x-forwarded-for'];
    const forwarded = joined(req.headers.forwarded);
    const via = joined(req.headers.via);
    const self = req.httpVersion === '1.1' ? this.via11 : `${req.httpVersion} ${this.settings.id}`;
    const forwardedElement = `for=${forwardedNode(client)}${host ? `;host=${quoted(host)}` : ''};proto=${proto};by=_${this.settings.id}`;
    out.push(
      'X-Forwarded-For',
      forwardedFor ? `${joined(forwardedFor)}, ${client}` : client,
      'X-Forwarded-Proto',
      proto,
      'Forwarded',
      forwarded ? `${forwarded}, ${forwardedElement}` : forwardedElement,
      'Via',
      via ? `${via}, ${self}` : self,
      'X-Request-Id',
      requestId,
      'traceparent',
      traceparent ?? validTraceparent(req.headers.traceparent) ?? newTraceparent(),
    );
    if (host) out.push('X-Forwarded-Host', host);
    if (dispatchedBy) out.push('X-Waymark-Dispatched-By', dispatchedBy);
    if (hops) out.push('X-Waymark-Hops', hops);
    return out;
  }

  private responseHeaders(rawHeaders: Buffer[], requestId: string, extra: readonly string[], ownsCors: boolean): string[] {
    const out: string[] = [];
    let connection: string | undefined;
    let via: string | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      // Header bytes are latin1, as node reads them.
      const name = rawHeaders[i].toString('latin1');
      const lower = name.toLowerCase();
      if (DROPPED_ON_RESPONSE.has(lower)) {
        if (lower === 'connection') connection = joinedValue(connection, rawHeaders[i + 1].toString('latin1'));
        else if (lower === 'via') via = joinedValue(via, rawHeaders[i + 1].toString('latin1'));
        continue;
      }
      if (ownsCors && lower.startsWith('access-control-')) continue;
      out.push(name, rawHeaders[i + 1].toString('latin1'));
    }
    const listed = connectionTokens(connection);
    const kept = listed ? withoutListed(out, listed) : out;
    // undici speaks HTTP/1.1 to upstreams.
    kept.push('Via', via ? `${via}, ${this.via11}` : this.via11, 'X-Request-Id', requestId);
    for (let i = 0; i < extra.length; i++) kept.push(extra[i]);
    return kept;
  }
}

function joinedValue(previous: string | undefined, value: string): string {
  return previous === undefined ? value : `${previous}, ${value}`;
}

/** The name/value pairs whose name a `Connection` header did not list. */
function withoutListed(pairs: string[], listed: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < pairs.length; i += 2) if (!listed.has(pairs[i].toLowerCase())) out.push(pairs[i], pairs[i + 1]);
  return out;
}

function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function clientAddress(socket: Socket): string {
  const a = socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** RFC 7239 node: IPv6 addresses are bracketed and quoted. */
function forwardedNode(address: string): string {
  return address.includes(':') ? `"[${address}]"` : address;
}

function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}
