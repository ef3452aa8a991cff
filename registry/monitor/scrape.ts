import { parseExposition } from '../../telemetry/exposition.js';

/** What one scrape of a gateway's /metrics says about its traffic. */
export interface TrafficSample {
  /** Requests answered so far (the registry's own scrapes excluded). */
  requests: number;
  /** Of those, answers with a 5xx status. */
  errors: number;
  at: number;
}

export interface TrafficRates {
  requestRate: number;
  errorRate: number;
}

const REQUESTS = 'waymark_gateway_requests_total';

/** Reads a gateway's request counters from its /metrics. Rejects when it does not answer in time. */
export async function scrapeTraffic(gatewayUrl: string, timeoutMs: number, now: () => number = Date.now): Promise<TrafficSample> {
  const res = await fetch(`${gatewayUrl.replace(/\/+$/, '')}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const samples = parseExposition(await res.text());
  let requests = 0;
  let errors = 0;
  for (const s of samples) {
    if (s.name !== REQUESTS || s.labels.route === 'metrics') continue;
    requests += s.value;
    if (s.labels.status?.startsWith('5')) errors += s.value;
  }
  return { requests, errors, at: now() };
}

/** Per-second rates between two samples; undefined when the counters went back (a restarted gateway). */
export function trafficRates(before: TrafficSample, after: TrafficSample): TrafficRates | undefined {
  const seconds = (after.at - before.at) / 1000;
  if (seconds <= 0 || after.requests < before.requests || after.errors < before.errors) return undefined;
  return { requestRate: (after.requests - before.requests) / seconds, errorRate: (after.errors - before.errors) / seconds };
}
