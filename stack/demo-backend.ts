import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One demo upstream of the local stack: it says which service, region and instance answered. */
export interface DemoBackendOptions {
  service: string;
  region: string;
  /** Instance name, e.g. `catalog-eu-west-1`. */
  instance: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

/** What a demo backend answers (and records) for each request. */
export interface DemoReply {
  service: string;
  region: string;
  instance: string;
  method: string;
  path: string;
  requestId?: string;
  traceparent?: string;
  via?: string;
  forwarded?: string;
  bodyBytes: number;
}

export interface DemoBackend {
  readonly url: string;
  readonly options: DemoBackendOptions;
  /** Requests served so far (newest last, at most 1000). */
  readonly seen: readonly DemoReply[];
  close(): Promise<void>;
}

const SEEN_LIMIT = 1000;
/** Requests for `<anything>/openapi.json` get a tiny OpenAPI description of the demo service. */
const DESCRIPTION_SUFFIX = '/openapi.json';

/**
 * Starts a demo backend. `GET /_demo/seen` (outside any base path, so only reachable directly)
 * lists what it served, which lets tests check that no request reached the wrong region.
 */
export async function startDemoBackend(options: DemoBackendOptions): Promise<DemoBackend> {
  const seen: DemoReply[] = [];
  const server: Server = createServer((req, res) => {
    if (req.url === '/_demo/seen') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ instance: options.instance, seen }));
      return;
    }
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
    });
    req.on('end', () => {
      const reply = describe(options, req, bodyBytes);
      seen.push(reply);
      if (seen.length > SEEN_LIMIT) seen.shift();
      const path = (req.url ?? '/').split('?', 1)[0]!;
      if (req.method === 'GET' && path.endsWith(DESCRIPTION_SUFFIX)) {
        // What a manifest's `openapi: <basePath>/openapi.json` finds through the gateway in the demo.
        res.writeHead(200, { 'content-type': 'application/json', 'x-demo-instance': options.instance });
        res.end(JSON.stringify(demoDescription(options, path.slice(0, -DESCRIPTION_SUFFIX.length))));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-demo-instance': options.instance });
      res.end(JSON.stringify(reply));
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    options,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function describe(options: DemoBackendOptions, req: IncomingMessage, bodyBytes: number): DemoReply {
  const header = (name: string) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  return {
    service: options.service,
    region: options.region,
    instance: options.instance,
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    requestId: header('x-request-id'),
    traceparent: header('traceparent'),
    via: header('via'),
    forwarded: header('forwarded'),
    bodyBytes,
  };
}

/** A minimal OpenAPI 3.1 description of a demo service mounted at `basePath`: every path echoes the request. */
function demoDescription(options: DemoBackendOptions, basePath: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: `${options.service} (Waymark demo backend)`, version: '1.0.0' },
    servers: [{ url: basePath || '/' }],
    paths: {
      '/{path}': {
        get: {
          summary: 'Echoes the request: which service, region and instance answered.',
          parameters: [{ name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': { description: 'What the demo backend saw.', content: { 'application/json': { schema: { type: 'object' } } } } },
        },
      },
    },
  };
}
