import type { Region, RoutedGateway, Service, TopologyDocument } from './types.js';

/** Inputs to ordering, beyond the document. */
export interface CandidateOptions {
  /** The caller's region: its gateways come first. */
  region?: string;
  /** Measured round-trip time per region (ms); orders the regions after the failover list. */
  latencyMs?: ReadonlyMap<string, number>;
}

/** Each document's regions by name, built once per document: lookups stay O(1) at any size. */
const regionIndexes = new WeakMap<TopologyDocument, ReadonlyMap<string, Region>>();

function regionIndex(doc: TopologyDocument): ReadonlyMap<string, Region> {
  let index = regionIndexes.get(doc);
  if (!index) {
    index = new Map(doc.regions.map((r) => [r.name, r]));
    regionIndexes.set(doc, index);
  }
  return index;
}

/**
 * Whether a service's traffic may pass through a region. A `pinned` service may only go through
 * regions whose jurisdiction it allows (data residency); the others may go anywhere they are served.
 */
export function regionAllowed(doc: TopologyDocument, service: Service, regionName: string): boolean {
  if (service.placement !== 'pinned') return true;
  const region = regionIndex(doc).get(regionName);
  return region !== undefined && (service.jurisdictions ?? []).includes(region.jurisdiction);
}

/**
 * Regions that serve a service, best first for a caller: its own region, then the service's
 * `failover` order, then the others by measured latency (unmeasured last, by name). Regions a
 * pinned service may not use are never returned. O(n log n) in the service's regions.
 */
export function orderRegions(doc: TopologyDocument, service: Service, options: CandidateOptions = {}): string[] {
  const serving = new Set(service.regions.filter((r) => regionAllowed(doc, service, r)));
  const out: string[] = [];
  const taken = new Set<string>();
  const take = (name: string | undefined) => {
    if (name !== undefined && serving.has(name) && !taken.has(name)) {
      taken.add(name);
      out.push(name);
    }
  };
  take(options.region);
  for (const name of service.failover ?? []) take(name);
  const latency = (name: string) => options.latencyMs?.get(name) ?? Number.POSITIVE_INFINITY;
  const rest = [...serving].filter((name) => !taken.has(name)).sort((a, b) => latency(a) - latency(b) || (a < b ? -1 : a > b ? 1 : 0));
  for (const name of rest) take(name);
  return out;
}

/**
 * The gateways of a region that take calls, in the order a client tries them: status `up` only
 * (a draining one never), by id. By id rather than as listed, so the order is one rule and not
 * whatever a document says; the same on every client, so a region's calls go to one gateway
 * while it is healthy (a client moves a failed one to the end for its ejection). Name gateways
 * so that the preferred one sorts first.
 */
export function regionGateways(region: TopologyDocument['regions'][number]): RoutedGateway[] {
  return region.gateways
    .filter((g) => g.status === 'up')
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((g) => ({ id: g.id, region: region.name, url: g.url, status: g.status }));
}

/** Gateways (status `up`) that can take a call to the service, best first. */
export function candidateGateways(doc: TopologyDocument, service: Service, options: CandidateOptions = {}): RoutedGateway[] {
  const out: RoutedGateway[] = [];
  const regions = regionIndex(doc);
  for (const name of orderRegions(doc, service, options)) {
    const region = regions.get(name);
    if (region) out.push(...regionGateways(region));
  }
  return out;
}
