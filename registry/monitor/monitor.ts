import { EventEmitter } from 'node:events';
import type { CommitView, EnvironmentStatus, EnvironmentView, GatewayView, TopologyChange } from '../../openapi/index.js';
import { environmentStatus } from '../apply/status.js';
import type { EtcdConnection } from '../../store/etcd.js';
import type { KeyLayout } from '../../store/keys.js';
import { gatewayKey, TopologySnapshot } from '../../store/snapshot.js';
import { TopologyWatcher } from '../../store/watch.js';
import { diffSnapshots } from './changes.js';
import { commitHistory } from './history.js';
import { scrapeTraffic, trafficRates, type TrafficSample } from './scrape.js';
import { buildView, type GatewayTraffic } from './view.js';

/** How an environment is watched for the dashboard. Every default is in ENVIRONMENT_MONITOR_DEFAULTS. */
export interface EnvironmentMonitorOptions {
  /** How often gateway reports and lease TTLs are read from etcd, ms. Default 1000. */
  statusIntervalMs?: number;
  /** Scrape each registered gateway's /metrics for request and error rates. Default true. */
  scrapeGateways?: boolean;
  /** How often gateways are scraped, ms. Default 2000. */
  scrapeIntervalMs?: number;
  /** Time a scrape may take before the gateway counts as unreachable, ms. Default 1000. */
  scrapeTimeoutMs?: number;
  /** How long a gateway whose registration is gone stays in the view as `down`, ms. Default 600000. */
  downRetentionMs?: number;
  /** Applies kept in the view's history. Default 10. */
  historyLength?: number;
  /** Changes remembered for clients that reconnect (`since`). Default 500. */
  changeBacklog?: number;
  /** Least time between two `view` events, ms. Default 200. */
  viewThrottleMs?: number;
}

export const ENVIRONMENT_MONITOR_DEFAULTS = {
  statusIntervalMs: 1000,
  scrapeGateways: true,
  scrapeIntervalMs: 2000,
  scrapeTimeoutMs: 1000,
  downRetentionMs: 600_000,
  historyLength: 10,
  changeBacklog: 500,
  viewThrottleMs: 200,
} as const;

export interface EnvironmentMonitorEvents {
  /** What the dashboard shows changed (a new snapshot, gateway states, lease TTLs, rates). */
  view: [view: EnvironmentView];
  /** One change of the environment's records (never for the first read). */
  change: [change: TopologyChange];
  /** The etcd watch re-reads the environment. */
  resync: [reason: string];
  /** A read or scrape failed; the view keeps what it had. */
  warning: [error: Error];
}

/**
 * Watches one environment for the dashboard and `waymark watch`: its records through a
 * TopologyWatcher (changes in words, the last applies from etcd history), its gateways' reports
 * and leases by polling, and their traffic by scraping each gateway's /metrics. Gateways whose
 * registration disappears stay in the view as `down` for a while, so an operator sees them go.
 */
