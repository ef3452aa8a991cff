import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import type { UpstreamUse } from '../policy/index.js';
import { IDEMPOTENT_METHODS } from '../topology/index.js';
import { GatewayHttpError, payloadTooLarge } from './errors.js';
import type { RequestFraming } from './framing.js';
import type { UpstreamErrorReason } from './metrics.js';
import { watchBodyRate, type BodyLimits, type BodyStart } from './request-body.js';
import type { ForwardContext } from './proxy.js';
import type { RequestTarget } from './request-target.js';
import type { Upstream } from './routes.js';
import { upstreamRefused, UpstreamRefusedError } from './upstream-guard.js';

/** What an exchange needs from the proxy that runs it. */
export interface ExchangeHost {
  readonly settings: BodyLimits & { upstreamTimeoutMs: number };
  /** True when the upstream rules refuse this candidate (checked before each attempt). */
  refuses(up: Upstream, use: UpstreamUse): boolean;
  dispatcher(service: string, up: Upstream, use: UpstreamUse): Dispatcher;
  upstreamError(service: string, reason: UpstreamErrorReason): void;
  /** Answers the client with the gateway's own error. */
  fail(exchange: Exchange, err: GatewayHttpError): void;
  /** The head relayed to the client for an upstream's answer. */
  responseHeaders(raw: Buffer[], exchange: Exchange): string[];
}

/** undici's timeouts: connecting, waiting for the answer's head, and inactivity within its body. */
const TIMEOUT_ERRORS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

/** An upstream that answered 101 to a request asking for no protocol change (some draw no error from undici). */
class UpstreamSwitchedProtocols extends Error {
  constructor() {
    super('upstream answered 101 Switching Protocols');
  }
}

/**
 * One proxied request: its attempts at the candidate upstreams in turn (each an `Attempt`, the
 * handler undici calls), and the answer relayed to the client. State lives in fields rather than
 * in closures made per request. The request goes out with the framing the proxy chose for the
 * body it read (see Proxy), so no byte of a body is ever read upstream as another request.
 */
export class Exchange {
  /** The client left, or the answer ended before the request did: the exchange in progress is cut. */
  clientGone = false;
  /** The attempt whose request undici is writing or whose answer it reads (cut with it). */
  current: Attempt | undefined;
  /** Stops the slow-body watch of a streamed body. */
  stopRate: (() => void) | undefined;
  readonly method: string;
  readonly use: UpstreamUse;

  readonly service: string;
  readonly upstreams: readonly Upstream[];

  constructor(
    readonly host: ExchangeHost,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly target: RequestTarget,
    readonly ctx: ForwardContext,
    readonly requestId: string,
    readonly framing: RequestFraming,
    readonly body: BodyStart,
    /** Headers sent upstream; index 1 holds the Host value, set per attempt on a copy. */
    readonly headers: string[],
    /** Frees the service's upload slot held for a streamed body. */
    readonly release: (() => void) | undefined,
  ) {
    this.method = req.method ?? 'GET';
    this.use = ctx.dispatchedBy ? 'dispatch' : 'service';
    this.service = ctx.service;
    this.upstreams = ctx.upstreams;
    res.once('close', this.onClose);
  }

  /** Tries the candidate `tried` places after the context's `start`; past the refused ones, the first allowed is dispatched. */
  attempt(tried: number): void {
    const n = this.upstreams.length;
    for (; tried < n; tried++) {
      const up = this.upstreams[(this.ctx.start + tried) % n];
      if (!this.host.refuses(up, this.use)) {
        new Attempt(this, up, tried).dispatch();
        return;
      }
      this.host.upstreamError(this.service, 'refused');
    }
    this.release?.();
    this.host.fail(this, upstreamRefused(this.service));
  }

  private readonly onClose = (): void => {
    this.stopRate?.();
    // The answer was cut, or given before the body was all sent: that upstream exchange is
    // unfinished, and its connection must not carry another.
    if (!this.res.writableFinished || !this.req.complete) {
      this.clientGone = true;
      this.current?.abort();
    }
  };
}

