import type { ParameterizedContext } from 'koa';
import { authorize, type Action, type Principal, type TokenStore } from '../auth/tokens.js';
import { assertName } from '../../topology/index.js';
import type { AdminState } from './routes.js';

type Ctx = ParameterizedContext<AdminState>;

/** The request's principal (401 without a valid token), kept on the state for the request log. */
export function authenticate(ctx: Ctx, tokens: TokenStore): Principal {
  const principal = tokens.authenticate(ctx.get('authorization') || undefined);
  ctx.state.principal = principal;
  return principal;
}

/** The route's `:env`, checked as a name (400 otherwise). */
export function environmentParam(ctx: Ctx): string {
  const env = (ctx.params as Record<string, string>).env;
  assertName('environment', env);
  return env;
}

/** The route's environment, once the request's token may do `action` on it (401/403 otherwise). */
export function authorizedEnvironment(ctx: Ctx, tokens: TokenStore, action: Action): { env: string; principal: Principal } {
  const principal = authenticate(ctx, tokens);
  const env = environmentParam(ctx);
  authorize(principal, action, env);
  return { env, principal };
}
