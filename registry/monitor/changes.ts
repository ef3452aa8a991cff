import { isDeepStrictEqual } from 'node:util';
import type { GatewayRegistration, RegionDefinition, ServiceDefinition, TopologyChange } from '../../openapi/index.js';
import type { TopologySnapshot } from '../../store/snapshot.js';

/**
 * What changed from one snapshot of an environment to the next, in words an operator reads:
 * regions, services and gateways added, updated or removed, then the apply's commit (who, what).
 * Upstream addresses are never named (a service's update says which fields changed).
 */
export function diffSnapshots(previous: TopologySnapshot | undefined, next: TopologySnapshot, at = new Date()): TopologyChange[] {
  const out: TopologyChange[] = [];
  const base = { revision: next.revision, at: at.toISOString() };
  const compare = <T extends object>(kind: 'region' | 'service' | 'gateway', before: ReadonlyMap<string, T>, after: ReadonlyMap<string, T>, describe: (value: T) => string) => {
    for (const [name, value] of after) {
      const old = before.get(name);
      if (!old) out.push({ ...base, kind, action: 'added', name, detail: describe(value) });
      else if (!isDeepStrictEqual(old, value)) out.push({ ...base, kind, action: 'updated', name, detail: changedFields(old, value) });
    }
    for (const name of before.keys()) if (!after.has(name)) out.push({ ...base, kind, action: 'removed', name });
  };
  compare('region', previous?.regions ?? new Map<string, RegionDefinition>(), next.regions, (r) => [r.jurisdiction, r.provider, r.location].filter(Boolean).join(', '));
  compare('service', previous?.services ?? new Map<string, ServiceDefinition>(), next.services, (s) =>
    [s.basePath, s.placement === 'pinned' ? `pinned to ${(s.jurisdictions ?? []).join(', ')}` : s.placement, `in ${s.deployments.map((d) => d.region).join(', ') || 'no region'}`].join(', '),
  );
  compare('gateway', previous?.gateways ?? new Map<string, GatewayRegistration>(), next.gateways, (g) => `${g.url}${g.dispatch ? ' (dispatch)' : ''}`);
  const commit = next.commit;
  if (commit && commit.id !== previous?.commit?.id) {
    const s = commit.summary;
    out.push({
      ...base,
      kind: 'commit',
      action: 'committed',
      name: commit.operation ?? 'apply',
      detail: `${commit.operation ?? 'apply'}${commit.from ? ` from ${commit.from}` : ''}: ${s.created} created, ${s.updated} updated, ${s.deleted} deleted`,
      ...(commit.by ? { by: commit.by } : {}),
    });
  }
  return out;
}

/** Top-level fields whose values differ, such as `deployments, failover changed`. */
function changedFields(before: object, after: object): string {
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !isDeepStrictEqual(a[k], b[k])).sort();
  return `${fields.join(', ')} changed`;
}
