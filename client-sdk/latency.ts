import type { AxiosInstance } from 'axios';
import type { TopologyDocument } from '../openapi/index.js';

/** Weight of a new sample in the moving average. */
const ALPHA = 0.3;

/** Measured round-trip time per region (exponentially weighted moving average, ms). */
export class LatencyTable {
  private readonly rtt = new Map<string, number>();

  record(region: string, ms: number): void {
    const prior = this.rtt.get(region);
    this.rtt.set(region, prior === undefined ? ms : prior + ALPHA * (ms - prior));
  }

  has(region: string): boolean {
    return this.rtt.has(region);
  }

  /** A copy, so a resolver built from it does not change under it. */
  snapshot(): Map<string, number> {
    return new Map(this.rtt);
  }

  /** Regions fastest first: the resolver is rebuilt only when this changes. */
  ranking(): string {
    return [...this.rtt.entries()]
      .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
      .map(([name]) => name)
      .join(',');
  }
}

/**
 * Measures each region's RTT with one `GET /healthz` to its first gateway that is up (a cheap
 * route every gateway serves), at most `concurrency` at a time. Regions that do not answer in
 * time are left unmeasured.
 */
export async function probeRegions(
  doc: TopologyDocument,
  http: AxiosInstance,
  table: LatencyTable,
  timeoutMs: number,
  signal: AbortSignal,
  concurrency: number,
): Promise<void> {
  const targets = doc.regions.flatMap((region) => {
    const gateway = region.gateways.find((g) => g.status === 'up');
    return gateway ? [{ region: region.name, url: `${gateway.url.replace(/\/+$/, '')}/healthz` }] : [];
  });
  let next = 0;
  const worker = async () => {
    while (next < targets.length && !signal.aborted) {
      const { region, url } = targets[next++]!;
      const started = performance.now();
      try {
        await http.get(url, { timeout: timeoutMs, signal, validateStatus: () => true, responseType: 'text' });
        table.record(region, performance.now() - started);
      } catch {
        // Unreachable regions stay unmeasured and are ordered last.
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
}
