import type { CommitView, EnvironmentStatus, EnvironmentView, GatewayStatus, GatewayView, InvalidRecord, RegionView, Service } from '../../openapi/index.js';
import { gatewayKey, type TopologySnapshot } from '../../store/snapshot.js';
import type { TrafficRates } from './scrape.js';

/** What the registry knows of one gateway's traffic from scraping it. */
export interface GatewayTraffic {
  /** False when its /metrics did not answer the last scrape. */
  reachable: boolean;
  rates?: TrafficRates;
}

export interface ViewInputs {
  snapshot: TopologySnapshot;
  stale: boolean;
  /** The last status read (lease TTLs, reports, lag), if any. */
  status?: EnvironmentStatus;
  traffic: ReadonlyMap<string, GatewayTraffic>;
  /** Gateways whose registration is gone, as last seen, keyed by `region/id`. */
  gone: ReadonlyMap<string, GatewayView>;
  history: readonly CommitView[];
  /** Keys of the environment skipped as invalid (the snapshot holds their last valid version, if any). */
  invalid?: readonly InvalidRecord[];
  now: Date;
}

/**
 * The dashboard's view of an environment: regions (with provider, jurisdiction, the services
 * their gateways serve and each gateway's state and traffic), the services, and the last applies.
 * Pure: the monitor feeds it what it read.
 */
export function buildView(inputs: ViewInputs): EnvironmentView {
  const { snapshot } = inputs;
  const statusOf = new Map<string, GatewayStatus>();
  for (const g of inputs.status?.gateways ?? []) statusOf.set(gatewayKey(g.region, g.id), g);
  const services: Service[] = [...snapshot.services.values()]
    .sort((a, b) => compare(a.name, b.name))
    .map((s) => ({
      name: s.name,
      basePath: s.basePath,
      placement: s.placement,
      regions: snapshot.servingRegions(s),
      ...(s.jurisdictions?.length ? { jurisdictions: [...s.jurisdictions] } : {}),
      ...(s.failover?.length ? { failover: [...s.failover] } : {}),
    }));
  const gatewaysByRegion = new Map<string, GatewayView[]>();
  const add = (g: GatewayView) => {
    const list = gatewaysByRegion.get(g.region);
    if (list) list.push(g);
    else gatewaysByRegion.set(g.region, [g]);
  };
  for (const [key, reg] of snapshot.gateways) {
    const status = statusOf.get(key);
    const traffic = inputs.traffic.get(key);
    const view: GatewayView = { id: reg.id, region: reg.region, url: reg.url, state: gatewayState(reg.status, status, traffic) };
    if (status) {
      view.leaseTtlSeconds = status.leaseTtlSeconds;
      view.lag = status.lag;
      if (status.appliedRevision !== undefined) view.appliedRevision = status.appliedRevision;
      if (status.reportedAt) view.reportedAt = status.reportedAt;
    }
    if (traffic?.rates) {
      view.requestRate = round(traffic.rates.requestRate);
      view.errorRate = round(traffic.rates.errorRate);
    }
    add(view);
  }
  for (const [key, g] of inputs.gone) if (!snapshot.gateways.has(key)) add(g);
  // The registry's own skipped keys, then the gateways' registrations and reports it skipped.
  const invalidRecords = [...(inputs.invalid ?? []), ...(inputs.status?.invalidRecords ?? [])];
  const regions: RegionView[] = [...snapshot.regions.values()]
    .sort((a, b) => compare(a.name, b.name))
    .map((r) => ({
      name: r.name,
      jurisdiction: r.jurisdiction,
      ...(r.provider !== undefined ? { provider: r.provider } : {}),
      ...(r.location !== undefined ? { location: r.location } : {}),
      services: services
        .filter((s) => s.regions.includes(r.name))
        .map((s) => ({ name: s.name, placement: s.placement, ...(s.placement === 'pinned' && s.jurisdictions ? { jurisdictions: s.jurisdictions } : {}) })),
      gateways: (gatewaysByRegion.get(r.name) ?? []).sort((a, b) => compare(a.id, b.id)),
    }));
  return {
    environment: snapshot.environment,
    revision: snapshot.revision,
    generatedAt: inputs.now.toISOString(),
    stale: inputs.stale,
    regions,
    services,
    history: [...inputs.history],
    ...(invalidRecords.length ? { invalidRecords } : {}),
  };
}

function gatewayState(registered: string, status: GatewayStatus | undefined, traffic: GatewayTraffic | undefined): GatewayView['state'] {
  if (registered === 'draining') return 'draining';
  if (status?.health === 'down') return 'down';
  if (traffic && !traffic.reachable) return 'unreachable';
  if (status?.health === 'stale') return 'stale';
  if (status?.health === 'lagging') return 'lagging';
  return 'up';
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
