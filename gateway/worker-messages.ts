import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { RegistrationState } from './registration.js';

/**
 * The IPC messages between the primary of `waymark gateway --workers N` (gateway/workers.ts) and
 * its workers (gateway/worker-link.ts). Every message carries `waymark` so the cluster's own
 * messages (and prom-client's) are told apart.
 */

/** Metrics of one worker, as `registry.getMetricsAsJSON()` gives them. */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Worker → primary. */
export type WorkerMessage =
  /** The worker's server is bound; its public base URL (the registration's URL). */
  | { waymark: 'listening'; url: string }
  /** What the worker serves now: the primary reports the oldest revision of all workers. */
  | {
      waymark: 'applied';
      revision: number;
      stale: boolean;
      staleSince: string | null;
      invalidRecords: { key: string; reason: string }[];
    }
  /** A scrape of /metrics reached this worker: asks the primary for the gateway's metrics. */
  | { waymark: 'metrics'; id: number }
  /** Answer to `collect`: this worker's own metrics. */
  | { waymark: 'collected'; id: number; metrics: MetricsJson };

/** Primary → worker. */
export type PrimaryMessage =
  /** The gateway's registration state (the primary holds the lease). */
  | { waymark: 'registration'; state: RegistrationState }
  /** Send this worker's metrics (answer `collected`). */
  | { waymark: 'collect'; id: number }
  /** The gateway's metrics, aggregated over workers, for the scrape `id`. */
  | { waymark: 'metrics'; id: number; text: string; contentType: string }
  /** The registration is gone: stop accepting, finish in-flight requests, exit 0. */
  | { waymark: 'drain' };

/** A message of this protocol (either way), not one of the cluster's own or prom-client's. */
export function isLinkMessage(m: unknown): m is { waymark: string } {
  return typeof m === 'object' && m !== null && typeof (m as { waymark?: unknown }).waymark === 'string';
}

/** Environment variables the primary gives each worker it forks. */
export const WORKER_ENV = { index: 'WAYMARK_GATEWAY_WORKER', count: 'WAYMARK_GATEWAY_WORKERS' } as const;
