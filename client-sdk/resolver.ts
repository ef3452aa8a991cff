import type { RoutedGateway, Service, TopologyDocument } from '../openapi/index.js';
import { orderRegions, regionGateways, type CandidateOptions } from '../topology/index.js';
import { NoRouteError } from './errors.js';

/** One gateway a service's calls may go to. */
export interface Candidate {
  readonly gateway: RoutedGateway;
  /** `${gateway.url}${service.basePath}`: a call's path is appended to it. */
  readonly baseUrl: string;
  /** True when kept from an earlier revision because the current one leaves the service no gateway. */
  readonly lastResort: boolean;
}

/** A service and its candidate gateways, best first. */
export interface Route {
  readonly service: Service;
  readonly candidates: readonly Candidate[];
}

/** A service that the new revision left without gateways, kept on the previous ones as a last resort. */
export interface LastResortEvent {
  service: string;
  revision: number;
  gateways: RoutedGateway[];
}

interface Entry {
  readonly service: Service;
  /** Shared by the services with the same ordering inputs. */
  readonly gateways: readonly RoutedGateway[];
  readonly lastResort: boolean;
  route?: Route;
}

/**
 * The routes of one topology revision, computed once when the revision (or the latency ranking)
 * arrives, so that resolving a call is a map lookup. The ordering is computed once per distinct
 * (placement, jurisdictions, regions, failover) and shared; a service's candidate list is
 * materialized on its first call.
 */
export class Resolver {
  private constructor(
    readonly document: TopologyDocument,
    /** The region ordered first: the configured one, else the lowest measured RTT. */
    readonly region: string | undefined,
    private readonly entries: ReadonlyMap<string, Entry>,
  ) {}

  get revision(): number {
    return this.document.revision;
  }

  /** The route of a service; NoRouteError when the topology has no such service. */
  resolve(service: string): Route {
    const entry = this.entries.get(service);
    if (entry === undefined) throw new NoRouteError(service, this.document.revision);
    return (entry.route ??= {
      service: entry.service,
      candidates: entry.gateways.map((gateway) => ({ gateway, baseUrl: `${gateway.url}${entry.service.basePath}`, lastResort: entry.lastResort })),
    });
  }

  /**
   * Precomputes every service's candidates. A service that had gateways in `previous` and has
   * none now keeps the previous ones (within its current jurisdictions) as a last resort, the
   * way Envoy's panic threshold keeps routing rather than failing everything on a bad update.
   */
  static build(
    doc: TopologyDocument,
    options: CandidateOptions,
    previous?: Resolver,
  ): { resolver: Resolver; lastResort: LastResortEvent[] } {
    const region = options.region ?? fastestRegion(options.latencyMs);
    const ordering: CandidateOptions = { region, ...(options.latencyMs ? { latencyMs: options.latencyMs } : {}) };
    const upGateways = new Map<string, RoutedGateway[]>();
    for (const r of doc.regions) {
      upGateways.set(r.name, regionGateways(r).map((g) => ({ ...g, url: g.url.replace(/\/+$/, '') })));
    }
    const orderings = new Map<string, RoutedGateway[]>();
    const entries = new Map<string, Entry>();
    const lastResort: LastResortEvent[] = [];
    for (const service of doc.services) {
      const key = `${service.placement}|${service.jurisdictions?.join(',') ?? ''}|${service.regions.join(',')}|${service.failover?.join(',') ?? ''}`;
      let gateways = orderings.get(key);
      if (gateways === undefined) {
        gateways = orderRegions(doc, service, ordering).flatMap((name) => upGateways.get(name) ?? []);
        orderings.set(key, gateways);
      }
      if (gateways.length === 0 && previous) {
        const kept = keptGateways(doc, service, previous);
        if (kept.length > 0) {
          lastResort.push({ service: service.name, revision: doc.revision, gateways: kept });
          entries.set(service.name, { service, gateways: kept, lastResort: true });
          continue;
        }
      }
      entries.set(service.name, { service, gateways, lastResort: false });
    }
    return { resolver: new Resolver(doc, region, entries), lastResort };
  }

  /** The gateways a service had in this revision (none if unknown). */
  gatewaysOf(service: string): readonly RoutedGateway[] {
    return this.entries.get(service)?.gateways ?? [];
  }
}

/** The previous revision's gateways for a service, restricted to the jurisdictions it allows now. */
function keptGateways(doc: TopologyDocument, service: Service, previous: Resolver): RoutedGateway[] {
  const jurisdictionOf = (region: string) =>
    (doc.regions.find((r) => r.name === region) ?? previous.document.regions.find((r) => r.name === region))?.jurisdiction;
  return previous
    .gatewaysOf(service.name)
    .filter((g) => service.placement !== 'pinned' || (service.jurisdictions ?? []).includes(jurisdictionOf(g.region) ?? ''));
}

/** The region with the lowest measured RTT, if any was measured. */
export function fastestRegion(latencyMs: ReadonlyMap<string, number> | undefined): string | undefined {
  let best: string | undefined;
  let bestMs = Number.POSITIVE_INFINITY;
  for (const [name, ms] of latencyMs ?? []) {
    if (ms < bestMs || (ms === bestMs && best !== undefined && name < best)) {
      best = name;
      bestMs = ms;
    }
  }
  return best;
}
