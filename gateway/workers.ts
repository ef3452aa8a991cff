import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { connectEtcd, KeyLayout, type EtcdConnection } from '../store/index.js';
import { GatewayOptionsError, GatewayWorkerExitedError } from './errors.js';
import { resolveGatewayOptions, resolveWorkersOptions, type GatewayOptions, type ResolvedGatewayOptions, type WorkersOptions } from './options.js';
import { forwardPresence, Registration, type PresenceEvents, type RegistrationState } from './registration.js';
import { isLinkMessage, WORKER_ENV, type MetricsJson, type PrimaryMessage, type WorkerMessage } from './worker-messages.js';

export interface GatewayWorkersEvents extends PresenceEvents {
  /** Every worker serves on this base URL (the first time all of them listen). */
  listening: [url: string];
  /** A worker process was forked into slot `index`. */
  workerStarted: [index: number, pid: number];
  /** A worker died while the gateway was not draining; it is replaced after `restartInMs`. */
  workerExited: [error: GatewayWorkerExitedError, restartInMs: number];
  /** Something failed without stopping the gateway (a report, a worker's metrics). */
  warning: [error: Error];
  closed: [];
}

/** What one worker slot holds: its process, what it serves, its last metrics. */
interface Slot {
  index: number;
  worker: Worker | undefined;
  startedAt: number;
  /** Deaths in a row (reset once a worker stayed up `stableAfterMs`): the restart backoff. */
  deaths: number;
  restartTimer: NodeJS.Timeout | undefined;
  applied: Extract<WorkerMessage, { waymark: 'applied' }> | undefined;
  metrics: MetricsJson | undefined;
}

/**
 * The primary of `waymark gateway --workers N` (like nginx's master): forks N workers that each
 * run a Gateway on the shared port (node:cluster; round-robin in the primary, node's default on
 * Linux), holds the gateway's one registration and lease, reports the oldest revision any worker
 * serves, aggregates /metrics over workers, replaces a worker that dies (with backoff), and on
 * close revokes the registration first, then drains every worker.
 *
 * Each worker keeps its own etcd watch: no snapshot crosses IPC, each worker detects staleness
 * itself, and a change reaches every worker as fast as it reaches one.
 */
export class GatewayWorkers extends EventEmitter<GatewayWorkersEvents> {
  readonly gateway: ResolvedGatewayOptions;
  readonly options: Required<WorkersOptions>;
  private readonly conn: EtcdConnection | undefined;
  private readonly slots: Slot[];
  private readonly metrics = new Registry();
  private readonly workersGauge: Gauge;
  private readonly workerRequests: Counter<'worker' | 'pid'>;
  private readonly restarts: Counter;
  private readonly leaseLosses: Counter;
  private readonly keepaliveFailures: Counter;
  /** Counters and histograms of workers that exited, so gateway-wide counters never go back. */
  private retired: MetricsJson = [];
  private retiring: Promise<void> = Promise.resolve();
  private registration: Registration | undefined;
  private url: string | undefined;
  private listened = false;
  private closing: Promise<void> | undefined;
  private nextCollect = 0;
  private readonly collecting = new Map<number, (metrics: MetricsJson) => void>();
  /** Workers whose server is bound. */
  private readonly listening = new WeakSet<Worker>();
  private starting: { resolve: (url: string) => void; reject: (err: Error) => void } | undefined;

  /** @param gateway the options every worker's Gateway gets (without `worker`: each gets its slot) */
  constructor(gateway: GatewayOptions, workers: WorkersOptions) {
    super();
    if (!cluster.isPrimary) throw new GatewayOptionsError('workers', 'the primary of a gateway with workers cannot run in a cluster worker');
    this.options = resolveWorkersOptions(workers);
    this.gateway = resolveGatewayOptions(gateway);
    const o = this.gateway;
    if (o.etcd !== undefined && typeof (o.etcd as EtcdConnection).call === 'function') {
      throw new GatewayOptionsError('etcd', 'a gateway with workers opens its own etcd connections: give endpoints, not a connection');
    }
    this.conn = o.etcd === undefined ? undefined : connectEtcd(o.etcd as Parameters<typeof connectEtcd>[0]);
    this.slots = Array.from({ length: this.options.count }, (_, index) => ({
      index,
      worker: undefined,
      startedAt: 0,
      deaths: 0,
      restartTimer: undefined,
      applied: undefined,
      metrics: undefined,
    }));
    this.metrics.setDefaultLabels({ environment: o.environment, region: o.region, gateway: o.id });
    collectDefaultMetrics({ register: this.metrics });
    const registers = [this.metrics];
    this.workersGauge = new Gauge({ name: 'waymark_gateway_workers', help: 'Worker processes running now (waymark gateway --workers N).', registers });
    this.workerRequests = new Counter({
      name: 'waymark_gateway_worker_requests_total',
      help: 'Requests answered by each running worker process (slot and pid): how the load spreads. A replaced worker starts a new series.',
      labelNames: ['worker', 'pid'],
      registers,
    });
    this.restarts = new Counter({ name: 'waymark_gateway_worker_restarts_total', help: 'Worker processes that died and were replaced.', registers });
    // Workers export these at 0 (they hold no lease); the aggregation adds the primary's.
    this.keepaliveFailures = new Counter({ name: 'waymark_gateway_lease_keepalive_failures_total', help: 'Failed keepalives of the registration lease.', registers });
    this.leaseLosses = new Counter({ name: 'waymark_gateway_lease_lost_total', help: 'Registration leases lost (the gateway then registers again).', registers });
    cluster.on('message', this.onMessage);
    cluster.on('exit', this.onExit);
  }

