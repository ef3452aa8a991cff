import type { UpstreamPolicy } from '../../openapi/index.js';
import { readStoredPolicy, UPSTREAM_RULES, UpstreamAllowlist, type StoredUpstreamPolicy, type UpstreamRule } from '../../policy/index.js';
import { BadRequestError } from '../errors.js';
import { ValidationError } from '../manifest/errors.js';
import type { EtcdConnection } from '../../store/etcd.js';
import type { KeyLayout } from '../../store/keys.js';

/**
 * An environment's upstream policy as an admin resource (`/v1/environments/{env}/upstream-policy`):
 * stored at `<prefix>/_policy/upstreams/<env>`, outside the environment's prefix, so no apply,
 * promotion or prune can write it; only the admin-only routes do. Gateways watch it.
 */

/** A policy body is a list of patterns: small. */
export const POLICY_BODY_BYTES = 64 * 1024;

/** The rules that hold whatever the policy says, as the API lists them. */
export const ALWAYS_REFUSED: UpstreamPolicy['alwaysRefused'] = (Object.keys(UPSTREAM_RULES) as UpstreamRule[])
  .filter((rule) => rule !== 'policy')
  .map((rule) => ({ rule, reason: UPSTREAM_RULES[rule] }));

/** The stored policy of an environment (undefined: the default) and its allowlist, as an apply checks it. */
export async function readUpstreamPolicy(
  conn: EtcdConnection,
  layout: KeyLayout,
  env: string,
): Promise<{ stored?: StoredUpstreamPolicy; allowlist?: UpstreamAllowlist; problem?: string }> {
  const text = await conn.call((c) => c.get(layout.upstreamPolicy(env)).string());
  if (text === null) return {};
  const read = readStoredPolicy(text);
  return { ...(read.policy ? { stored: read.policy } : {}), allowlist: read.allowlist, ...(read.problem ? { problem: read.problem } : {}) };
}

/** What GET answers: the allowlist (absent when unset) and the rules no policy can lift. */
export async function upstreamPolicyView(conn: EtcdConnection, layout: KeyLayout, env: string): Promise<UpstreamPolicy> {
  const { stored, problem } = await readUpstreamPolicy(conn, layout, env);
  return view(env, stored, problem);
}

/** Replaces the policy (admins only: the route checks). Entries are validated; 422 names each bad one. */
export async function setUpstreamPolicy(conn: EtcdConnection, layout: KeyLayout, env: string, allow: string[], by: string): Promise<UpstreamPolicy> {
  const { problems } = UpstreamAllowlist.parse(allow);
  if (problems.length > 0) {
    throw new ValidationError(problems.map((p) => ({ field: `allow[${p.index}]`, message: p.message, rule: 'policy' })));
  }
  const stored: StoredUpstreamPolicy = { environment: env, allow, updatedAt: new Date().toISOString(), updatedBy: by };
  await conn.call((c) => c.put(layout.upstreamPolicy(env)).value(JSON.stringify(stored)).exec());
  return view(env, stored);
}

/** Back to the default (any host not always refused). */
export async function deleteUpstreamPolicy(conn: EtcdConnection, layout: KeyLayout, env: string): Promise<UpstreamPolicy> {
  await conn.call((c) => c.delete().key(layout.upstreamPolicy(env)).exec());
  return view(env, undefined);
}

/** The body of PUT: `{"allow": [string, …]}` and nothing else. */
export function policyRequest(text: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`the policy is not JSON: ${(err as Error).message}`);
  }
  const body = v as { allow?: unknown } | null;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequestError('the policy must be {"allow": [host patterns and networks]}');
  for (const k of Object.keys(body)) if (k !== 'allow') throw new BadRequestError(`unknown field ${JSON.stringify(k)} in the policy: expected allow`);
  if (!Array.isArray(body.allow)) throw new BadRequestError('"allow" must be a list of host patterns (*.internal.example.com) and networks (10.0.0.0/8)');
  return body.allow as string[];
}

function view(env: string, stored: StoredUpstreamPolicy | undefined, problem?: string): UpstreamPolicy {
  return {
    environment: env,
    ...(stored ? { allow: stored.allow } : problem ? { allow: [] } : {}),
    ...(stored?.updatedAt ? { updatedAt: stored.updatedAt } : {}),
    ...(stored?.updatedBy ? { updatedBy: stored.updatedBy } : {}),
    ...(problem ? { problem } : {}),
    alwaysRefused: ALWAYS_REFUSED,
  };
}
