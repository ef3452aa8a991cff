import { performance } from 'node:perf_hooks';
import type { WaymarkClient } from '../../client-sdk/index.js';

/** Steady SDK traffic against one service, as a test's background load. */
export interface TrafficOptions {
  /** Service the calls go to. */
  service: string;
  /** Concurrent workers, each making one call at a time. Default 4. */
  workers?: number;
  /** Pause between two calls of a worker, ms. Default 10. */
  pauseMs?: number;
  /** Hard bounds: a worker stops after this many calls, or this long, whatever comes first. */
  maxCallsPerWorker?: number;
  maxDurationMs?: number;
  /** Path of each call under the service's base path. Default `/items/<n>`. */
  path?: (n: number) => string;
}

export const TRAFFIC_DEFAULTS = {
  workers: 4,
  pauseMs: 10,
  maxCallsPerWorker: 100_000,
  maxDurationMs: 120_000,
} as const;

/** One call that did not end in a 2xx. */
export interface TrafficFailure {
  at: number;
  error: string;
}

export interface TrafficStats {
  calls: number;
  ok: number;
  failures: TrafficFailure[];
  /** Calls answered by each gateway (its X-Waymark-Gateway header). */
  servedBy: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface Traffic {
  /** Calls started at or after `since` (Date.now() ms) and answered, by gateway id: a call in flight when a test changes the topology counts before the change. */
  servedSince(since: number): Record<string, number>;
  stats(): TrafficStats;
  /** Resolves when every worker reached its bounds (calls or duration). */
  done(): Promise<TrafficStats>;
  /** Stops the workers and waits for their calls in flight. */
  stop(): Promise<TrafficStats>;
}

/** Starts GET workers on `client`; stop them in `after`/`finally`. */
export function startTraffic(client: WaymarkClient, options: TrafficOptions): Traffic {
  const workers = options.workers ?? TRAFFIC_DEFAULTS.workers;
  const pauseMs = options.pauseMs ?? TRAFFIC_DEFAULTS.pauseMs;
  const maxCalls = options.maxCallsPerWorker ?? TRAFFIC_DEFAULTS.maxCallsPerWorker;
  const deadline = Date.now() + (options.maxDurationMs ?? TRAFFIC_DEFAULTS.maxDurationMs);
  const path = options.path ?? ((n: number) => `/items/${n}`);
  const latencies: number[] = [];
  const failures: TrafficFailure[] = [];
  /** `at`: when the call started. */
  const served: { at: number; by: string }[] = [];
  let stopped = false;
  let n = 0;
  const worker = async () => {
    for (let i = 0; i < maxCalls && !stopped && Date.now() < deadline; i++) {
      const started = performance.now();
      const startedAt = Date.now();
      try {
        const res = await client.request(options.service, { method: 'GET', url: path(n++) });
        latencies.push(performance.now() - started);
        served.push({ at: startedAt, by: String(res.headers['x-waymark-gateway'] ?? '?') });
      } catch (err) {
        latencies.push(performance.now() - started);
        failures.push({ at: Date.now(), error: String(err) });
      }
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  const running = Promise.all(Array.from({ length: workers }, worker));
  const stats = (): TrafficStats => {
    const sorted = [...latencies].sort((a, b) => a - b);
    const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0);
    const servedBy: Record<string, number> = {};
    for (const s of served) servedBy[s.by] = (servedBy[s.by] ?? 0) + 1;
    return {
      calls: latencies.length,
      ok: served.length,
      failures: [...failures],
      servedBy,
      p50Ms: Math.round(at(0.5)),
      p99Ms: Math.round(at(0.99)),
      maxMs: Math.round(sorted[sorted.length - 1] ?? 0),
    };
  };
  return {
    servedSince(since) {
      const out: Record<string, number> = {};
      for (const s of served) if (s.at >= since) out[s.by] = (out[s.by] ?? 0) + 1;
      return out;
    },
    stats,
    done: () => running.then(stats),
    async stop() {
      stopped = true;
      await running;
      return stats();
    },
  };
}