  /** Running workers. */
  get running(): number {
    return this.slots.filter((s) => s.worker !== undefined).length;
  }

  /** The registration state (what workers report in /healthz). */
  get registrationState(): RegistrationState {
    if (this.closing) return 'draining';
    if (this.gateway.bundle) return 'registered';
    return this.registration?.state ?? 'registering';
  }

  /**
   * Forks every worker; resolves with the URL once all of them listen. Rejects (and closes) if a
   * worker exits before any listened: bad options or a port in use would fail every replacement too.
   */
  async start(): Promise<string> {
    if (this.starting || this.listened || this.closing) throw new Error('the gateway workers were already started');
    const started = new Promise<string>((resolve, reject) => (this.starting = { resolve, reject }));
    for (const slot of this.slots) this.fork(slot);
    try {
      return await started;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /**
   * Graceful shutdown: revokes the registration (the gateway leaves every topology at once), then
   * tells every worker to drain (stop accepting, finish in-flight requests and long-polls, exit);
   * a worker still running `drainTimeoutMs + exitGraceMs` later is killed.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    this.starting?.reject(new Error('the gateway was closed while starting'));
    this.starting = undefined;
    await this.registration?.close().catch((err: Error) => this.warn(err));
    this.broadcast({ waymark: 'registration', state: 'draining' });
    const live = this.slots.flatMap((s) => (s.worker ? [s.worker] : []));
    const exited = Promise.all(live.map((w) => (w.isDead() ? undefined : new Promise<void>((resolve) => w.once('exit', () => resolve())))));
    // A worker still starting may not listen to IPC yet (the message would be lost) and serves nothing.
    for (const w of live) if (this.listening.has(w)) this.send(w, { waymark: 'drain' });
    else w.process.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.gateway.drainTimeoutMs + this.options.exitGraceMs)))]);
    clearTimeout(timer);
    for (const w of live) if (!w.isDead()) w.process.kill('SIGKILL');
    await exited;
    cluster.off('message', this.onMessage);
    cluster.off('exit', this.onExit);
    for (const resolve of this.collecting.values()) resolve([]);
    this.conn?.close();
    this.emit('closed');
  }

  private fork(slot: Slot): void {
    slot.restartTimer = undefined;
    if (this.closing) return;
    const worker = cluster.fork({ [WORKER_ENV.index]: String(slot.index), [WORKER_ENV.count]: String(this.options.count) });
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.applied = undefined;
    slot.metrics = undefined;
    if (worker.process.pid !== undefined) this.emit('workerStarted', slot.index, worker.process.pid);
  }

  private readonly onExit = (worker: Worker, code: number | null, signal: string | null): void => {
    const slot = this.slots.find((s) => s.worker === worker);
    if (!slot) return;
    slot.worker = undefined;
    slot.applied = undefined;
    const last = slot.metrics;
    slot.metrics = undefined;
    if (last) this.retire(last);
    this.reportApplied();
    if (this.closing) return;
    const error = new GatewayWorkerExitedError(slot.index, worker.process.pid, code, signal, this.listened ? 'replacing it' : 'before the gateway listened');
    if (!this.listened && this.starting) {
      this.starting.reject(error);
      this.starting = undefined;
      return;
    }
    this.restarts.inc();
    if (Date.now() - slot.startedAt >= this.options.stableAfterMs) slot.deaths = 0;
    const delay = Math.min(this.options.maxRestartDelayMs, this.options.restartDelayMs * 2 ** slot.deaths);
    slot.deaths++;
    this.emit('workerExited', error, delay);
    slot.restartTimer = setTimeout(() => this.fork(slot), delay);
  };

  private readonly onMessage = (worker: Worker, message: unknown): void => {
    const slot = this.slots.find((s) => s.worker === worker);
    if (!slot || !isLinkMessage(message)) return;
    const m = message as WorkerMessage;
    switch (m.waymark) {
      case 'listening':
        this.onListening(worker, m.url);
        return;
      case 'applied':
        slot.applied = m;
        this.reportApplied();
        return;
      case 'metrics':
        this.scrape().then(
          (text) => this.send(worker, { waymark: 'metrics', id: m.id, text, contentType: this.metrics.contentType }),
          (err: Error) => this.warn(new Error(`metrics could not be aggregated: ${err.message}`)),
        );
        return;
      case 'collected':
        this.collecting.get(m.id)?.(m.metrics);
        return;
    }
  };

  private onListening(worker: Worker, url: string): void {
    this.send(worker, { waymark: 'registration', state: this.registrationState });
    if (this.url === undefined) {
      this.url = url;
      if (this.conn) this.register(url);
    }
    this.listening.add(worker);
    if (!this.listened && this.slots.every((s) => s.worker !== undefined && this.listening.has(s.worker))) {
      this.listened = true;
      this.starting?.resolve(url);
      this.starting = undefined;
      this.emit('listening', url);
    }
  }

  private register(url: string): void {
    const o = this.gateway;
    const registration = new Registration(this.conn!, new KeyLayout(o.prefix), {
      environment: o.environment,
      region: o.region,
      id: o.id,
      url,
      dispatch: o.dispatch,
      ttlSeconds: o.leaseTtlSeconds,
      ...(o.lease ? { lease: o.lease } : {}),
    });
    this.registration = registration;
    const announce = () => this.broadcast({ waymark: 'registration', state: this.registrationState });
    forwardPresence(registration, this, {
      registered: announce,
      lost: () => {
        this.leaseLosses.inc();
        announce();
      },
      keepaliveFailed: () => this.keepaliveFailures.inc(),
    });
    registration.on('reportFailed', (err) => this.warn(err));
    registration.on('reportInvalid', (err) => this.warn(err));
    this.reportApplied();
    registration.start().catch((err: Error) => this.warn(err));
  }

  /**
   * Reports the oldest revision any running worker serves (so lag is never understated), stale
   * if any is, with that worker's skipped keys. A worker that serves nothing yet is left out.
   */
  private reportApplied(): void {
    if (!this.registration || this.closing) return;
    const applied = this.slots.flatMap((s) => (s.worker && s.applied ? [s.applied] : []));
    if (applied.length === 0) return;
    const oldest = applied.reduce((a, b) => (b.revision < a.revision ? b : a));
    const staleSince = applied
      .filter((a) => a.stale)
      .map((a) => (a.staleSince ? Date.parse(a.staleSince) : Date.now()))
      .reduce<number | undefined>((a, b) => (a === undefined || b < a ? b : a), undefined);
    this.registration.setInvalidRecords(oldest.invalidRecords);
    this.registration.update(oldest.revision, staleSince === undefined ? undefined : new Date(staleSince));
  }

  /** The gateway's metrics: every running worker's (fresh, or its last if it does not answer in time), the retired workers' counters and the primary's own. */
  private async scrape(): Promise<string> {
    const live = this.slots.filter((s) => s.worker !== undefined);
    await Promise.all(live.map((s) => this.collect(s)));
    this.workerRequests.reset();
    for (const s of live) {
      const pid = s.worker?.process.pid;
      const requests = s.metrics?.find((m) => m.name === 'waymark_gateway_requests_total');
      if (!requests || pid === undefined) continue;
      this.workerRequests.inc({ worker: String(s.index), pid: String(pid) }, requests.values.reduce((sum, v) => sum + v.value, 0));
    }
    this.workersGauge.set(live.length);
    await this.retiring;
    const own = await this.metrics.getMetricsAsJSON();
    const all = [own, this.retired, ...live.flatMap((s) => (s.metrics ? [s.metrics] : []))];
    return AggregatorRegistry.aggregate(all).metrics();
  }

  private collect(slot: Slot): Promise<void> {
    const worker = slot.worker;
    if (!worker || !worker.isConnected()) return Promise.resolve();
    const id = this.nextCollect++;
    return new Promise<void>((resolve) => {
      const done = (metrics: MetricsJson | undefined) => {
        clearTimeout(timer);
        this.collecting.delete(id);
        // A worker replaced meanwhile: its successor's slot keeps its own metrics.
        if (metrics && slot.worker === worker) slot.metrics = metrics;
        resolve();
      };
      const timer = setTimeout(() => {
        this.warn(new Error(`worker ${slot.index} did not send its metrics within ${this.options.metricsTimeoutMs} ms: its last ones are used`));
        done(undefined);
      }, this.options.metricsTimeoutMs);
      this.collecting.set(id, done);
      this.send(worker, { waymark: 'collect', id });
    });
  }

  /** Keeps an exited worker's counters and histograms (not its gauges) in the gateway's totals. */
  private retire(metrics: MetricsJson): void {
    const kept = metrics.filter((m) => String(m.type) === 'counter' || String(m.type) === 'histogram');
    this.retiring = this.retiring
      .then(async () => {
        this.retired = await AggregatorRegistry.aggregate([this.retired, kept]).getMetricsAsJSON();
      })
      .catch((err: Error) => this.warn(err));
  }

  private broadcast(m: PrimaryMessage): void {
    for (const s of this.slots) if (s.worker) this.send(s.worker, m);
  }

  private send(worker: Worker, m: PrimaryMessage): void {
    if (!worker.isConnected()) return;
    try {
      worker.send(m);
    } catch {
      // The worker is exiting; its exit is handled in onExit.
    }
  }

  private warn(err: Error): void {
    if (this.listenerCount('warning') > 0) this.emit('warning', err);
  }
}
