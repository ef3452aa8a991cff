import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ApplyResult, EnvironmentStatus } from '../../openapi/index.js';
import type { EnvironmentMonitor } from '../monitor/monitor.js';

/** The `result` label of applies. */
export type ApplyOutcome = 'changed' | 'unchanged' | 'dry_run' | 'rejected' | 'conflict' | 'failed';

/** What the gauges read when scraped. */
export interface RegistryGaugeSources {
  /** The status of every environment (read from etcd at scrape time); rejects when etcd is down. */
  statuses(): Promise<EnvironmentStatus[]>;
  /** The environment monitors running now (dashboards, `waymark watch`). */
  monitors(): readonly EnvironmentMonitor[];
  /** Event streams (SSE) held open now. */
  eventStreams(): number;
}

/**
 * The registry's Prometheus metrics, in a registry of its own: admin requests, applies by result
 * and their duration, gateways per region by health, environment revisions, watch resyncs,
 * keepalive failures of its lease and held event streams, plus the standard `process_*` and
 * `nodejs_*` metrics. No label carries a token or a secret.
 */
export class RegistryMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly requestDuration: Histogram<'route'>;
  private readonly applies: Counter<'environment' | 'operation' | 'result'>;
  private readonly applyDuration: Histogram<'operation'>;
  private readonly resyncs: Counter<'environment' | 'reason'>;
  private readonly monitorWarnings: Counter<'environment'>;
  /** The reason labels each environment's resync series carry, to remove them with the monitor. */
  private readonly resyncReasons = new Map<string, Set<string>>();
  private readonly keepaliveFailures: Counter;
  private readonly leaseLosses: Counter;

  constructor(sources: RegistryGaugeSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'waymark_registry_requests_total',
      help: 'Admin API requests answered, by method, route (the matched path pattern) and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'waymark_registry_request_duration_seconds',
      help: 'Admin API request durations, by route (event streams: until the headers are sent).',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.applies = new Counter({
      name: 'waymark_registry_applies_total',
      help: 'Applies and promotions, by environment, operation and result (changed, unchanged, dry_run, rejected, conflict, failed).',
      labelNames: ['environment', 'operation', 'result'],
      registers,
    });
    this.applyDuration = new Histogram({
      name: 'waymark_registry_apply_duration_seconds',
      help: 'Time to validate, diff and commit an apply or promotion, by operation.',
      labelNames: ['operation'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.resyncs = new Counter({
      name: 'waymark_registry_watch_resyncs_total',
      help: 'Full re-reads by the environment watches of the registry (dashboards, waymark watch), by environment and reason.',
      labelNames: ['environment', 'reason'],
      registers,
    });
    this.monitorWarnings = new Counter({
      name: 'waymark_registry_watch_warnings_total',
      help: 'Invalid records skipped and exceptions caught by the environment watches of the registry (dashboards, waymark watch), by environment.',
      labelNames: ['environment'],
      registers,
    });
    this.keepaliveFailures = new Counter({
      name: 'waymark_registry_lease_keepalive_failures_total',
      help: 'Failed keepalives of the lease of the registry (which marks its multi-transaction applies as live).',
      registers,
    });
    this.leaseLosses = new Counter({
      name: 'waymark_registry_lease_lost_total',
      help: 'Leases of the registry lost (a new one is then granted).',
      registers,
    });
    new Gauge({
      name: 'waymark_registry_event_streams',
      help: 'Event streams (dashboards, waymark watch) held open now.',
      registers,
      collect() {
        this.set(sources.eventStreams());
      },
    });
    new Gauge({
      name: 'waymark_registry_staleness_seconds',
      help: 'Per watched environment: seconds since the watch of the registry lost etcd (0 while fresh).',
      labelNames: ['environment'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const m of sources.monitors()) {
          const since = m.staleSince;
          this.set({ environment: m.environment }, since ? Math.max(0, (now - since.getTime()) / 1000) : 0);
        }
      },
    });
    // Both read etcd once per scrape; `etcd_up` says whether that read worked.
    let statuses: Promise<EnvironmentStatus[] | undefined> | undefined;
    const read = () => {
      statuses ??= sources.statuses().then(
        (s) => s,
        () => undefined,
      );
      return statuses;
    };
    new Gauge({
      name: 'waymark_registry_etcd_up',
      help: '1 when the registry could read etcd while being scraped, else 0.',
      registers,
      async collect() {
        this.set((await read()) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'waymark_registry_gateways',
      help: 'Registered gateways per environment, region and health (healthy, lagging, stale, unknown, down), as `waymark status` shows them.',
      labelNames: ['environment', 'region', 'health'],
      registers,
      async collect() {
        this.reset();
        const all = await read();
        for (const s of all ?? []) {
          const counts = new Map<string, { region: string; health: string; n: number }>();
          for (const g of s.gateways) {
            const key = `${g.region}\u0000${g.health}`;
            const c = counts.get(key) ?? { region: g.region, health: g.health, n: 0 };
            c.n++;
            counts.set(key, c);
          }
          for (const c of counts.values()) this.set({ environment: s.environment, region: c.region, health: c.health }, c.n);
        }
      },
    });
    new Gauge({
      name: 'waymark_registry_environment_revision',
      help: 'The revision of each environment (README "Revisions"): what its gateways serve, what lag is measured against.',
      labelNames: ['environment'],
      registers,
      async collect() {
        this.reset();
        const all = await read();
        // The last gauge of the scrape: the next scrape reads etcd again.
        statuses = undefined;
        for (const s of all ?? []) this.set({ environment: s.environment }, s.revision);
      },
    });
  }

  request(method: string, route: string, status: number, seconds: number): void {
    this.requests.inc({ method, route, status: String(status) });
    this.requestDuration.observe({ route }, seconds);
  }

  applied(environment: string, operation: string, outcome: ApplyOutcome, seconds: number): void {
    this.applies.inc({ environment, operation, result: outcome });
    this.applyDuration.observe({ operation }, seconds);
  }

  /** An environment watch skipped an invalid record or caught an exception (see EnvironmentMonitor). */
  monitorWarning(environment: string): void {
    this.monitorWarnings.inc({ environment });
  }

  resynced(environment: string, reason: string): void {
    const label = reason.replace(/\s*\(.*$/, '');
    this.resyncs.inc({ environment, reason: label });
    const reasons = this.resyncReasons.get(environment) ?? new Set<string>();
    reasons.add(label);
    this.resyncReasons.set(environment, reasons);
  }

  /** Removes the series of an environment's monitor (it closed). */
  forgetMonitor(environment: string): void {
    this.monitorWarnings.remove({ environment });
    for (const reason of this.resyncReasons.get(environment) ?? []) this.resyncs.remove({ environment, reason });
    this.resyncReasons.delete(environment);
  }

  keepaliveFailed(): void {
    this.keepaliveFailures.inc();
  }

  leaseLost(): void {
    this.leaseLosses.inc();
  }
}

/** The `result` label of an apply's answer. */
export function applyOutcome(result: ApplyResult): ApplyOutcome {
  if (result.dryRun) return 'dry_run';
  return result.changed ? 'changed' : 'unchanged';
}
