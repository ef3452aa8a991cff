import { Router } from '@koa/router';
import type { ParameterizedContext } from 'koa';
import type { UpstreamPolicy } from '../../openapi/index.js';
import type { TokenStore } from '../auth/tokens.js';
import { policyRequest, POLICY_BODY_BYTES } from '../policy/upstream-policy.js';
import { authorizedEnvironment } from './access.js';
import { readBody } from './body.js';
import type { AdminState } from './routes.js';

type Ctx = ParameterizedContext<AdminState>;

/** What the routes need from the registry. */
export interface PolicyOperations {
  upstreamPolicy(env: string): Promise<UpstreamPolicy>;
  setUpstreamPolicy(env: string, allow: string[], by: string): Promise<UpstreamPolicy>;
  deleteUpstreamPolicy(env: string): Promise<UpstreamPolicy>;
}

/**
 * `/v1/environments/{env}/upstream-policy`: every token may read it; only admin tokens may set
 * or delete it, whatever environments an operator holds, so an operator can never widen what
 * its own services may reach.
 */
export function policyRoutes(policies: PolicyOperations, tokens: TokenStore): Router<AdminState> {
  const router = new Router<AdminState>();
  const path = '/v1/environments/:env/upstream-policy';
  const request = (ctx: Ctx, action: 'read' | 'administer') => {
    const { env, principal } = authorizedEnvironment(ctx, tokens, action);
    return { env, by: principal.name };
  };

  router.get(path, async (ctx) => {
    const { env } = request(ctx, 'read');
    ctx.body = await policies.upstreamPolicy(env);
  });

  router.put(path, async (ctx) => {
    const { env, by } = request(ctx, 'administer');
    const body = await readBody(ctx.req, POLICY_BODY_BYTES, ['json']);
    ctx.body = await policies.setUpstreamPolicy(env, policyRequest(body.text), by);
  });

  router.delete(path, async (ctx) => {
    const { env } = request(ctx, 'administer');
    ctx.body = await policies.deleteUpstreamPolicy(env);
  });

  return router;
}
