import { EventEmitter } from 'node:events';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { GatewayRegistration, GatewayReport, Health, TopologyDocument } from '../openapi/index.js';
import { BundleSource, bundleSnapshot } from './bundle.js';
import { connectEtcd, KeyLayout, TopologyWatcher, type EtcdConnection, type EtcdOptions, type InvalidRecord, type TopologySnapshot } from '../store/index.js';
import { ClientConnections } from './client-connections.js';
import { Discovery, Publication, TOPOLOGY_PATH } from './discovery.js';
import { topologySizeProblems } from '../topology/index.js';
import { GatewayHttpError, GatewayOptionsError, TopologyTooLargeError, type SnapshotFileError } from './errors.js';
import { checkFraming } from './framing.js';
import { LoopGuard } from './loop-guard.js';
import { GatewayMetrics, type FailureBoundary } from './metrics.js';
import { resolveGatewayOptions, type BundleOptions, type GatewayOptions, type ResolvedGatewayOptions } from './options.js';
import { Proxy } from './proxy.js';
import { PolicyWatch } from './policy-watch.js';
import { forwardPresence, Registration, type Presence, type PresenceEvents, type RegistrationState } from './registration.js';
import { sendError } from './reply.js';
import { GatewayRouter, type RequestInfo } from './router.js';
import type { RouteProblem } from './routes.js';
import { SnapshotFile } from './snapshot-file.js';
import { UpstreamGuard } from './upstream-guard.js';
import { WorkerLink } from './worker-link.js';

export type GatewayState = 'created' | 'starting' | 'listening' | 'draining' | 'closed';

export interface GatewayEvents extends PresenceEvents {
  /** A new document is served (a new snapshot, or the same one turning stale or fresh). */
  topology: [document: TopologyDocument, snapshot: TopologySnapshot];
  /** etcd stopped answering; the last snapshot is served with `stale: true`. */
  stale: [since: Date, error: Error];
  /** etcd answers again and the document is current. */
  fresh: [revision: number];
  /** The etcd watch re-reads the whole environment (start, reconnect, compaction, multi-transaction apply). */
  resync: [reason: string];
  /** A request was answered (only computed while someone listens). */
  request: [info: RequestInfo];
  /** Something was skipped or failed without stopping the gateway (bad record, snapshot file, report). */
  warning: [error: Error];
  listening: [url: string];
  closed: [];
}

/**
 * A regional gateway: serves its environment's topology at /.well-known/topology from a live etcd
 * watch, registers itself under a lease, and proxies requests for the services its region serves.
 */
export class Gateway extends EventEmitter<GatewayEvents> {
  readonly options: ResolvedGatewayOptions;
  /** Prometheus metrics, served at /metrics; `metrics.registry` is this gateway's own registry. */
  readonly metrics: GatewayMetrics;
  /** Undefined for a gateway that runs from a bundle. */
  private readonly conn: EtcdConnection | undefined;
  private readonly ownsConnection: boolean;
  private readonly layout: KeyLayout;
  private readonly discovery: Discovery;
  private readonly proxy: Proxy;
  private readonly router: GatewayRouter;
  private readonly connections = new ClientConnections();
  private readonly server: Server;
  private readonly snapshotFile: SnapshotFile | undefined;
  /** The upstream rules at connect time; fed with this gateway's addresses, its environment's gateways and the policy. */
  private readonly guard: UpstreamGuard;
  private policyWatch: PolicyWatch | undefined;
  private watcher: TopologyWatcher | undefined;
  private registration: Presence | undefined;
  /** In a worker of `--workers N`: the primary, which holds the registration and aggregates /metrics. */
  private readonly link: WorkerLink | undefined;
  /** The bundle served instead of etcd's content (option `bundle`), and since when. */
  private bundleSource: BundleSource | undefined;
  private bundleSince: Date | undefined;
  /** The statement under which this gateway's own URL was last reported as not allowed. */
  private refusedUnder: string | undefined;
  private stateValue: GatewayState = 'created';
  private baseUrl = '';
  private closing: Promise<void> | undefined;
  /** Keys of the environment skipped as invalid now, as the watcher last said. */
  private invalid: readonly InvalidRecord[] = [];

