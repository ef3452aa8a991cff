import type { Service, ServiceDefinition, TopologyDocument } from '../openapi/index.js';
import type { TopologySnapshot } from '../store/index.js';

/** What a document needs beyond etcd's content: set by the gateway that serves it. */
export interface DocumentOptions {
  /** Public base URL of the serving gateway, for `_links`. */
  baseUrl: string;
  /** How long clients may route on this document when no gateway answers. */
  maxStaleSeconds: number;
  refreshIntervalSeconds: number;
  refreshJitterSeconds: number;
  servedBy?: { gateway: string; region: string };
  stale?: boolean;
  staleSince?: Date;
  now?: Date;
  /** Entries of unchanged services kept from earlier documents (see ServiceEntries). */
  entries?: ServiceEntries;
}

/**
 * Public service entries reused across documents. An entry depends only on its definition, the
 * environment's region names and the base URL, all given by `key`: after a change of one service
 * out of 10 000, one entry is rebuilt instead of every one. Entries must be treated as immutable.
 */
export interface ServiceEntries {
  get(definition: ServiceDefinition, key: string, build: () => Service): Service;
}

/** The public document: never contains upstreams or variables. */
export function buildDocument(snapshot: TopologySnapshot, options: DocumentOptions): TopologyDocument {
  const base = options.baseUrl.replace(/\/+$/, '');
  const self = `${base}/.well-known/topology`;
  const entry = (s: ServiceDefinition): Service => {
    const out: Service = { name: s.name, basePath: s.basePath, placement: s.placement, regions: snapshot.servingRegions(s) };
    if (s.jurisdictions?.length) out.jurisdictions = [...s.jurisdictions];
    if (s.failover?.length) out.failover = [...s.failover];
    out._links = { self: { href: `${self}/services/${encodeURIComponent(s.name)}` } };
    return out;
  };
  const { entries } = options;
  const key = entries ? `${self} ${sortedKeys(snapshot.regions).join(',')}` : '';
  const services: Service[] = sortedKeys(snapshot.services).map((name) => {
    const s = snapshot.services.get(name)!;
    return entries ? entries.get(s, key, () => entry(s)) : entry(s);
  });
  const doc: TopologyDocument = {
    environment: snapshot.environment,
    revision: snapshot.revision,
    generatedAt: (options.now ?? new Date()).toISOString(),
    stale: options.stale ?? false,
    maxStaleSeconds: options.maxStaleSeconds,
    refresh: { intervalSeconds: options.refreshIntervalSeconds, jitterSeconds: options.refreshJitterSeconds },
    regions: sortedKeys(snapshot.regions).map((name) => {
      const r = snapshot.regions.get(name)!;
      return {
        name: r.name,
        jurisdiction: r.jurisdiction,
        ...(r.provider !== undefined ? { provider: r.provider } : {}),
        ...(r.location !== undefined ? { location: r.location } : {}),
        gateways: snapshot.gatewaysIn(name).map((g) => ({ id: g.id, url: g.url, status: g.status })),
      };
    }),
    services,
    _links: {
      self: { href: self, type: 'application/json' },
      service: { href: `${self}/services/{name}`, templated: true },
    },
  };
  if (options.stale && options.staleSince) doc.staleSince = options.staleSince.toISOString();
  if (options.servedBy) doc.servedBy = options.servedBy;
  return doc;
}

function sortedKeys(map: ReadonlyMap<string, unknown>): string[] {
  return [...map.keys()].sort();
}
