import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { ObservedResponse } from './contract.js';
import { serverRole } from './contract-servers.js';

/**
 * Sees every response a test receives from one of our servers (contract-servers.ts), whichever
 * client asked: `fetch`, or node's `http.request`/`http.get` (and https), which axios and the
 * gateway's own dispatch use. It reads bodies beside the caller, never in its place: a fetch
 * response is cloned, an http response's chunks are copied as node pushes them, so the caller's
 * reading (paused, piped, abandoned) is unchanged. Raw sockets (raw-http.ts) are not seen.
 */

export type ResponseListener = (observed: ObservedResponse) => void;

/** Bodies are read only when the contract can check them: JSON. Streams (SSE) never end. */
const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\b/i;
/** A body larger than this is not kept (its status and headers are still checked). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

const pending = new Set<Promise<void>>();
let listener: ResponseListener | undefined;

/** Installs the wrappers (once); `onResponse` receives each observed response. */
export function observeResponses(onResponse: ResponseListener): void {
  if (listener) {
    listener = onResponse;
    return;
  }
  listener = onResponse;
  wrapFetch();
  for (const module of [http, https]) {
    const request = module.request;
    const wrapped = function (this: unknown, ...args: Parameters<typeof http.request>): ClientRequest {
      const req = request.apply(this, args);
      watch(req, target(module === https ? 443 : 80, args));
      return req;
    } as typeof http.request;
    module.request = wrapped;
    // http.get calls the module's own request, not the export: replace it too.
    module.get = function (this: unknown, ...args: Parameters<typeof http.get>): ClientRequest {
      const req = wrapped.apply(this, args as Parameters<typeof http.request>);
      req.end();
      return req;
    } as typeof http.get;
  }
  // ESM named imports (`import { request } from 'node:http'`) see the replacements too.
  syncBuiltinESMExports();
}

/**
 * Resolves once every body being read has been checked, or when `limitMs` have passed (a server
 * a test stopped mid-answer may never finish one); resolves to how many are still unread.
 */
export async function settled(limitMs = 10_000): Promise<number> {
  const limit = new Promise<'late'>((resolve) => setTimeout(resolve, limitMs, 'late').unref());
  while (pending.size > 0) {
    if ((await Promise.race([Promise.allSettled([...pending]), limit])) === 'late') break;
  }
  return pending.size;
}

function emit(observed: ObservedResponse): void {
  listener?.(observed);
}

function track(work: Promise<void>): void {
  pending.add(work);
  void work.finally(() => pending.delete(work));
}

function wrapFetch(): void {
  const original = globalThis.fetch;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let url: URL;
    try {
      url = new URL(input instanceof Request ? input.url : String(input));
    } catch {
      // Not an absolute URL: fetch itself says why.
      return original(input, init);
    }
    const role = serverRole(url.hostname, url.port || (url.protocol === 'https:' ? '443' : '80'));
    const res = await original(input, init);
    if (!role) return res;
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const headers: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const base = { role, method, path: url.pathname, status: res.status, headers };
    if (method === 'HEAD' || res.body === null || !JSON_TYPE.test(headers['content-type'] ?? '')) {
      emit(base);
    } else {
      track(
        res
          .clone()
          .text()
          .then(
            (body) => emit({ ...base, body }),
            () => emit(base),
          ),
      );
    }
    return res;
  };
}

interface Target {
  host: string | undefined;
  port: string;
}

/** Host and port of an http.request call, from its (url, options, callback) arguments. */
function target(defaultPort: number, args: readonly unknown[]): Target {
  let host: string | undefined;
  let port: string | undefined;
  let options: unknown = args[0];
  if (typeof args[0] === 'string' || args[0] instanceof URL) {
    const u = new URL(String(args[0]));
    host = u.hostname;
    port = u.port || undefined;
    options = args[1];
  }
  if (options && typeof options === 'object') {
    const o = options as { hostname?: unknown; host?: unknown; port?: unknown; socketPath?: unknown };
    if (typeof o.socketPath === 'string') return { host: undefined, port: '' };
    const h = o.hostname ?? o.host;
    if (typeof h === 'string') host = h;
    if (typeof o.port === 'number' || typeof o.port === 'string') port = String(o.port);
  }
  return { host: host ?? 'localhost', port: port ?? String(defaultPort) };
}

function watch(req: ClientRequest, to: Target): void {
  const role = serverRole(to.host, to.port);
  if (!role) return;
  req.once('response', (res: IncomingMessage) => {
    // Node dumps a response nobody listens for; this listener must not keep it alive.
    if (req.listenerCount('response') === 0) res.resume();
    // From the raw headers: a client listening before this one may have edited `res.headers`
    // (axios deletes Content-Encoding once it has set up decompression).
    const headers: Record<string, string> = {};
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i].toLowerCase();
      headers[name] = headers[name] === undefined ? res.rawHeaders[i + 1] : `${headers[name]}, ${res.rawHeaders[i + 1]}`;
    }
    // An absolute-form target (RFC 9112 §3.2.2) is routed by its path.
    const raw = req.path || '/';
    const path = (raw.startsWith('/') ? raw : new URL(raw, 'http://absolute').pathname).split('?')[0];
    const base = { role, method: req.method.toUpperCase(), path, status: res.statusCode ?? 0, headers };
    if (req.method === 'HEAD' || !JSON_TYPE.test(headers['content-type'] ?? '')) return emit(base);
    track(
      new Promise<void>((resolve) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let done = false;
        const finish = (complete: boolean) => {
          if (done) return;
          done = true;
          const body = complete && size <= MAX_BODY_BYTES ? decoded(Buffer.concat(chunks), headers['content-encoding']) : undefined;
          emit(body === undefined ? base : { ...base, body });
          resolve();
        };
        const push = res.push.bind(res);
        res.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
          if (chunk === null) finish(true);
          else if (size <= MAX_BODY_BYTES) {
            const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), encoding);
            size += b.length;
            if (size <= MAX_BODY_BYTES) chunks.push(b);
          }
          return push(chunk, encoding);
        };
        res.once('aborted', () => finish(false));
        res.once('error', () => finish(false));
        res.once('close', () => finish(res.complete));
      }),
    );
  });
}

/** The text of a body as sent (node's http client does not undo Content-Encoding; fetch does). */
function decoded(bytes: Buffer, encoding: string | undefined): string | undefined {
  try {
    switch ((encoding ?? 'identity').trim().toLowerCase()) {
      case 'identity':
        return bytes.toString('utf8');
      case 'gzip':
        return gunzipSync(bytes).toString('utf8');
      case 'br':
        return brotliDecompressSync(bytes).toString('utf8');
      case 'deflate':
        return inflateSync(bytes).toString('utf8');
      default:
        return undefined;
    }
  } catch {
    // A body that does not decode is not this checker's to judge: its status and headers still are.
    return undefined;
  }
}