  constructor(options: GatewayOptions) {
    super();
    this.options = resolveGatewayOptions(options);
    const o = this.options;
    this.ownsConnection = o.etcd !== undefined && !isConnection(o.etcd);
    this.conn = o.etcd === undefined ? undefined : isConnection(o.etcd) ? o.etcd : connectEtcd(o.etcd);
    try {
      this.layout = new KeyLayout(o.prefix);
    } catch (err) {
      throw new GatewayOptionsError('prefix', (err as Error).message);
    }
    this.snapshotFile = o.snapshotFile ? new SnapshotFile(o.snapshotFile, (err) => this.warn(err), this.conn?.endpoints ?? []) : undefined;
    this.discovery = new Discovery(
      o,
      () => this.fallbackHeaders(),
      () => this.errorLinks(),
      (reason) => this.metrics.longPollRefused(reason),
    );
    this.metrics = new GatewayMetrics({ environment: o.environment, region: o.region, gateway: o.id }, () => ({
      revision: this.revision,
      stale: this.stale,
      staleSince: this.discovery.publication?.staleSince,
      heldLongPolls: this.heldLongPolls,
      registrationState: this.registrationState,
      invalidRecords: this.invalidByKind(),
    }));
    if (o.worker) {
      const link = new WorkerLink({ id: o.id, region: o.region }, this.metrics.registry, () => void this.close());
      this.link = link;
      this.metrics.renderWith(() => link.metrics());
    }
    this.guard = new UpstreamGuard({ etcdEndpoints: this.conn?.endpoints ?? [], onWarning: (err) => this.warn(err) });
    this.proxy = new Proxy(o, (service, reason) => this.metrics.upstreamError(service, reason), this.guard);
    this.router = new GatewayRouter({
      region: o.region,
      id: o.id,
      dispatch: o.dispatch,
      discovery: this.discovery,
      proxy: this.proxy,
      fallbackHeaders: () => this.fallbackHeaders(),
      errorLinks: () => this.errorLinks(),
      readiness: () => this.readiness(),
      draining: () => this.stateValue === 'draining',
      // Per-request observation costs only while someone listens.
      observed: () => this.listenerCount('request') > 0,
      onRequest: (info) => this.emit('request', info),
      metrics: this.metrics,
      loops: new LoopGuard(o.id),
    });
    this.server = createServer(
      {
        // Stated, not left to defaults: a process started with --insecure-http-parser would
        // otherwise accept the ambiguous framings request smuggling relies on.
        insecureHTTPParser: false,
        requireHostHeader: true,
        // Repeated headers stay apart in rawHeaders, which framing and Host checks read.
        joinDuplicateHeaders: false,
        maxHeaderSize: o.maxHeaderBytes,
        headersTimeout: o.headersTimeoutMs,
        requestTimeout: o.requestTimeoutMs,
        // node enforces both timeouts only when it checks connections, every 30 s by default: a
        // slow-loris client would hold a socket up to 30 s past headersTimeoutMs.
        connectionsCheckingInterval: Math.max(100, Math.min(o.headersTimeoutMs, o.requestTimeoutMs, 30_000) / 4),
      },
      (req, res) => this.onRequest(req, res),
    );
    this.server.keepAliveTimeout = o.keepAliveTimeoutMs;
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
  }

  get state(): GatewayState {
    return this.stateValue;
  }

  /** Public base URL (known once listening). */
  get url(): string {
    return this.baseUrl;
  }

