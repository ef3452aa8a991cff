import axios, { type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import type { TopologyDocument } from '../openapi/index.js';
import { RetryBudget } from './budget.js';
import { Discovery, type BackoffEvent, type DiscoveryStats, type SourceFailure } from './discovery.js';
import { Ejector } from './ejection.js';
import { TypedEmitter } from './emitter.js';
import { ClientClosedError, InvalidTopologyError, TopologyExpiredError, TopologyUnavailableError } from './errors.js';
import { LatencyTable, probeRegions } from './latency.js';
import { resolveOptions, type ResolvedOptions, type WaymarkClientOptions } from './options.js';
import type { Platform, TopologyCache } from './platform.js';
import { Resolver, type LastResortEvent, type Route } from './resolver.js';
import { Transport, type EjectionEvent, type FailoverEvent } from './transport.js';

/** The client routes on a topology no gateway has confirmed lately. */
export interface StaleEvent {
  /** `cache`: started from the cache file; `unreachable`: no gateway answers; `gateway`: the gateways serve a stale snapshot. */
  reason: 'cache' | 'unreachable' | 'gateway';
  revision: number;
  /** When the topology was last known current. */
  since: Date;
  /** What failed, for `cache` and `unreachable`. */
  failures: SourceFailure[];
}

export interface WaymarkClientEvents {
  /** A newer topology is in use. */
  topology: [doc: TopologyDocument, previous: TopologyDocument | undefined];
  /** A call moved from a failed gateway to the next candidate. */
  failover: [event: FailoverEvent];
  /** The topology in use is not confirmed by a gateway (see StaleEvent.reason). */
  stale: [event: StaleEvent];
  /** A gateway confirmed the topology again after `stale`. */
  fresh: [event: { revision: number }];
  /**
   * The topology is older than its maxStaleSeconds: calls fail with TopologyExpiredError until a
   * gateway answers. Once per expiry: when it happens, or (if nobody listened yet) on the first
   * call it fails.
   */
  expired: [error: TopologyExpiredError];
  /**
   * A received document was rejected (malformed, other environment, rollback, too large; with
   * trustedKeys also unsigned, wrongly signed, or not matching its statement); the last good one stays.
   */
  rejected: [error: InvalidTopologyError];
  /** A gateway was ejected after a failure: once per ejection, not for each failure while it lasts. */
  ejected: [event: EjectionEvent];
  /** An update left a service without gateways: its previous gateways are kept as a last resort. */
  lastResort: [event: LastResortEvent];
  /** The cache file could not be written (routing goes on). */
  cacheError: [error: Error];
  /** A discovery request failed or was refused (503/429): discovery waits before its next one (see BackoffEvent). */
  backoff: [event: BackoffEvent];
}

/**
 * The Waymark smart client: discovers the topology from any gateway, keeps it fresh, and sends
 * each call to the best gateway of a service, failing over within its allowed regions. The same
 * code on every runtime; `waymark/client` gives it the runtime's Platform (node:http and a cache
 * file on Node, fetch and localStorage in browsers and edge runtimes).
 */
export class ClientCore extends TypedEmitter<WaymarkClientEvents> {
  private readonly options: ResolvedOptions;
  private readonly discovery: Discovery;
  private readonly transport: Transport;
  private readonly cache: TopologyCache | undefined;
  private readonly latency = new LatencyTable();
  private readonly probeHttp: AxiosInstance;
  private readonly instances = new Map<string, AxiosInstance>();
  private readonly closing = new AbortController();
  private readonly started: Promise<void>;
  private resolver: Resolver | undefined;
  private startError: TopologyUnavailableError | undefined;
  /** Why the topology is unconfirmed, while it is. */
  private unconfirmed: 'cache' | 'unreachable' | undefined;
  private confirmedAt = 0;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  /** `expired` reached a listener since the topology was last confirmed. */
  private expiredAnnounced = false;
  private lastRefreshAt = 0;
  private refreshingFor = 0;
  private lastCacheWrite = 0;
  private cacheWriting: Promise<void> = Promise.resolve();
  private lastProbeAt = 0;
  private probing: Promise<void> | undefined;
  private closed = false;

  constructor(options: WaymarkClientOptions, platform: Platform) {
    super();
    this.options = resolveOptions(options);
    this.cache = platform.cache(this.options);
    this.probeHttp = axios.create({ adapter: platform.adapter, maxRedirects: 0 });
    this.discovery = new Discovery(platform, this.options, () => this.preferredGateways());
    this.discovery.on('document', (doc, previous) => this.adopt(doc, previous));
    this.discovery.on('contact', () => this.confirmed());
    this.discovery.on('rejected', (err) => this.emit('rejected', err));
    this.discovery.on('unreachable', (failures) => this.unreachable(failures));
    this.discovery.on('backoff', (event) => this.emit('backoff', event));
    this.transport = new Transport(
      platform,
      this.options,
      { route: (service) => this.route(service), revision: () => this.resolver?.revision },
      new Ejector({ baseMs: this.options.ejectionBaseMs, maxMs: this.options.ejectionMaxMs }),
      new RetryBudget({ ratio: this.options.retryBudgetRatio, minPerSecond: this.options.retryBudgetMinPerSecond, windowMs: this.options.retryBudgetWindowMs }),
    );
    this.transport.on('failover', (e) => this.emit('failover', e));
    this.transport.on('ejected', (e) => this.emit('ejected', e));
    this.transport.on('failed', () => this.refreshSoon());
    this.transport.on('newer', (revision, gatewayUrl) => {
      if (revision <= this.refreshingFor) return;
      this.refreshingFor = revision;
      this.discovery.refresh(gatewayUrl);
    });
    this.started = this.start();
    // ready() hands the failure to the caller; requests made meanwhile see it too.
    this.started.catch(() => undefined);
  }

  /** Resolves when a first topology is in use; rejects with TopologyUnavailableError if none could be loaded. */
  ready(): Promise<void> {
    return this.started;
  }

  /** Sends one request to a service: `config.url` is a path under the service's base path. */
  request<T = unknown, D = unknown>(service: string, config: AxiosRequestConfig<D>): Promise<AxiosResponse<T, D>> {
    return this.axios(service).request<T, AxiosResponse<T, D>, D>(config);
  }

  /** An axios instance whose every request is routed to `service` through Waymark. */
  axios(service: string): AxiosInstance {
    let instance = this.instances.get(service);
    if (!instance) {
      instance = axios.create({ adapter: this.transport.adapterFor(service) });
      this.instances.set(service, instance);
    }
    return instance;
  }

  /** The topology in use; undefined before the first one is loaded. */
  topology(): TopologyDocument | undefined {
    return this.resolver?.document;
  }

  /** The service's candidate gateways, best first, as precomputed for the current revision. */
  resolve(service: string): Route {
    if (!this.resolver) throw this.startError ?? new TopologyUnavailableError([]);
    return this.resolver.resolve(service);
  }

  /** Counters of discovery (requests, refusals, backoffs, documents) since the client was created. */
  stats(): DiscoveryStats {
    return this.discovery.stats();
  }

  /** Stops discovery, probes and pooled connections; pending writes of the cache file finish first. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    clearTimeout(this.expiryTimer);
    await this.discovery.close();
    await this.started.catch(() => undefined);
    await this.probing;
    await this.cacheWriting;
    this.transport.close();
  }

  private async start(): Promise<void> {
    try {
      await this.discovery.bootstrap();
    } catch (err) {
      if (!(err instanceof TopologyUnavailableError) || this.closed) throw err;
      const failures = [...err.failures];
      if (!(await this.startFromCache(failures))) {
        this.startError = new TopologyUnavailableError(failures);
        if (!this.closed) this.discovery.start();
        throw this.startError;
      }
    }
    if (!this.closed) this.discovery.start();
  }

  /** Adopts the cache file's topology when no gateway answered; false if there is none usable. */
  private async startFromCache(failures: SourceFailure[]): Promise<boolean> {
    if (!this.cache) return false;
    const source = this.cache.source;
    try {
      const cached = await this.cache.read();
      if (!cached) {
        failures.push({ source, error: 'no such file' });
        return false;
      }
      this.unconfirmed = 'cache';
      this.confirmedAt = cached.confirmedAt.getTime();
      await this.discovery.take(cached.document, source);
      this.emit('stale', { reason: 'cache', revision: cached.document.revision, since: cached.confirmedAt, failures });
      this.scheduleExpiry();
      return true;
    } catch (err) {
      this.unconfirmed = undefined;
      if (err instanceof InvalidTopologyError) this.emit('rejected', err);
      failures.push({ source, error: (err as Error).message });
      return false;
    }
  }

  /** The service's route; a promise only while the first topology loads (the common call awaits nothing). */
  private route(service: string): Route | Promise<Route> {
    if (this.closed) throw new ClientClosedError();
    return this.resolver ? this.routeNow(this.resolver, service) : this.routeWhenStarted(service);
  }

  private async routeWhenStarted(service: string): Promise<Route> {
    await this.started.catch(() => undefined);
    if (!this.resolver) throw this.startError ?? new TopologyUnavailableError([]);
    return this.routeNow(this.resolver, service);
  }

  private routeNow(resolver: Resolver, service: string): Route {
    const expired = this.expiry();
    if (expired) {
      this.announceExpired(expired);
      throw expired;
    }
    return resolver.resolve(service);
  }

  private adopt(doc: TopologyDocument, previous: TopologyDocument | undefined): void {
    const { resolver, lastResort } = Resolver.build(doc, this.ordering(), this.resolver);
    this.resolver = resolver;
    for (const event of lastResort) this.emit('lastResort', event);
    this.emit('topology', doc, previous);
    if (doc.stale && !previous?.stale) {
      this.emit('stale', { reason: 'gateway', revision: doc.revision, since: doc.staleSince ? new Date(doc.staleSince) : new Date(), failures: [] });
    }
    if (this.unconfirmed !== 'cache') this.saveCache(doc);
    this.scheduleExpiry();
    this.probe();
  }

  /** A gateway answered: the topology held is current. */
  private confirmed(): void {
    this.confirmedAt = Date.now();
    const doc = this.resolver?.document;
    if (this.unconfirmed !== undefined && doc) {
      const wasCache = this.unconfirmed === 'cache';
      this.unconfirmed = undefined;
      this.emit('fresh', { revision: doc.revision });
      if (wasCache) this.saveCache(doc);
      this.scheduleExpiry();
    }
    if (doc && this.confirmedAt - this.lastCacheWrite >= this.options.cacheRefreshMs) this.saveCache(doc);
  }

  private unreachable(failures: SourceFailure[]): void {
    const doc = this.resolver?.document;
    if (!doc || this.unconfirmed !== undefined) return;
    this.unconfirmed = 'unreachable';
    this.emit('stale', { reason: 'unreachable', revision: doc.revision, since: new Date(this.confirmedAt), failures });
    this.scheduleExpiry();
  }

  /** The time since which the topology is unconfirmed, if it is. */
  private unconfirmedSince(doc: TopologyDocument): number | undefined {
    let since = this.unconfirmed !== undefined ? this.confirmedAt : undefined;
    if (doc.stale && doc.staleSince) since = Math.min(since ?? Number.POSITIVE_INFINITY, Date.parse(doc.staleSince));
    return since;
  }

  private expiry(): TopologyExpiredError | undefined {
    const doc = this.resolver?.document;
    if (!doc) return undefined;
    const since = this.unconfirmedSince(doc);
    if (since === undefined) return undefined;
    const ageMs = Date.now() - since;
    return ageMs > doc.maxStaleSeconds * 1000 ? new TopologyExpiredError(doc.revision, ageMs / 1000, doc.maxStaleSeconds) : undefined;
  }

  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    const doc = this.resolver?.document;
    const since = doc && this.unconfirmedSince(doc);
    if (since === undefined) this.expiredAnnounced = false;
    if (!doc || since === undefined || this.closed) return;
    const inMs = Math.max(0, since + doc.maxStaleSeconds * 1000 - Date.now()) + 1;
    this.expiryTimer = setTimeout(() => {
      const expired = this.expiry();
      // A timer may fire a little before the wall clock says the time has come: try again.
      if (expired) this.announceExpired(expired);
      else this.scheduleExpiry();
    }, inMs);
    // Node: the timer alone must not keep the process alive.
    (this.expiryTimer as { unref?: () => void }).unref?.();
  }

  /**
   * Emits `expired` once per expiry, counting only an emit that reached a listener: a cached
   * topology already expired at start expires before the application could listen (listeners
   * are usually added after `ready()`), so the first call that fails with it announces it then.
   */
  private announceExpired(error: TopologyExpiredError): void {
    if (!this.expiredAnnounced) this.expiredAnnounced = this.emit('expired', error);
  }

  private refreshSoon(): void {
    const now = Date.now();
    if (now - this.lastRefreshAt < this.options.refreshOnFailureIntervalMs) return;
    this.lastRefreshAt = now;
    this.discovery.refresh();
  }

  private saveCache(doc: TopologyDocument): void {
    if (!this.cache) return;
    this.lastCacheWrite = Date.now();
    this.cacheWriting = this.cache.write({ document: doc, confirmedAt: new Date(this.confirmedAt || Date.now()) }).catch((err: Error) => {
      this.emit('cacheError', err);
    });
  }

  private ordering(): { region?: string; latencyMs: ReadonlyMap<string, number> } {
    return { ...(this.options.region !== undefined ? { region: this.options.region } : {}), latencyMs: this.latency.snapshot() };
  }

  /** Gateways of the topology for discovery: the client's region first, then by measured RTT. */
  private preferredGateways(): string[] {
    const doc = this.resolver?.document;
    if (!doc) return [];
    const own = this.resolver?.region;
    const rtt = this.latency.snapshot();
    const rank = (name: string) => (name === own ? -1 : (rtt.get(name) ?? Number.POSITIVE_INFINITY));
    return [...doc.regions]
      .sort((a, b) => rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : 1))
      .flatMap((r) => r.gateways.filter((g) => g.status === 'up').map((g) => g.url.replace(/\/+$/, '')));
  }

  /** Measures region RTTs (throttled) and re-orders routes if the ranking changed. */
  private probe(): void {
    const doc = this.resolver?.document;
    if (!doc || !this.options.probeLatency || this.probing || this.closed) return;
    const unmeasured = doc.regions.some((r) => !this.latency.has(r.name) && r.gateways.some((g) => g.status === 'up'));
    if (!unmeasured && Date.now() - this.lastProbeAt < this.options.latencyProbeIntervalMs) return;
    if (unmeasured && this.lastProbeAt > 0 && Date.now() - this.lastProbeAt < this.options.refreshOnFailureIntervalMs) return;
    this.lastProbeAt = Date.now();
    const before = this.latency.ranking();
    this.probing = probeRegions(doc, this.probeHttp, this.latency, this.options.discoveryTimeoutMs, this.closing.signal, this.options.maxConcurrentProbes).then(() => {
      this.probing = undefined;
      const current = this.resolver;
      if (this.closed || !current || this.latency.ranking() === before) return;
      this.resolver = Resolver.build(current.document, this.ordering(), current).resolver;
    });
  }
}
