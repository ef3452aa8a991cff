import { Router } from '@koa/router';
import type { ParameterizedContext } from 'koa';
import type { Bundle, SigningKeys } from '../../openapi/index.js';
import type { TokenStore } from '../auth/tokens.js';
import { assertName } from '../../topology/index.js';
import { authorizedEnvironment } from './access.js';
import type { AdminState } from './routes.js';

type Ctx = ParameterizedContext<AdminState>;

/** What the routes need from the registry. */
export interface KeyOperations {
  signingKeys(env: string): Promise<SigningKeys>;
  createSigningKey(env: string): Promise<SigningKeys>;
  rotateSigningKey(env: string): Promise<SigningKeys>;
  activateSigningKey(env: string): Promise<SigningKeys>;
  exportBundle(env: string, region?: string): Promise<Bundle>;
}

/**
 * `/v1/environments/{env}/keys`: every token may read the public keys; only admin tokens may
 * create or rotate a key (an environment's signing key vouches for what clients may trust), and
 * export a bundle (`/v1/environments/{env}/bundle`: it carries upstreams).
 */
export function keyRoutes(keys: KeyOperations, tokens: TokenStore): Router<AdminState> {
  const router = new Router<AdminState>();
  const path = '/v1/environments/:env/keys';
  const request = (ctx: Ctx, action: 'read' | 'administer') => authorizedEnvironment(ctx, tokens, action).env;

  router.get(path, async (ctx) => {
    ctx.body = await keys.signingKeys(request(ctx, 'read'));
  });

  router.post(path, async (ctx) => {
    ctx.body = await keys.createSigningKey(request(ctx, 'administer'));
    ctx.status = 201;
  });

  router.post(`${path}/rotate`, async (ctx) => {
    ctx.body = await keys.rotateSigningKey(request(ctx, 'administer'));
  });

  router.post(`${path}/activate`, async (ctx) => {
    ctx.body = await keys.activateSigningKey(request(ctx, 'administer'));
  });

  router.get('/v1/environments/:env/bundle', async (ctx) => {
    const env = request(ctx, 'administer');
    const region = ctx.query.region;
    if (region !== undefined) assertName('region', String(region));
    ctx.body = await keys.exportBundle(env, region === undefined ? undefined : String(region));
  });

  return router;
}
