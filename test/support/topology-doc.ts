import type { GatewayInstance, Service, TopologyDocument } from '../../openapi/index.js';

/** A region of a crafted topology document: name, jurisdiction, gateways (status `up` unless said). */
export interface RegionSpec {
  name: string;
  jurisdiction?: string;
  gateways?: (Partial<GatewayInstance> & { url: string })[];
}

/**
 * A TopologyDocument built by hand for SDK tests (what a gateway would serve): regions with
 * gateways, services with `regions` defaulting to every region.
 */
export function topologyDoc(spec: {
  environment?: string;
  revision?: number;
  regions: RegionSpec[];
  services: (Partial<Service> & { name: string })[];
  maxStaleSeconds?: number;
  refresh?: { intervalSeconds: number; jitterSeconds: number };
  stale?: boolean;
  staleSince?: string;
}): TopologyDocument {
  const regions = spec.regions.map((r) => ({
    name: r.name,
    jurisdiction: r.jurisdiction ?? 'EU',
    gateways: (r.gateways ?? []).map((g, i) => ({ id: g.id ?? `${r.name}-gw${i + 1}`, url: g.url, status: g.status ?? 'up' })),
  }));
  const doc: TopologyDocument = {
    environment: spec.environment ?? 'prod',
    revision: spec.revision ?? 1,
    stale: spec.stale ?? false,
    maxStaleSeconds: spec.maxStaleSeconds ?? 300,
    refresh: spec.refresh ?? { intervalSeconds: 30, jitterSeconds: 5 },
    regions,
    services: spec.services.map((s) => ({
      basePath: `/${s.name}/v1`,
      placement: 'regional',
      regions: regions.map((r) => r.name),
      ...s,
    })),
    _links: { self: { href: 'http://gw/.well-known/topology' }, service: { href: 'http://gw/.well-known/topology/services/{name}', templated: true } },
  };
  if (spec.staleSince) doc.staleSince = spec.staleSince;
  return doc;
}
