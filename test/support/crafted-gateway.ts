import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TopologyDocument } from '../../openapi/index.js';
import { freePort } from './ports.js';
import { topologyDoc } from './topology-doc.js';

/** The document every crafted server serves, with long-poll waiters (what a gateway does). */
export class Published {
  private waiters = new Set<() => void>();
  constructor(public doc: TopologyDocument) {}
  publish(doc: TopologyDocument): void {
    this.doc = doc;
    for (const w of this.waiters) w();
  }
  wait(revision: number, ms: number): Promise<void> {
    if (this.doc.revision > revision) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
  close(): void {
    for (const w of this.waiters) w();
  }
}

export type Behaviour = 'ok' | 'blackhole' | 'status-503' | 'misdirect';

/**
 * A small real HTTP server standing in for a gateway with crafted answers: the topology from a
 * Published (or a hostile body), long-poll, and service calls answered `{ served: <name> }`.
 * Every request is recorded.
 */
export class CraftedServer {
  readonly requests: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];
  topologyBody: string | undefined;
  behaviour: Behaviour = 'ok';
  /** For `misdirect`: the base URL named as the alternate in the 421. */
  alternate = '';
  /** When set, long-polls (`?wait=`) are refused: 503 with this `Retry-After` (seconds), as a gateway whose slots are full. */
  refuseLongPolls: number | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly published: Published,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(name: string, published: Published, port = 0): Promise<CraftedServer> {
    const s = new CraftedServer(name, port || (await freePort()), published);
    await s.listen();
    return s;
  }

  serviceCalls(prefix = '/'): number {
    return this.requests.filter((r) => r.url.startsWith(prefix) && !r.url.startsWith('/.well-known') && r.url !== '/healthz').length;
  }

  async listen(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  /** Stops at once: open connections are destroyed, new ones refused. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://x');
    const doc = this.published.doc;
    res.setHeader('X-Waymark-Revision', String(doc.revision));
    if (url.pathname === '/healthz') return void res.end('{"status":"ok"}');
    if (this.behaviour === 'blackhole') return; // accepted, never answered
    if (url.pathname === '/.well-known/topology') {
      if (this.topologyBody !== undefined) return void res.end(this.topologyBody);
      const wait = url.searchParams.get('wait');
      if (wait !== null && this.refuseLongPolls !== undefined) {
        res.statusCode = 503;
        res.setHeader('Retry-After', String(this.refuseLongPolls));
        res.setHeader('Content-Type', 'application/json');
        return void res.end(JSON.stringify({ code: 'TOO_MANY_LONG_POLLS', message: 'every long-poll slot is held' }));
      }
      if (wait !== null) {
        await this.published.wait(Number(wait), Number(url.searchParams.get('timeout') ?? 30) * 1000);
        if (this.published.doc.revision <= Number(wait)) {
          res.statusCode = 304;
          return void res.end();
        }
      }
      const current = this.published.doc;
      const etag = `"${current.revision}"`;
      if (req.headers['if-none-match'] === etag) {
        res.statusCode = 304;
        return void res.end();
      }
      res.setHeader('ETag', etag);
      res.setHeader('Content-Type', 'application/json');
      return void res.end(JSON.stringify(current));
    }
    if (this.behaviour === 'misdirect') {
      res.statusCode = 421;
      res.setHeader('Link', `<${this.alternate}${req.url}>; rel="alternate"`);
      return void res.end('{"code":"MISDIRECTED_REQUEST","message":"not here"}');
    }
    if (this.behaviour === 'status-503') {
      res.statusCode = 503;
      return void res.end('{"code":"UNAVAILABLE","message":"down"}');
    }
    req.resume();
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ served: this.name, method: req.method, url: req.url }));
    });
  }
}

/** What `craftedScene` started: one crafted server per region, all serving `published`. */
export interface CraftedScene {
  published: Published;
  servers: CraftedServer[];
  doc: TopologyDocument;
}

/**
 * One crafted gateway per region on loopback, serving one Published document (revision 10, a
 * `catalog` service unless `extra` says otherwise). Its teardown goes on `cleanups`.
 */
export async function craftedScene(
  cleanups: Array<() => Promise<void> | void>,
  regions: { name: string; jurisdiction?: string }[],
  extra: Partial<Parameters<typeof topologyDoc>[0]> = {},
): Promise<CraftedScene> {
  const ports = await Promise.all(regions.map(() => freePort()));
  const doc = topologyDoc({
    revision: 10,
    regions: regions.map((r, i) => ({ ...r, gateways: [{ id: `${r.name}-gw`, url: `http://127.0.0.1:${ports[i]}` }] })),
    services: [{ name: 'catalog' }],
    ...extra,
  });
  const published = new Published(doc);
  const servers = await Promise.all(regions.map((r, i) => CraftedServer.start(r.name, published, ports[i])));
  cleanups.push(async () => {
    published.close();
    for (const s of servers) await s.kill();
  });
  return { published, servers, doc };
}
