import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AxiosError, AxiosHeaders, type AxiosResponse } from 'axios';
import { NoHealthyGatewayError, NoRouteError, WaymarkClient, WaymarkError, type FailoverEvent } from '../client-sdk/index.js';
import { HOP_BY_HOP_HEADERS } from '../topology/index.js';
import { resolveAgentOptions, type AgentOptions, type ResolvedAgentOptions } from './options.js';
import { parseTarget } from './target.js';

/** Hop-by-hop headers, and those the agent frames itself. */
const HOP_BY_HOP = new Set([...HOP_BY_HOP_HEADERS, 'host', 'content-length']);

const VIA = '1.1 waymark-agent';

/** One call the agent relayed, or answered itself. */
export interface AgentCallEvent {
  method: string;
  service: string | undefined;
  path: string;
  status: number;
  /** The gateway that answered (its X-Waymark-Gateway), if one did. */
  gateway: string | undefined;
  /** The agent's error code when it answered itself (NO_ROUTE, NO_HEALTHY_GATEWAY…). */
  error: string | undefined;
  durationMs: number;
}

export interface AgentEvents {
  listening: [url: string];
  call: [event: AgentCallEvent];
  failover: [event: FailoverEvent];
}

class AgentAnswer extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A local forward proxy for apps in any language: each call it receives is sent with the
 * Waymark SDK (resolver, failover, retry budget, ejection, 421 handling), so an app gets the
 * smart client's routing by pointing HTTP_PROXY or a base URL at it. Bodies are buffered (up
 * to `maxRequestBytes`) so a failed idempotent call can be sent again to the next gateway.
 */
export class Agent extends EventEmitter<AgentEvents> {
  readonly client: WaymarkClient;
  private readonly options: ResolvedAgentOptions;
  private readonly ownsClient: boolean;
  private readonly server: Server;
  private closed = false;

  constructor(options: AgentOptions) {
    super();
    this.options = resolveAgentOptions(options);
    const client = this.options.client;
    this.ownsClient = !('instance' in client);
    this.client = 'instance' in client ? client.instance : new WaymarkClient(client);
    this.client.on('failover', (e) => this.emit('failover', e));
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = this.options.keepAliveTimeoutMs;
    this.server.requestTimeout = this.options.requestReadTimeoutMs;
    this.server.headersTimeout = Math.min(this.options.requestReadTimeoutMs, 60_000);
  }

  /** Starts listening; resolves with the agent's base URL. Calls wait for the client's first topology. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const url = this.url();
    this.emit('listening', url);
    return url;
  }

  /** Resolves when the client holds a first topology (see WaymarkClient.ready). */
  ready(): Promise<void> {
    return this.client.ready();
  }