/**
 * One try at one upstream: undici's handler for it. A connect failure (or, when the body can be
 * sent again, any failure before an answer) moves on to the next candidate; a connection whose
 * exchange did not end cleanly is destroyed, never reused.
 */
class Attempt implements Dispatcher.DispatchHandler {
  /** The streamed part of a body goes through this, so nothing is read from the client before the upstream is connected. */
  private readonly stream: PassThrough | undefined;
  private connected = false;
  /** Part of a streamed body left: it cannot be sent again. */
  private bodyStarted = false;
  private responded = false;
  /** Set when the proxy gave up on this exchange itself (body too large or too slow): its errors are expected. */
  private abandoned = false;
  private abortExchange: ((err?: Error) => void) | undefined;
  private resumeRead: (() => void) | undefined;
  /** Armed while the client holds the answer back: undici's body timeout sleeps then, this one does not. */
  private stalled: NodeJS.Timeout | undefined;
  /** Listens for the client's `drain` while the answer is held back (made the first time it is). */
  private onDrain: (() => void) | undefined;
  private awaitingDrain = false;

  constructor(
    private readonly x: Exchange,
    private readonly up: Upstream,
    private readonly tried: number,
  ) {
    this.stream = x.body.complete ? undefined : new PassThrough();
  }

  dispatch(): void {
    const x = this.x;
    const headers = x.headers.slice();
    headers[1] = this.up.host;
    x.host.dispatcher(x.service, this.up, x.use).dispatch(
      {
        path: this.up.pathPrefix + x.target.path + x.target.query,
        method: x.method as Dispatcher.HttpMethod,
        headers,
        body: this.stream ?? (x.framing.kind === 'none' ? null : x.body.complete ? x.body.bytes : null),
        // undici would close a connection after a HEAD, or a body on a method that expects none;
        // the proxy frames every request itself and llhttp delimits every answer (bytes after
        // one, on an idle connection, destroy it), so a clean exchange leaves it reusable.
        reset: false,
      },
      this,
    );
  }

  /** Cuts this exchange and its connection. */
  abort(): void {
    this.abortExchange?.();
  }

