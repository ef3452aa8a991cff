import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { HotCounterFamily, HotHistogramFamily, type HotCounter, type HotHistogram } from '../telemetry/index.js';

/** Where the gateway serves its metrics (unauthenticated, like /healthz). */
export const METRICS_PATH = '/metrics';

/**
 * What answered a request, the `route` label: the topology document, other discovery paths,
 * health, metrics, a proxied or dispatched service call, a 421, a request naming no service
 * (404, or 503 before any snapshot), or a request target refused as malformed.
 */
export type RouteKind = 'topology' | 'discovery' | 'health' | 'metrics' | 'proxy' | 'dispatch' | 'misdirected' | 'unrouted' | 'rejected';

/** Why an upstream exchange failed, the `reason` label of upstream errors (`refused`: by the upstream rules). */
export type UpstreamErrorReason = 'connect' | 'connect_timeout' | 'timeout' | 'reset' | 'refused' | 'protocol' | 'other';

/** What the gauges read at scrape time. */
export interface GatewayGaugeState {
  readonly revision: number;
  readonly stale: boolean;
  readonly staleSince: Date | undefined;
  readonly heldLongPolls: number;
  readonly registrationState: string;
  /** Keys skipped as invalid now, by record kind (region, service, gateway, commit). */
  readonly invalidRecords: ReadonlyMap<string, number>;
}

/** Where an unexpected exception was caught instead of ending the gateway (the `boundary` label). */
export type FailureBoundary = 'watch' | 'publish' | 'request' | 'report';

/** Record kinds of the `kind` label of the invalid-records gauge: always exported, 0 when none. */
const RECORD_KINDS = ['region', 'service', 'gateway', 'commit', 'signed'] as const;

/** Upper bounds of the proxy latency histogram, in seconds. */
export const PROXY_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** Requests of one route (and service): one counter per status, resolved once. */
export class RouteSeries {
  private readonly byStatus = new Map<number | 'aborted', HotCounter>();

  constructor(
    private readonly family: HotCounterFamily,
    private readonly route: RouteKind,
    private readonly service: string,
  ) {}

  /** Counts the response once it is complete: now if it was answered synchronously, else on close. */
  settle(res: ServerResponse): void {
    if (res.writableEnded) this.record(res.statusCode);
    else res.once('close', () => this.record(deliveredStatus(res)));
  }

  record(status: number | 'aborted'): void {
    let counter = this.byStatus.get(status);
    if (!counter) {
      counter = this.family.labels(this.route, this.service, String(status));
      this.byStatus.set(status, counter);
    }
    counter.value++;
  }
}

/** A proxied service: counted like a route, and timed from arrival to the end of the response. */
export class ProxySeries extends RouteSeries {
  constructor(
    family: HotCounterFamily,
    route: RouteKind,
    service: string,
    private readonly duration: HotHistogram,
  ) {
    super(family, route, service);
  }

  track(res: ServerResponse): void {
    const started = performance.now();
    res.once('close', () => {
      this.duration.observe((performance.now() - started) / 1000);
      this.record(deliveredStatus(res));
    });
  }
}

