import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { Router } from '@koa/router';
import type { ParameterizedContext } from 'koa';
import type { EnvironmentView, TopologyChange } from '../../openapi/index.js';
import { authorize, type TokenStore } from '../auth/tokens.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import type { MonitorPool } from '../monitor/pool.js';
import { authenticate, environmentParam } from './access.js';
import type { RegistryMetrics } from './metrics.js';
import type { AdminState } from './routes.js';

type Ctx = ParameterizedContext<AdminState>;

/** Interval of `: ping` comments on idle event streams (proxies close silent connections). */
const PING_INTERVAL_MS = 15_000;
/** A client this far behind (bytes queued) is cut off; it reconnects and gets a fresh view. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/** The dashboard's files: the page's own script and styles, no framework, no CDN. */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  '/demo': { file: 'demo.html', type: 'text/html; charset=utf-8' },
  '/demo/demo.js': { file: 'demo.js', type: 'text/javascript; charset=utf-8' },
  '/demo/demo.css': { file: 'demo.css', type: 'text/css; charset=utf-8' },
};

/** The SDK's browser bundle (`npm run build`), for the demo page: from dist/ of the source tree, or next to dist/registry/. */
const BUNDLE_LOCATIONS = ['../../dist/browser/waymark-client.js', '../../browser/waymark-client.js'];

/** The demo page calls the gateways (any origin) with the SDK; otherwise as locked down as the dashboard. */
const DEMO_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' http: https:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** The page may only talk to the registry it came from, and never be framed. */
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export interface ObservabilityDeps {
  tokens: TokenStore;
  metrics: RegistryMetrics;
  monitors: MonitorPool;
  /** Refuses (NotFoundError) a name that is no environment, so no monitor starts for it. */
  environments: { assertKnown(env: string): Promise<void> };
  /** Counts event streams held open. */
  streams: { opened(): void; closed(): void };
}

/**
 * What operators look at: `/metrics` (unauthenticated, like /healthz; no tokens in it), the
 * dashboard page at `/`, and per environment its view (JSON) and live events (SSE), which need a
 * token with read access like every admin route.
 */
export function observabilityRoutes(deps: ObservabilityDeps): Router<AdminState> {
  const router = new Router<AdminState>();
  const assets = loadAssets();

  router.get('/metrics', async (ctx) => {
    ctx.body = await deps.metrics.registry.metrics();
    ctx.type = deps.metrics.registry.contentType;
  });

  for (const [path, asset] of Object.entries(assets)) {
    router.get(path, (ctx) => {
      ctx.set(path.startsWith('/demo') ? DEMO_HEADERS : PAGE_HEADERS);
      ctx.type = asset.type;
      ctx.body = asset.body;
    });
  }
  // Read on each request: a build after the registry started is served without a restart.
  router.get('/demo/waymark-client.js', (ctx) => {
    const body = readBundle();
    if (!body) throw new NotFoundError('the browser bundle is not built: run npm run build');
    ctx.set(DEMO_HEADERS);
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.body = body;
  });

  const environment = (ctx: Ctx): string => {
    authorize(authenticate(ctx, deps.tokens), 'read');
    return environmentParam(ctx);
  };

  router.get('/v1/environments/:env/view', async (ctx) => {
    const env = environment(ctx);
    await deps.environments.assertKnown(env);
    const lease = await deps.monitors.acquire(env);
    try {
      ctx.body = lease.monitor.view;
    } finally {
      lease.release();
    }
  });

  router.get('/v1/environments/:env/events', async (ctx) => {
    const env = environment(ctx);
    const since = sinceRevision(ctx);
    await deps.environments.assertKnown(env);
    const gone = new AbortController();
    ctx.req.once('close', () => gone.abort(new Error('the client left')));
    const lease = await deps.monitors.acquire(env, gone.signal);
    const { monitor } = lease;
    const stream = new PassThrough();
    const socket = ctx.req.socket;
    socket.setTimeout(0);
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    ctx.status = 200;
    ctx.type = 'text/event-stream';
    ctx.set('X-Accel-Buffering', 'no');
    ctx.body = stream;

    const send = (text: string) => {
      if (stream.writableLength > MAX_QUEUED_BYTES) return cleanup();
      stream.write(text);
    };
    const onView = (view: EnvironmentView) => send(`event: view\ndata: ${JSON.stringify(view)}\n\n`);
    const onChange = (change: TopologyChange) => send(`id: ${change.revision}\nevent: change\ndata: ${JSON.stringify(change)}\n\n`);
    const ping = setInterval(() => send(': ping\n\n'), PING_INTERVAL_MS);
    let done = false;
    const cleanup = () => {
      if (done) return;
      done = true;
      clearInterval(ping);
      monitor.off('view', onView);
      monitor.off('change', onChange);
      lease.release();
      deps.streams.closed();
      stream.end();
    };
    deps.streams.opened();
    send('retry: 2000\n\n');
    if (since !== undefined) for (const change of monitor.changesSince(since)) onChange(change);
    onView(monitor.view);
    monitor.on('view', onView);
    monitor.on('change', onChange);
    ctx.req.once('close', cleanup);
    ctx.res.once('close', cleanup);
  });

  return router;
}

/** `?since=N`, else `Last-Event-ID: N` (what an SSE client sends when it reconnects). */
function sinceRevision(ctx: Ctx): number | undefined {
  const raw = typeof ctx.query.since === 'string' ? ctx.query.since : ctx.get('last-event-id') || undefined;
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new BadRequestError(`since=${JSON.stringify(raw)} is not a revision: use a whole number ≥ 0`);
  return n;
}

function readBundle(): Buffer | undefined {
  for (const location of BUNDLE_LOCATIONS) {
    try {
      return readFileSync(new URL(location, import.meta.url));
    } catch {
      // not in this layout
    }
  }
  return undefined;
}

/** Read once at startup: from registry/dashboard/ (source) or dist/registry/dashboard/ (the build copies it). */
function loadAssets(): Record<string, { type: string; body: Buffer }> {
  const dir = new URL('../dashboard/', import.meta.url);
  const out: Record<string, { type: string; body: Buffer }> = {};
  for (const [path, asset] of Object.entries(ASSETS)) out[path] = { type: asset.type, body: readFileSync(new URL(asset.file, dir)) };
  return out;
}
