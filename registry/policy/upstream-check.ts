import type { ServiceDefinition } from '../../openapi/index.js';
import {
  checkAddress,
  checkUpstreamUrl,
  describeRefusal,
  HostResolver,
  interfaceAddresses,
  parseIp,
  RefusedEndpoints,
  resolveEndpoints,
  type UpstreamRefusal,
  type UpstreamRuleSet,
} from '../../policy/index.js';
import type { Problems, ProblemSubject } from '../manifest/errors.js';
import type { PathSegment } from '../manifest/schema.js';
import type { Placed } from '../manifest/validate.js';
import type { EtcdConnection } from '../../store/etcd.js';
import type { KeyLayout } from '../../store/keys.js';
import { readRefusedEndpoints } from './refused-endpoints.js';
import { readUpstreamPolicy } from './upstream-policy.js';

/**
 * Time an apply may spend resolving upstream names, ms. Names not resolved by then pass the apply
 * (unless the policy needs their addresses): gateways check the resolved address at connect time
 * anyway, and an apply must not hang on a slow DNS (a lookup of a missing name took 75 ms here).
 */
export const APPLY_DNS_BUDGET_MS = 1000;

/** Shared by applies that bring no resolver of their own, so answers are cached between them. */
const sharedResolver = new HostResolver();

/** What the check needs from the apply. */
export interface UpstreamCheckContext {
  conn: EtcdConnection;
  layout: KeyLayout;
  /** `host:port` of the registry's own admin API. */
  ownAddresses: readonly string[];
  resolver?: HostResolver;
}

/**
 * Checks every upstream of the applied services (those that come from a manifest) against the
 * upstream rules of `env`: shape, always-refused addresses and the environment's policy. Names are
 * resolved only when new to the service (not among `stored`'s upstreams): unchanged ones were
 * resolved when applied, and a re-apply of 10 000 services must not wait on 40 000 lookups.
 * Each refusal is a problem naming the manifest, field and rule.
 */
export async function checkUpstreams(
  ctx: UpstreamCheckContext,
  env: string,
  services: ReadonlyMap<string, Placed<ServiceDefinition>>,
  problems: Problems,
  stored: ReadonlyMap<string, ServiceDefinition> = new Map(),
): Promise<void> {
  // Subjects are built only for refusals: locating a field walks the YAML tree.
  const targets: Array<{ url: string; subject: () => ProblemSubject; known: boolean }> = [];
  for (const placed of services.values()) {
    const from = placed.from;
    if (!from) continue;
    const before = new Set(stored.get(placed.value.name)?.deployments.flatMap((d) => d.upstreams));
    placed.value.deployments.forEach((d, i) =>
      d.upstreams.forEach((url, j) => {
        const path: PathSegment[] = ['spec', 'deployments', i, 'upstreams', j];
        const subject = (): ProblemSubject => ({ origin: from.origin, position: from.locate(path), kind: 'Service', name: placed.value.name, path });
        // One problem per field: a URL the manifest checks already refused is not checked again.
        const field = `spec.deployments[${i}].upstreams[${j}]`;
        if (!problems.details.some((p) => p.field === field && p.resource === `Service/${placed.value.name}` && p.file === from.origin.file)) {
          targets.push({ url, subject, known: before.has(url) });
        }
      }),
    );
  }
  if (targets.length === 0) return;

  const resolver = ctx.resolver ?? sharedResolver;
  const policy = await readUpstreamPolicy(ctx.conn, ctx.layout, env);
  const endpoints = await resolveEndpoints(await readRefusedEndpoints(ctx.conn, ctx.layout, ctx.ownAddresses), resolver, APPLY_DNS_BUDGET_MS / 2);
  const rules: UpstreamRuleSet = { refused: new RefusedEndpoints(endpoints, interfaceAddresses()), ...(policy.allowlist ? { allowlist: policy.allowlist } : {}) };

  const pending: Array<{ url: string; subject: () => ProblemSubject; name: string; port: number }> = [];
  for (const t of targets) {
    const { refusal, host } = checkUpstreamUrl(t.url, rules, 'service');
    if (refusal) problems.add(t.subject(), describeRefusal(t.url, refusal), refusal.rule);
    else if (host?.name && !t.known) pending.push({ ...t, name: host.name, port: host.port });
  }
  if (pending.length === 0) return;
  const resolved = await resolver.resolveAll(
    pending.map((p) => p.name),
    { budgetMs: APPLY_DNS_BUDGET_MS },
  );
  for (const p of pending) {
    const r = resolved.get(p.name);
    let refusal: UpstreamRefusal | undefined;
    if (r && 'addresses' in r) {
      for (const a of r.addresses) {
        const ip = parseIp(a);
        refusal = ip ? checkAddress({ name: p.name, port: p.port }, ip, rules, 'service') : undefined;
        if (refusal) break;
      }
    } else if (rules.allowlist && !rules.allowlist.allowsName(p.name)) {
      // The policy allows this name only through its networks, which needs its addresses.
      const why = r ? `it does not resolve from the registry (${r.error})` : `it did not resolve within ${APPLY_DNS_BUDGET_MS} ms`;
      refusal = { rule: 'policy', detail: `${p.name} matches no host pattern of the policy, and ${why} to check it against the policy's networks` };
    }
    if (refusal) problems.add(p.subject(), describeRefusal(p.url, refusal), refusal.rule);
  }
}