  /** The base URL apps use: `HTTP_PROXY=<url>`, or `<url>/<service>/...`. */
  url(): string {
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /** Stops accepting, ends idle connections, waits for calls in flight, then closes the client if the agent created it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    if (this.server.listening) await stopped;
    if (this.ownsClient) await this.client.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const target = parseTarget(method, req.url ?? '/', req.headers.host);
    const service = 'service' in target ? target.service : undefined;
    const path = 'service' in target ? target.path : (req.url ?? '');
    const done = (status: number, gateway: string | undefined, error: string | undefined) =>
      this.emit('call', { method, service, path, status, gateway, error, durationMs: performance.now() - started });
    try {
      if (!('service' in target)) throw new AgentAnswer(target.status, target.code, target.message);
      const body = await readBody(req, this.options.maxRequestBytes);
      const response = await this.send(target.service, target.path, method, req, body);
      relay(res, response);
      done(response.status, header(response, 'x-waymark-gateway'), undefined);
    } catch (err) {
      const response = lastGatewayResponse(err);
      if (response) {
        // The last gateway's own answer (a 503 to a POST that may not be retried…), as a direct call would see it.
        relay(res, response);
        done(response.status, header(response, 'x-waymark-gateway'), (err as WaymarkError).code);
        return;
      }
      const answer = toAnswer(err, this.options.maxResponseBytes);
      const attempts = err instanceof NoHealthyGatewayError ? err.attempts : undefined;
      if (!res.headersSent) {
        const payload = JSON.stringify({ code: answer.code, message: answer.message, ...(attempts ? { attempts } : {}) });
        res.writeHead(answer.status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          'cache-control': 'no-store',
          via: VIA,
          ...(answer.status === 413 || answer.status === 408 ? { connection: 'close' } : {}),
        });
        res.end(payload);
      } else {
        res.destroy();
      }
      done(answer.status, undefined, answer.code);
    }
  }

  private send(service: string, path: string, method: string, req: IncomingMessage, body: Buffer): Promise<AxiosResponse<ArrayBuffer>> {
    const headers = new AxiosHeaders();
    const connectionTokens = new Set(String(req.headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim()).filter(Boolean));
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name) || connectionTokens.has(name)) continue;
      headers.set(name, value);
    }
    // axios would add its own Accept, Accept-Encoding and User-Agent: the gateway sees what the app sent.
    for (const name of ['accept', 'accept-encoding', 'user-agent']) if (!headers.has(name)) headers.set(name, false);
    headers.set('via', req.headers.via ? `${req.headers.via}, ${VIA}` : VIA);
    return this.client.request<ArrayBuffer>(service, {
      method,
      url: path,
      headers,
      data: body.length > 0 || !['GET', 'HEAD', 'DELETE', 'OPTIONS'].includes(method) ? body : undefined,
      responseType: 'arraybuffer',
      decompress: false,
      transformRequest: [(data: unknown) => data],
      transformResponse: [(data: unknown) => data],
      maxContentLength: this.options.maxResponseBytes,
      maxBodyLength: this.options.maxRequestBytes,
      validateStatus: null,
      // A POST with an Idempotency-Key may be repeated at another gateway, like a GET.
      waymark: { idempotent: req.headers['idempotency-key'] !== undefined },
    });
  }
}

/** Reads the whole body, refusing more than `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(new AgentAnswer(413, 'REQUEST_TOO_LARGE', `the request body (${declared} bytes) exceeds maxRequestBytes (${limit})`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new AgentAnswer(413, 'REQUEST_TOO_LARGE', `the request body exceeds maxRequestBytes (${limit})`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', (err) => reject(new AgentAnswer(400, 'REQUEST_ABORTED', `the request body could not be read: ${err.message}`)));
  });
}

function relay(res: ServerResponse, response: AxiosResponse<ArrayBuffer>): void {
  const body = Buffer.from(response.data ?? new ArrayBuffer(0));
  const headers = AxiosHeaders.from(response.headers as Record<string, string | string[]>).toJSON() as Record<string, string | string[]>;
  const connectionTokens = new Set(String(headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim()));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || connectionTokens.has(lower)) continue;
    out[lower] = value;
  }
  out.via = out.via ? `${String(out.via)}, ${VIA}` : VIA;
  // RFC 9110 §8.6: no Content-Length on a 1xx, 204 or 304.
  if (response.status !== 204 && response.status !== 304) out['content-length'] = String(body.length);
  res.writeHead(response.status, out);
  res.end(response.config.method?.toUpperCase() === 'HEAD' ? undefined : body);
}

function header(response: AxiosResponse, name: string): string | undefined {
  const value: unknown = response.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function lastGatewayResponse(err: unknown): AxiosResponse<ArrayBuffer> | undefined {
  if (!(err instanceof NoHealthyGatewayError)) return undefined;
  const cause = err.cause;
  return cause instanceof AxiosError && cause.response ? (cause.response as AxiosResponse<ArrayBuffer>) : undefined;
}

/** The agent's own answer to an error: status and stable code. */
function toAnswer(err: unknown, maxResponseBytes: number): { status: number; code: string; message: string } {
  if (err instanceof AgentAnswer) return err;
  if (err instanceof NoRouteError) return { status: 404, code: err.code, message: err.message };
  if (err instanceof NoHealthyGatewayError) {
    const cause = err.cause;
    if (cause instanceof AxiosError && cause.code === AxiosError.ERR_BAD_RESPONSE && /maxContentLength/.test(cause.message)) {
      return { status: 502, code: 'RESPONSE_TOO_LARGE', message: `the response exceeds maxResponseBytes (${maxResponseBytes})` };
    }
    return { status: 502, code: err.code, message: err.message };
  }
  if (err instanceof WaymarkError) {
    const status = err.code === 'INVALID_REQUEST' ? 400 : 503;
    return { status, code: err.code, message: err.message };
  }
  return { status: 502, code: 'AGENT_ERROR', message: (err as Error)?.message ?? String(err) };
}
