import type {
  CommitRecord,
  GatewayRegistration,
  InternalTopology,
  RegionDefinition,
  Service,
  ServiceDefinition,
  TopologyDocument,
} from '../../openapi/index.js';

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

/**
 * One environment's topology at one revision: the records from etcd (upstreams included).
 * Immutable: a change produces a new snapshot, so a document built from one never moves.
 */
export class TopologySnapshot {
  constructor(
    readonly environment: string,
    /** The etcd revision up to which this view is complete. */
    readonly revision: number,
    readonly regions: ReadonlyMap<string, RegionDefinition>,
    readonly services: ReadonlyMap<string, ServiceDefinition>,
    /** Keyed by `<region>/<id>`. */
    readonly gateways: ReadonlyMap<string, GatewayRegistration>,
    readonly commit?: CommitRecord,
  ) {}

  static empty(environment: string, revision = 0): TopologySnapshot {
    return new TopologySnapshot(environment, revision, new Map(), new Map(), new Map());
  }

  /** The same content at a newer revision (content is unchanged, so nothing else moves). */
  atRevision(revision: number): TopologySnapshot {
    if (revision <= this.revision) return this;
    return new TopologySnapshot(this.environment, revision, this.regions, this.services, this.gateways, this.commit);
  }

  /** True when both hold the same records (revision aside). */
  sameContent(other: TopologySnapshot): boolean {
    return (
      this.environment === other.environment &&
      sameRecords(this.regions, other.regions) &&
      sameRecords(this.services, other.services) &&
      sameRecords(this.gateways, other.gateways)
    );
  }

  gatewaysIn(region: string): GatewayRegistration[] {
    const out: GatewayRegistration[] = [];
    for (const g of this.gateways.values()) if (g.region === region) out.push(g);
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Regions whose gateways serve the service: every region for `global`, else its deployments. */
  servingRegions(service: ServiceDefinition): string[] {
    if (service.placement === 'global') return sortedKeys(this.regions);
    const names = new Set<string>();
    for (const d of service.deployments) if (this.regions.has(d.region)) names.add(d.region);
    return [...names].sort();
  }

  /** The public document: never contains upstreams or variables. */
  toDocument(options: DocumentOptions): TopologyDocument {
    const base = options.baseUrl.replace(/\/+$/, '');
    const self = `${base}/.well-known/topology`;
    const entry = (s: ServiceDefinition): Service => {
      const out: Service = { name: s.name, basePath: s.basePath, placement: s.placement, regions: this.servingRegions(s) };
      if (s.jurisdictions?.length) out.jurisdictions = [...s.jurisdictions];
      if (s.failover?.length) out.failover = [...s.failover];
      out._links = { self: { href: `${self}/services/${encodeURIComponent(s.name)}` } };
      return out;
    };
    const { entries } = options;
    const key = entries ? `${self} ${sortedKeys(this.regions).join(',')}` : '';
    const services: Service[] = sortedKeys(this.services).map((name) => {
      const s = this.services.get(name)!;
      return entries ? entries.get(s, key, () => entry(s)) : entry(s);
    });
    const doc: TopologyDocument = {
      environment: this.environment,
      revision: this.revision,
      generatedAt: (options.now ?? new Date()).toISOString(),
      stale: options.stale ?? false,
      maxStaleSeconds: options.maxStaleSeconds,
      refresh: { intervalSeconds: options.refreshIntervalSeconds, jitterSeconds: options.refreshJitterSeconds },
      regions: sortedKeys(this.regions).map((name) => {
        const r = this.regions.get(name)!;
        return {
          name: r.name,
          jurisdiction: r.jurisdiction,
          ...(r.provider !== undefined ? { provider: r.provider } : {}),
          ...(r.location !== undefined ? { location: r.location } : {}),
          gateways: this.gatewaysIn(name).map((g) => ({ id: g.id, url: g.url, status: g.status })),
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

  /** The internal view (upstreams included): the admin API's shape and the gateway's snapshot file. */
  toInternal(): InternalTopology {
    const out: InternalTopology = {
      environment: this.environment,
      revision: this.revision,
      regions: sortedKeys(this.regions).map((k) => this.regions.get(k)!),
      services: sortedKeys(this.services).map((k) => this.services.get(k)!),
      gateways: sortedKeys(this.gateways).map((k) => this.gateways.get(k)!),
    };
    if (this.commit) out.lastCommit = this.commit;
    return out;
  }

  static fromInternal(data: InternalTopology): TopologySnapshot {
    return new TopologySnapshot(
      data.environment,
      data.revision,
      new Map(data.regions.map((r) => [r.name, r])),
      new Map(data.services.map((s) => [s.name, s])),
      new Map(data.gateways.map((g) => [gatewayKey(g.region, g.id), g])),
      data.lastCommit,
    );
  }
}

export function gatewayKey(region: string, id: string): string {
  return `${region}/${id}`;
}

function sortedKeys(map: ReadonlyMap<string, unknown>): string[] {
  return [...map.keys()].sort();
}

function sameRecords<T>(a: ReadonlyMap<string, T>, b: ReadonlyMap<string, T>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || (w !== v && JSON.stringify(w) !== JSON.stringify(v))) return false;
  }
  return true;
}