export class EnvironmentMonitor extends EventEmitter<EnvironmentMonitorEvents> {
  private readonly options: Required<EnvironmentMonitorOptions>;
  private readonly watcher: TopologyWatcher;
  private snapshot: TopologySnapshot;
  private status: EnvironmentStatus | undefined;
  private history: CommitView[] = [];
  private readonly traffic = new Map<string, GatewayTraffic>();
  private readonly samples = new Map<string, TrafficSample>();
  private readonly gone = new Map<string, GatewayView>();
  private readonly backlog: TopologyChange[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private current: EnvironmentView;
  private viewTimer: NodeJS.Timeout | undefined;
  private lastViewAt = 0;
  private polling = false;
  private scraping = false;
  private closed = false;

  constructor(
    private readonly conn: EtcdConnection,
    private readonly layout: KeyLayout,
    readonly environment: string,
    options: EnvironmentMonitorOptions = {},
  ) {
    super();
    this.options = { ...ENVIRONMENT_MONITOR_DEFAULTS, ...definedOnly(options) };
    this.snapshot = TopologySnapshot.empty(environment);
    this.watcher = new TopologyWatcher(conn, layout, environment);
    this.current = this.build();
  }

  /** The view as it stands. */
  get view(): EnvironmentView {
    return this.current;
  }

  /** True while the monitor cannot read etcd. */
  get stale(): boolean {
    return this.watcher.stale;
  }

  get staleSince(): Date | undefined {
    return this.watcher.staleSince;
  }

  /** Remembered changes with a revision greater than `revision`, oldest first. */
  changesSince(revision: number): TopologyChange[] {
    return this.backlog.filter((c) => c.revision > revision);
  }

  /** Starts watching; resolves once etcd was read (or rejects when `signal` aborts first). */
  async start(signal?: AbortSignal): Promise<void> {
    this.watcher.on('snapshot', (next, previous) => this.onSnapshot(next, previous));
    this.watcher.on('stale', () => this.scheduleView());
    this.watcher.on('fresh', () => this.scheduleView());
    this.watcher.on('resync', (reason) => this.emit('resync', reason));
    this.watcher.on('quarantine', () => this.scheduleView());
    this.watcher.on('invalid', (r) => this.warn(new Error(`etcd key ${r.key} skipped, its last valid version (if any) stays in the view: ${r.reason}`)));
    this.watcher.on('failure', (err, where) => this.warn(new Error(`internal error in the ${where} of environment ${this.environment}: ${err.message}`, { cause: err })));
    this.watcher.start();
    this.timers.push(setInterval(() => void this.poll(), this.options.statusIntervalMs));
    if (this.options.scrapeGateways) this.timers.push(setInterval(() => void this.scrape(), this.options.scrapeIntervalMs));
    await this.watcher.ready(signal);
    await Promise.all([this.poll(), this.refreshHistory()]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.viewTimer);
    await this.watcher.close();
  }

  private onSnapshot(next: TopologySnapshot, previous: TopologySnapshot | undefined): void {
    this.snapshot = next;
    if (previous) {
      for (const change of diffSnapshots(previous, next)) {
        this.backlog.push(change);
        this.emit('change', change);
      }
      if (this.backlog.length > this.options.changeBacklog) this.backlog.splice(0, this.backlog.length - this.options.changeBacklog);
      for (const [key] of previous.gateways) if (!next.gateways.has(key)) this.markGone(key);
      if (next.commit?.id !== previous.commit?.id) void this.refreshHistory();
    }
    for (const key of next.gateways.keys()) this.gone.delete(key);
    this.scheduleView();
  }

  /** Keeps the gateway as last shown, now `down`. */
  private markGone(key: string): void {
    const last = this.current.regions.flatMap((r) => r.gateways).find((g) => gatewayKey(g.region, g.id) === key);
    if (!last) return;
    const { requestRate: _r, errorRate: _e, leaseTtlSeconds: _t, ...rest } = last;
    this.gone.set(key, { ...rest, state: 'down', leaseTtlSeconds: -1, since: new Date().toISOString() });
    this.traffic.delete(key);
    this.samples.delete(key);
  }

  private async poll(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      this.status = await environmentStatus(this.conn, this.layout, this.environment);
      this.scheduleView();
    } catch (err) {
      this.warn(err);
    } finally {
      this.polling = false;
    }
  }

  private async scrape(): Promise<void> {
    if (this.scraping || this.closed) return;
    this.scraping = true;
    try {
      await Promise.all(
        [...this.snapshot.gateways].map(async ([key, reg]) => {
          try {
            const sample = await scrapeTraffic(reg.url, this.options.scrapeTimeoutMs);
            const before = this.samples.get(key);
            this.samples.set(key, sample);
            const rates = before ? trafficRates(before, sample) : undefined;
            this.traffic.set(key, { reachable: true, ...(rates ? { rates } : {}) });
          } catch {
            this.samples.delete(key);
            this.traffic.set(key, { reachable: false });
          }
        }),
      );
      for (const key of this.traffic.keys()) if (!this.snapshot.gateways.has(key)) this.traffic.delete(key);
      this.scheduleView();
    } finally {
      this.scraping = false;
    }
  }

  private async refreshHistory(): Promise<void> {
    try {
      this.history = await commitHistory(this.conn, this.layout, this.environment, this.options.historyLength);
      this.scheduleView();
    } catch (err) {
      this.warn(err);
    }
  }

  private scheduleView(): void {
    if (this.closed || this.viewTimer) return;
    const wait = Math.max(0, this.lastViewAt + this.options.viewThrottleMs - Date.now());
    this.viewTimer = setTimeout(() => {
      this.viewTimer = undefined;
      this.lastViewAt = Date.now();
      // A timer callback that throws would end the registry: keep the last view instead.
      try {
        this.current = this.build();
        this.emit('view', this.current);
      } catch (err) {
        this.warn(err);
      }
    }, wait);
  }

  private build(): EnvironmentView {
    const now = new Date();
    for (const [key, g] of this.gone) {
      if (now.getTime() - Date.parse(g.since ?? '') > this.options.downRetentionMs) this.gone.delete(key);
    }
    const view = buildView({
      snapshot: this.snapshot,
      stale: this.watcher.stale,
      ...(this.status ? { status: this.status } : {}),
      traffic: this.traffic,
      gone: this.gone,
      history: this.history,
      invalid: this.watcher.invalidRecords(),
      now,
    });
    // A gateway's `since` is when it entered its state, carried over from the previous view.
    const before = new Map(this.current?.regions.flatMap((r) => r.gateways).map((g) => [gatewayKey(g.region, g.id), g]) ?? []);
    for (const g of view.regions.flatMap((r) => r.gateways)) {
      const prev = before.get(gatewayKey(g.region, g.id));
      g.since ??= prev && prev.state === g.state && prev.since ? prev.since : now.toISOString();
    }
    return view;
  }

  private warn(err: unknown): void {
    if (this.listenerCount('warning') > 0) this.emit('warning', err instanceof Error ? err : new Error(String(err)));
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