  // Called once a connection (new, or pooled and checked) is about to carry the request.
  onConnect(abort: (err?: Error) => void): void {
    this.connected = true;
    this.abortExchange = abort;
    if (this.x.clientGone || this.abandoned) return abort();
    this.x.current = this;
    // The body is sent only once connected, so a failed connect can go to another upstream.
    this.startBody();
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode === 101) {
      this.abortExchange?.(new UpstreamSwitchedProtocols());
      return false;
    }
    // Other informational answers (103...) are not relayed.
    if (statusCode < 200) return true;
    this.responded = true;
    const x = this.x;
    if (x.clientGone) return false;
    // Answered before the whole body arrived: where the client's next request would start is
    // not known for sure, so this connection ends with the answer.
    if (!x.req.complete) x.res.shouldKeepAlive = false;
    this.resumeRead = resume;
    x.res.writeHead(statusCode, x.host.responseHeaders(raw, x));
    return true;
  }

  // undici's chunks are views of what the socket read: written as they are, with backpressure.
  onData(chunk: Buffer): boolean {
    const res = this.x.res;
    if (res.write(chunk)) return true;
    // Reading the upstream pauses until the client takes what was written.
    if (!this.awaitingDrain) {
      this.awaitingDrain = true;
      this.onDrain ??= () => {
        this.awaitingDrain = false;
        clearTimeout(this.stalled);
        this.stalled = undefined;
        this.resumeRead?.();
      };
      res.once('drain', this.onDrain);
    }
    this.stalled ??= setTimeout(() => this.abortExchange?.(new undiciErrors.BodyTimeoutError()), this.x.host.settings.upstreamTimeoutMs);
    return false;
  }

  onComplete(): void {
    this.done(true);
    if (!this.x.clientGone) this.x.res.end();
  }

  onError(err: NodeJS.ErrnoException): void {
    const x = this.x;
    if (this.abandoned || x.clientGone || this.responded) this.done(true);
    if (this.abandoned || x.clientGone) return;
    if (this.responded) {
      // Cut mid-answer: the client sees it cut too, never a shorter complete one.
      x.host.upstreamError(x.service, upstreamErrorReason(err));
      x.res.destroy();
      return;
    }
    this.unpipe();
    // The gateway forwards no upgrade (it strips Connection and Upgrade), so a 101 is an
    // upstream speaking another protocol on this connection, which is dropped.
    if (err instanceof UpstreamSwitchedProtocols || (err.code === 'UND_ERR_SOCKET' && err.message === 'bad upgrade')) {
      this.done(true);
      x.host.upstreamError(x.service, 'protocol');
      return x.host.fail(
        x,
        new GatewayHttpError(
          502,
          'UPSTREAM_PROTOCOL',
          `service ${x.service}: the upstream answered 101 Switching Protocols to a request that asked for no protocol change; fix the upstream`,
        ),
      );
    }
    x.host.upstreamError(x.service, upstreamErrorReason(err));
    // Errors before undici took the request onto a connection: it never left.
    const beforeConnect = !this.connected;
    // A buffered body can be sent again; a streamed one only if none of it left.
    const safeToRepeat = !this.bodyStarted && IDEMPOTENT_METHODS.has(x.method);
    const retry = (beforeConnect || safeToRepeat) && this.tried + 1 < x.upstreams.length;
    this.done(!retry);
    if (retry) return x.attempt(this.tried + 1);
    const tried = this.tried + 1;
    if (err instanceof UpstreamRefusedError) {
      x.host.fail(x, upstreamRefused(x.service));
    } else if (TIMEOUT_ERRORS.has(err.code ?? '')) {
      x.host.fail(x, new GatewayHttpError(504, 'UPSTREAM_TIMEOUT', `service ${x.service}: no upstream answered in time (tried ${tried}); retry later`));
    } else {
      x.host.fail(
        x,
        new GatewayHttpError(
          502,
          'UPSTREAM_UNAVAILABLE',
          `service ${x.service}: no upstream could be reached (tried ${tried}, last error ${err.code ?? 'unknown'}); retry later or through another gateway`,
        ),
      );
    }
  }

  /** The exchange is over; `final` unless another upstream is tried next. */
  private done(final: boolean): void {
    const x = this.x;
    if (x.current === this) x.current = undefined;
    clearTimeout(this.stalled);
    if (this.awaitingDrain && this.onDrain) x.res.off('drain', this.onDrain);
    // The upload slot follows the exchange that carries the body, and is freed with it.
    if (final) x.release?.();
  }

  private unpipe(): void {
    if (!this.stream) return;
    this.x.stopRate?.();
    this.x.req.unpipe(this.stream);
  }

  private abandon(err: GatewayHttpError): void {
    this.abandoned = true;
    this.unpipe();
    this.x.current?.abort();
    this.x.host.fail(this.x, err);
  }

  private startBody(): void {
    const x = this.x;
    const body = x.body;
    if (!this.stream || body.complete) return;
    this.bodyStarted = true;
    this.stream.write(body.head);
    let received = body.head.length;
    const limits = x.host.settings;
    x.req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxBodyBytes && !this.abandoned) this.abandon(payloadTooLarge(limits.maxBodyBytes));
    });
    x.stopRate = watchBodyRate(x.req, limits, (err) => this.abandon(err));
    x.req.pipe(this.stream);
  }
}

function upstreamErrorReason(err: NodeJS.ErrnoException): UpstreamErrorReason {
  if (err instanceof UpstreamRefusedError) return 'refused';
  const code = err.code ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect_timeout';
  if (TIMEOUT_ERRORS.has(code)) return 'timeout';
  if (CONNECT_ERRORS.has(code)) return 'connect';
  // undici reports a connection the upstream closed mid-exchange as a socket error.
  return code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' ? 'reset' : 'other';
}
