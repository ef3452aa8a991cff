/**
 * How big one environment's topology may be: the same caps for the registry (an apply that
 * would pass them is rejected), the gateway (a snapshot over them is not published; the last
 * good document stays) and the SDK (a document over them is rejected; the last good one stays).
 * They bound the work each client does per document (ordering, probes, routes), whatever a
 * gateway sends.
 */
export const TOPOLOGY_LIMITS = {
  /** Regions per environment. */
  maxRegions: 1000,
  /** Gateways listed in one region. */
  maxGatewaysPerRegion: 256,
  /** Gateways listed in all regions together. */
  maxGateways: 5000,
  /** Services per environment. */
  maxServices: 20_000,
} as const;

/** What is counted against TOPOLOGY_LIMITS. */
export interface TopologySize {
  regions: number;
  services: number;
  /** Gateways per region, by region name (absent when not known, as in a manifest). */
  gatewaysByRegion?: ReadonlyMap<string, number>;
}

/** Why a topology of this size is over the caps (one sentence per cap), or [] when it is within them. */
export function topologySizeProblems(size: TopologySize): string[] {
  const out: string[] = [];
  const L = TOPOLOGY_LIMITS;
  if (size.regions > L.maxRegions) out.push(`${size.regions} regions, over the limit of ${L.maxRegions}`);
  if (size.services > L.maxServices) out.push(`${size.services} services, over the limit of ${L.maxServices}`);
  if (size.gatewaysByRegion) {
    let total = 0;
    for (const [region, n] of size.gatewaysByRegion) {
      total += n;
      if (n > L.maxGatewaysPerRegion) out.push(`${n} gateways in region ${region}, over the limit of ${L.maxGatewaysPerRegion} per region`);
    }
    if (total > L.maxGateways) out.push(`${total} gateways, over the limit of ${L.maxGateways}`);
  }
  return out;
}
