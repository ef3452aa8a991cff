import type { Router } from '@koa/router';
import Koa from 'koa';
import type { TokenStore } from '../auth/tokens.js';
import { NotFoundError } from '../errors.js';
import { traceContext } from '../../topology/index.js';
import type { Registry } from '../registry.js';
import { toHttpError } from './errors.js';
import { keyRoutes } from './key-routes.js';
import { policyRoutes } from './policy-routes.js';
import { adminRoutes, type AdminState } from './routes.js';

/** One handled request, as the registry reports it (never with the token). */
export interface RequestRecord {
  method: string;
  path: string;
  /** The matched route pattern, such as `/v1/environments/:env/apply` (`unmatched` when none). */
  route: string;
  status: number;
  durationMs: number;
  /** Name of the token's holder, when authenticated. */
  principal?: string;
  code?: string;
  /** The client's `X-Request-Id` when valid, else a new one (echoed in the response). */
  requestId: string;
  /** The client's `traceparent` when valid, else a new one. */
  traceparent: string;
}

export interface AppHooks {
  onRequest(record: RequestRecord): void;
  onFailure(err: Error): void;
}

/** The admin API as a Koa application: errors as the contract's Error objects, then the routes. */
export function createAdminApp(
  registry: Registry,
  tokens: TokenStore,
  maxBodyBytes: number,
  hooks: AppHooks,
  observability: Router<AdminState>,
): Koa<AdminState> {
  const app = new Koa<AdminState>();
  app.proxy = false;
  app.silent = true;
  app.use(async (ctx, next) => {
    const started = performance.now();
    const trace = traceContext(ctx.req.headers);
    ctx.set('X-Request-Id', trace.requestId);
    let code: string | undefined;
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new NotFoundError(`no route ${ctx.method} ${ctx.path}: see openapi/waymark.yaml (tag admin)`);
      }
    } catch (err) {
      const http = toHttpError(err);
      code = http.body.code;
      if (http.unexpected) hooks.onFailure(err instanceof Error ? err : new Error(String(err)));
      ctx.status = http.status;
      ctx.body = http.body;
      if (http.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="waymark"');
      if (http.status === 403) ctx.set('WWW-Authenticate', 'Bearer realm="waymark", error="insufficient_scope"');
      if (http.status === 503) ctx.set('Retry-After', '1');
    }
    ctx.set('Cache-Control', 'no-store');
    hooks.onRequest({
      method: ctx.method,
      path: ctx.path,
      route: typeof ctx._matchedRoute === 'string' ? ctx._matchedRoute : 'unmatched',
      status: ctx.status,
      durationMs: Math.round(performance.now() - started),
      ...(ctx.state.principal ? { principal: ctx.state.principal.name } : {}),
      ...(code ? { code } : {}),
      ...trace,
    });
  });
  app.use(observability.routes());
  app.use(policyRoutes(registry, tokens).routes());
  app.use(keyRoutes(registry, tokens).routes());
  const router = adminRoutes(registry, tokens, maxBodyBytes);
  app.use(router.routes());
  return app;
}