  /** The address the server is bound to. */
  get address(): AddressInfo | undefined {
    const a = this.server.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  /** The document served now, if any. */
  get document(): TopologyDocument | undefined {
    return this.discovery.publication?.doc;
  }

  /** Revision of the topology served now (0 before any). */
  get revision(): number {
    return this.discovery.publication?.revision ?? 0;
  }

  get stale(): boolean {
    if (this.bundleSource) return false;
    return this.watcher?.stale ?? true;
  }

  get registrationState(): RegistrationState {
    if (this.stateValue === 'draining' || this.stateValue === 'closed') return 'draining';
    // A bundle gateway is registered nowhere but in its own document, which always lists it.
    if (this.bundleSource) return 'registered';
    return this.registration?.state ?? 'registering';
  }

  /** What this gateway reports to etcd (and what `waymark status` shows). */
  get report(): GatewayReport {
    const base = this.registration?.report ?? {
      id: this.options.id,
      region: this.options.region,
      appliedRevision: this.revision,
      stale: this.stale,
      reportedAt: new Date().toISOString(),
    };
    return { ...base, registration: this.registrationState };
  }

  /** Keys of the environment this gateway skips as invalid now (each keeps its last valid version, if any). */
  get invalidRecords(): readonly InvalidRecord[] {
    return this.invalid;
  }

  /** Long-polls held right now. */
  get heldLongPolls(): number {
    return this.discovery.heldLongPolls;
  }

  /**
   * Starts serving: reads the snapshot file (if any), binds the server, starts the etcd watch and
   * registers. Resolves with the public URL once the first registration attempt is over: when etcd
   * is down the gateway serves its snapshot file's topology (stale) and keeps registering in the
   * background.
   */
  async listen(): Promise<string> {
    if (this.stateValue !== 'created') throw new Error(`gateway ${this.options.id} cannot listen: it is ${this.stateValue}`);
    this.stateValue = 'starting';
    const o = this.options;
    try {
      let initial: TopologySnapshot | undefined;
      if (this.snapshotFile) {
        try {
          initial = await this.snapshotFile.read(o.environment);
        } catch (err) {
          this.warn(err as SnapshotFileError);
        }
      }
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(o.port, o.host, () => {
          this.server.off('error', reject);
          resolve();
        });
      });
      const addr = this.address!;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      this.baseUrl = o.publicUrl ?? `http://${host}:${addr.port}`;
      this.guard.setSelf(addr, this.baseUrl);
      this.link?.setUrl(this.baseUrl);
      if (o.bundle) {
        await this.startBundle(o.bundle);
        this.stateValue = 'listening';
        this.emit('listening', this.baseUrl);
        await this.link?.start();
        return this.baseUrl;
      }
      const conn = this.conn!;
      const policyWatch = new PolicyWatch(conn, this.layout, o.environment, {
        ...(o.watcher?.retryDelayMs !== undefined ? { retryDelayMs: o.watcher.retryDelayMs } : {}),
        ...(o.watcher?.maxRetryDelayMs !== undefined ? { maxRetryDelayMs: o.watcher.maxRetryDelayMs } : {}),
      });
      this.policyWatch = policyWatch;
      policyWatch.on('policy', (allowlist) => this.guard.setPolicy(allowlist));
      policyWatch.on('registries', (records) => this.guard.setRegistries(records));
      policyWatch.on('invalid', (problem) => this.warn(new Error(problem)));
      policyWatch.start();
      const watcher = new TopologyWatcher(conn, this.layout, o.environment, { ...o.watcher, ...(initial ? { initial } : {}) });
      this.watcher = watcher;
      if (initial) this.publish(initial);
      watcher.on('snapshot', (snapshot) => {
        this.publish(snapshot);
        // One writer per file: worker 0 of a gateway with workers.
        if ((o.worker?.index ?? 0) === 0) void this.snapshotFile?.write(snapshot);
      });
      watcher.on('stale', (since, err) => {
        this.republish();
        this.emit('stale', since, err);
      });
      watcher.on('fresh', (revision) => {
        this.republish();
        this.emit('fresh', revision);
      });
      watcher.on('invalid', (r) => this.warn(new Error(`etcd key ${r.key} skipped, its last valid version (if any) stays in use: ${r.reason}`)));
      watcher.on('quarantine', (records) => {
        this.invalid = records;
        this.registration?.setInvalidRecords(records);
      });
      watcher.on('failure', (err, where) => this.failure('watch', err, where));
      watcher.on('resync', (reason) => {
        this.metrics.resynced(reason);
        this.emit('resync', reason);
      });
      watcher.start();
      const registration: Presence = this.link ?? new Registration(conn, this.layout, {
        environment: o.environment,
        region: o.region,
        id: o.id,
        url: this.baseUrl,
        dispatch: o.dispatch,
        ttlSeconds: o.leaseTtlSeconds,
        ...(o.lease ? { lease: o.lease } : {}),
      });
      this.registration = registration;
      registration.setInvalidRecords(this.invalid);
      forwardPresence(registration, this, { lost: () => this.metrics.leaseLost(), keepaliveFailed: () => this.metrics.keepaliveFailed() });
      registration.on('reportFailed', (err) => this.warn(err));
      registration.on('reportInvalid', (err) => this.failure('report', err));
      this.stateValue = 'listening';
      this.emit('listening', this.baseUrl);
      await registration.start();
      if (this.discovery.publication) registration.update(this.revision, watcher.staleSince);
      return this.baseUrl;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /**
   * Resolves once the topology was read from etcd, the gateway is registered, and the document it
   * serves lists it (so a client reading the document finds this gateway).
   */
  async ready(signal?: AbortSignal): Promise<void> {
    if (this.bundleSource) return; // listen() resolved once the bundle was served
    if (!this.watcher) throw new Error('call listen() first');
    await this.watcher.ready(signal);
    await this.policyWatch?.ready(signal);
    const { region, id } = this.options;
    const done = () =>
      this.registrationState === 'registered' &&
      this.document?.regions.some((r) => r.name === region && r.gateways.some((g) => g.id === id)) === true;
    while (!done()) {
      signal?.throwIfAborted();
      if (this.stateValue !== 'listening') throw new Error(`gateway ${id} is ${this.stateValue}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.off('topology', wake);
          this.off('registered', wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        // Events wake it early; the timer covers a region that is not (yet) in the topology.
        const timer = setTimeout(wake, 100);
        this.once('topology', wake);
        this.once('registered', wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /**
   * Graceful shutdown: revokes the lease first (the gateway leaves every topology at once), stops
   * accepting connections, answers held long-polls, waits for in-flight requests (up to
   * `drainTimeoutMs`), then stops the watch and closes etcd.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const wasListening = this.server.listening;
    this.stateValue = 'draining';
    await this.registration?.close().catch((err: Error) => this.warn(err));
    const drained = wasListening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    this.discovery.close();
    this.server.closeIdleConnections();
    const sweeper = setInterval(() => this.server.closeIdleConnections(), 50);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      drained,
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.server.closeAllConnections();
          resolve();
        }, this.options.drainTimeoutMs);
      }),
    ]);
    clearInterval(sweeper);
    clearTimeout(timer);
    await drained;
    await this.watcher?.close();
    await this.policyWatch?.close();
    this.bundleSource?.close();
    this.guard.close();
    await this.snapshotFile?.flush();
    this.proxy.close();
    this.link?.detach();
    if (this.ownsConnection) this.conn?.close();
    this.stateValue = 'closed';
    this.emit('closed');
  }

  /**
   * Builds and serves the document of a snapshot. The publish boundary: if building fails (a bug,
   * or a record the validators let through), the last good publication stays served.
   */
  private publish(snapshot: TopologySnapshot): void {
    const previous = this.discovery.publication;
    this.checkAdmitted(snapshot);
    const over = snapshotSizeProblems(snapshot);
    if (over.length > 0) {
      // Clients would reject it (same caps): serving the last good document keeps them routing.
      this.warn(
        new TopologyTooLargeError(`revision ${snapshot.revision} has ${over.join('; ')} (TOPOLOGY_LIMITS); still serving revision ${previous?.revision ?? 'none'}`),
      );
      return;
    }
    this.guard.setGateways(snapshot.gateways.values());
    let pub: Publication;
    try {
      const bundle = this.bundleSource?.bundle;
      const origin = bundle && this.bundleSince ? { since: this.bundleSince, loadedAt: bundle.loadedAt, exportedAt: bundle.payload.exportedAt } : undefined;
      pub = new Publication(snapshot, this.baseUrl, this.options, this.watcher?.staleSince, previous, (p) => this.routeProblem(p), origin);
    } catch (err) {
      this.failure('publish', err, `revision ${snapshot.revision}; still serving revision ${previous?.revision ?? 'none'}`);
      return;
    }
    this.discovery.publish(pub);
    this.registration?.update(pub.revision, pub.staleSince);
    this.metrics.topologyPublished();
    this.emit('topology', pub.doc, snapshot);
  }

  /**
   * Serves the bundle file instead of etcd: its first load must succeed (the gateway does not
   * start on a bad bundle); a later replacement that is refused leaves the current one served.
   */
  private async startBundle(options: BundleOptions): Promise<void> {
    const o = this.options;
    const source = new BundleSource(options.file, options.trustedKeys, o.environment, options.pollIntervalMs);
    const self: GatewayRegistration = { id: o.id, region: o.region, url: this.baseUrl, status: 'up', startedAt: new Date().toISOString(), dispatch: o.dispatch };
    this.bundleSource = source;
    this.bundleSince = new Date();
    source.on('bundle', (bundle) => this.publish(bundleSnapshot(bundle, self)));
    source.on('rejected', (err) => this.warn(err));
    await source.load();
    source.start();
  }

  /** Says once per statement when the signed allow-list leaves this gateway out of its own document. */
  private checkAdmitted(snapshot: TopologySnapshot): void {
    const statement = snapshot.signed?.jws;
    if (statement === undefined || statement === this.refusedUnder) return;
    const self = [...snapshot.gateways.values()].find((g) => g.region === this.options.region && g.id === this.options.id);
    if (!self || snapshot.admits(self)) return;
    this.refusedUnder = statement;
    this.warn(new Error(`this gateway's URL ${self.url} is outside the signed gatewayUrls of region ${self.region}: it is not published, and verifying clients never call it`));
  }

  /** The same snapshot again, because its freshness changed. */
  private republish(): void {
    const snapshot = this.discovery.publication?.snapshot ?? this.watcher?.current();
    if (snapshot) this.publish(snapshot);
  }

  private readiness(): { ready: boolean; health: Health } {
    const pub = this.discovery.publication;
    const registration = this.registrationState;
    if (!pub) return { ready: false, health: { status: 'unavailable', stale: true, registration } };
    const health: Health = { status: pub.stale ? 'stale' : 'ok', revision: pub.revision, stale: pub.stale, registration };
    if (pub.staleSince) health.staleSince = pub.staleSince.toISOString();
    return { ready: this.stateValue === 'listening', health };
  }

  private fallbackHeaders(): readonly string[] {
    return ['X-Waymark-Revision', '0', 'X-Waymark-Region', this.options.region, 'X-Waymark-Gateway', this.options.id];
  }

  /** Made once per base URL: every proxied request carries them, few use them. */
  private links?: { baseUrl: string; value: Readonly<Record<string, { href: string }>> };

  private errorLinks(): Record<string, { href: string }> {
    if (this.links?.baseUrl !== this.baseUrl) {
      this.links = { baseUrl: this.baseUrl, value: Object.freeze({ topology: Object.freeze({ href: `${this.baseUrl}${TOPOLOGY_PATH}` }) }) };
    }
    return this.links.value;
  }

  private routeProblem(p: RouteProblem): void {
    this.warn(new Error(`service ${p.service}: ${p.reason}`));
  }

  /** An exception caught at a boundary: counted, reported, and the gateway goes on. */
  private failure(boundary: FailureBoundary, err: unknown, detail?: string): void {
    this.metrics.failed(boundary);
    const message = err instanceof Error ? err.message : String(err);
    this.warn(new Error(`internal error at the ${boundary} boundary${detail ? ` (${detail})` : ''}: ${message}`, { cause: err }));
  }

  private invalidByKind(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.invalid) {
      const kind = this.layout.parse(this.options.environment, r.key)?.kind ?? 'other';
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    }
    return counts;
  }

  private warn(err: Error): void {
    if (this.listenerCount('warning') > 0) this.emit('warning', err);
  }

  /**
   * Every request: framing another parser could read differently gets 400 and ends its connection
   * (and nothing node parsed after it on that connection is served); the rest is routed.
   */
  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (!this.connections.admit(req, res)) return;
    try {
      checkFraming(req);
    } catch (err) {
      this.connections.condemn(req.socket);
      res.shouldKeepAlive = false;
      sendError(res, err as GatewayHttpError, this.discovery.publication?.common ?? this.fallbackHeaders(), this.errorLinks());
      this.metrics.rejected.settle(res);
      return;
    }
    // The request boundary: a bug in a handler answers 500 on that request, never ends the gateway.
    try {
      this.router.handle(req, res);
    } catch (err) {
      this.failure('request', err);
      if (!res.headersSent) {
        sendError(res, new GatewayHttpError(500, 'INTERNAL', 'the gateway failed on this request: retry, or ask another gateway'), this.fallbackHeaders(), this.errorLinks());
      } else res.destroy();
    }
  }

  /**
   * A request node could not parse, or did not receive in time: answer in JSON and close, never
   * crash. When that answer would be read as another one (a response already under way on the
   * connection, or an earlier request still waiting for its own), the connection is only closed.
   */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    // llhttp refuses some framings only after node emitted the request, which the gateway has
    // already refused: let that answer go out, then close.
    if (this.connections.isCondemned(socket)) {
      socket.end();
      return;
    }
    if (!this.connections.canAnswer(socket)) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({
      code: status === 431 ? 'HEADERS_TOO_LARGE' : status === 408 ? 'REQUEST_TIMEOUT' : 'BAD_REQUEST',
      message:
        status === 431
          ? `the request head exceeds ${this.options.maxHeaderBytes} bytes: send fewer or smaller headers`
          : status === 408
            ? 'the request was not received in time'
            : `the request is not valid HTTP (${err.code ?? 'parse error'})`,
      _links: this.errorLinks(),
    });
    const head = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      `X-Waymark-Revision: ${this.revision}`,
      'Connection: close',
    ].join('\r\n');
    socket.end(`${head}\r\n\r\n${body}`);
  }
}

/** Creates a gateway; call `listen()` to start it and `close()` to stop it. */
export function createGateway(options: GatewayOptions): Gateway {
  return new Gateway(options);
}

function isConnection(etcd: EtcdOptions | EtcdConnection): etcd is EtcdConnection {
  return typeof (etcd as EtcdConnection).call === 'function';
}

/** The snapshot's size against the topology caps (the ones the SDK applies to the document). */
function snapshotSizeProblems(snapshot: TopologySnapshot): string[] {
  const gatewaysByRegion = new Map<string, number>();
  for (const g of snapshot.gateways.values()) gatewaysByRegion.set(g.region, (gatewaysByRegion.get(g.region) ?? 0) + 1);
  return topologySizeProblems({ regions: snapshot.regions.size, services: snapshot.services.size, gatewaysByRegion });
}