/**
 * A gateway's Prometheus metrics, in a registry of its own (several gateways may share a process).
 * Request counters and latencies are plain numbers bumped on the hot path and rendered on scrape;
 * state (revision, staleness, long-polls, registration) is read from the gateway at scrape time.
 * Labels name routes, services and statuses: never upstream addresses, never tokens. The standard
 * `process_*` and `nodejs_*` metrics are in it too (of the whole process, so the same for every
 * gateway of a process). Each gauge names how the workers of `--workers N` combine (`aggregator`):
 * the oldest revision, the worst staleness, summed long-polls; counters and histograms are summed.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly topology: RouteSeries;
  readonly discovery: RouteSeries;
  readonly health: RouteSeries;
  readonly unrouted: RouteSeries;
  readonly rejected: RouteSeries;
  private readonly metricsRoute: RouteSeries;
  private readonly requests: HotCounterFamily;
  private readonly durations: HotHistogramFamily;
  private readonly proxied = new Map<string, ProxySeries>();
  private readonly dispatched = new Map<string, ProxySeries>();
  private readonly misdirectedSeries = new Map<string, RouteSeries>();
  private readonly upstreamErrors: Counter<'service' | 'reason'>;
  private readonly topologyUpdates: Counter;
  private readonly resyncs: Counter<'reason'>;
  private readonly keepaliveFailures: Counter;
  private readonly leaseLosses: Counter;
  private readonly failures: Counter<'boundary'>;
  private readonly longPollRefusals: Counter<'reason'>;
  private render: () => Promise<{ text: string; contentType: string }> = async () => ({ text: await this.registry.metrics(), contentType: this.registry.contentType });

  constructor(labels: { environment: string; region: string; gateway: string }, state: () => GatewayGaugeState) {
    const registers = [this.registry];
    this.registry.setDefaultLabels(labels);
    // The standard process_* and nodejs_* series (CPU, memory, event-loop lag, GC, handles).
    collectDefaultMetrics({ register: this.registry });
    this.requests = new HotCounterFamily(
      'waymark_gateway_requests_total',
      'Requests answered, by route (topology, discovery, health, metrics, proxy, dispatch, misdirected, unrouted, rejected), service and status.',
      ['route', 'service', 'status'],
    ).register(this.registry);
    this.durations = new HotHistogramFamily(
      'waymark_gateway_proxy_duration_seconds',
      'Time from the arrival of a proxied request to the end of its response, by route (proxy, dispatch) and service.',
      ['route', 'service'],
      PROXY_DURATION_BUCKETS,
    ).register(this.registry);
    this.topology = new RouteSeries(this.requests, 'topology', '');
    this.discovery = new RouteSeries(this.requests, 'discovery', '');
    this.health = new RouteSeries(this.requests, 'health', '');
    this.unrouted = new RouteSeries(this.requests, 'unrouted', '');
    this.rejected = new RouteSeries(this.requests, 'rejected', '');
    this.metricsRoute = new RouteSeries(this.requests, 'metrics', '');
    this.upstreamErrors = new Counter({
      name: 'waymark_gateway_upstream_errors_total',
      help: 'Failed upstream exchanges (each attempt; a retry on another upstream may still succeed), by service and reason (connect, connect_timeout, timeout, reset, refused by the upstream rules, other).',
      labelNames: ['service', 'reason'],
      registers,
    });
    this.topologyUpdates = new Counter({
      name: 'waymark_gateway_topology_publications_total',
      help: 'Topology documents published (new content, or the same turning stale or fresh).',
      registers,
    });
    this.resyncs = new Counter({
      name: 'waymark_gateway_watch_resyncs_total',
      help: 'Full re-reads of the environment from etcd (start, watch reconnects and failures, compaction, multi-transaction applies).',
      labelNames: ['reason'],
      registers,
    });
    this.keepaliveFailures = new Counter({
      name: 'waymark_gateway_lease_keepalive_failures_total',
      help: 'Failed keepalives of the registration lease.',
      registers,
    });
    this.leaseLosses = new Counter({
      name: 'waymark_gateway_lease_lost_total',
      help: 'Registration leases lost (the gateway then registers again).',
      registers,
    });
    this.failures = new Counter({
      name: 'waymark_gateway_internal_errors_total',
      help: 'Unexpected exceptions caught at a boundary (watch, publish, request, report) instead of ending the gateway; the last good state stays in use.',
      labelNames: ['boundary'],
      registers,
    });
    for (const boundary of ['watch', 'publish', 'request', 'report'] as const) this.failures.inc({ boundary }, 0);
    this.longPollRefusals = new Counter({
      name: 'waymark_gateway_longpolls_refused_total',
      help: 'Long-polls refused, by reason: full (every slot held, 503) or client (the client address holds its share, 429).',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of ['full', 'client'] as const) this.longPollRefusals.inc({ reason }, 0);
    new Gauge({
      name: 'waymark_gateway_invalid_records',
      aggregator: 'max',
      help: 'Keys of the environment skipped as invalid now, by record kind; each keeps its last valid version, if it had one.',
      labelNames: ['kind'],
      registers,
      collect() {
        const counts = state().invalidRecords;
        for (const kind of RECORD_KINDS) this.set({ kind }, counts.get(kind) ?? 0);
      },
    });
    new Gauge({
      name: 'waymark_gateway_topology_revision',
      aggregator: 'min',
      help: 'Revision of the topology document served.',
      registers,
      collect() {
        this.set(state().revision);
      },
    });
    new Gauge({
      name: 'waymark_gateway_stale',
      aggregator: 'max',
      help: '1 while the gateway has lost etcd and serves its last snapshot, else 0.',
      registers,
      collect() {
        this.set(state().stale ? 1 : 0);
      },
    });
    new Gauge({
      name: 'waymark_gateway_staleness_seconds',
      aggregator: 'max',
      help: 'Seconds since the served topology went stale (0 while fresh).',
      registers,
      collect() {
        const since = state().staleSince;
        this.set(since ? Math.max(0, (Date.now() - since.getTime()) / 1000) : 0);
      },
    });
    new Gauge({
      name: 'waymark_gateway_longpolls_held',
      aggregator: 'sum',
      help: 'Topology long-polls held open now.',
      registers,
      collect() {
        this.set(state().heldLongPolls);
      },
    });
    new Gauge({
      name: 'waymark_gateway_registered',
      aggregator: 'min',
      help: '1 while the registration is in etcd under a live lease, else 0.',
      registers,
      collect() {
        this.set(state().registrationState === 'registered' ? 1 : 0);
      },
    });
  }

  /** Calls to a service served here. */
  proxy(service: string): ProxySeries {
    return this.proxySeries(this.proxied, 'proxy', service);
  }

  /** Calls forwarded to another gateway (dispatch). */
  dispatch(service: string): ProxySeries {
    return this.proxySeries(this.dispatched, 'dispatch', service);
  }

  /** Calls answered 421 (the service exists but is not served here). */
  misdirected(service: string): RouteSeries {
    let s = this.misdirectedSeries.get(service);
    if (!s) {
      s = new RouteSeries(this.requests, 'misdirected', service);
      this.misdirectedSeries.set(service, s);
    }
    return s;
  }

  upstreamError(service: string, reason: UpstreamErrorReason): void {
    this.upstreamErrors.inc({ service, reason });
  }

  topologyPublished(): void {
    this.topologyUpdates.inc();
  }

  /** A watcher re-read; the reason's detail (an error message) is cut to keep the label set small. */
  resynced(reason: string): void {
    this.resyncs.inc({ reason: reason.replace(/\s*\(.*$/, '') });
  }

  keepaliveFailed(): void {
    this.keepaliveFailures.inc();
  }

  leaseLost(): void {
    this.leaseLosses.inc();
  }

  /** A long-poll was refused: `full` (every slot held) or `client` (its address holds its share). */
  longPollRefused(reason: 'full' | 'client'): void {
    this.longPollRefusals.inc({ reason });
  }

  failed(boundary: FailureBoundary): void {
    this.failures.inc({ boundary });
  }

  /**
   * Where /metrics gets its text: this registry by default; in a worker of `--workers N`, the
   * primary's aggregation over every worker.
   */
  renderWith(render: () => Promise<{ text: string; contentType: string }>): void {
    this.render = render;
  }

  /** GET /metrics in the Prometheus text format. */
  serve(req: IncomingMessage, res: ServerResponse, headers: readonly string[]): void {
    this.metricsRoute.settle(res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, [...headers, 'Allow', 'GET, HEAD', 'Content-Type', 'text/plain; charset=utf-8']);
      res.end('use GET\n');
      return;
    }
    this.render().then(
      ({ text, contentType }) => {
        const body = Buffer.from(text);
        res.writeHead(200, [...headers, 'Content-Type', contentType, 'Content-Length', String(body.length), 'Cache-Control', 'no-store']);
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: Error) => {
        res.writeHead(500, [...headers, 'Content-Type', 'text/plain; charset=utf-8']);
        res.end(`metrics could not be collected: ${err.message}\n`);
      },
    );
  }

  private proxySeries(map: Map<string, ProxySeries>, route: RouteKind, service: string): ProxySeries {
    let s = map.get(service);
    if (!s) {
      s = new ProxySeries(this.requests, route, service, this.durations.labels(route, service));
      map.set(service, s);
    }
    return s;
  }
}

/**
 * The `status` label of a closed response: its status once it was sent whole, else `aborted`
 * (cut by the gateway, the upstream or the client): a cut 200 is not a 200 the client got.
 */
export function deliveredStatus(res: ServerResponse): number | 'aborted' {
  return res.writableFinished ? res.statusCode : 'aborted';
}
