import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ApplyResult, AuditEntry, AuditRecord, Bundle, EnvironmentStatus, EnvironmentSummary, InternalTopology, SigningKeys, UpstreamPolicy } from '../openapi/index.js';
import { HostResolver } from '../policy/index.js';
import { applyManifests, type ApplyRequest, type OperationContext } from './apply/apply.js';
import { auditEntry, listAudit } from './apply/audit.js';
import { assertEnvironment, internalTopology, listEnvironments } from './apply/environments.js';
import { promote, type PromoteRequest } from './apply/promote.js';
import { rollback, type RollbackRequest } from './apply/rollback.js';
import { environmentStatus } from './apply/status.js';
import { TokenStore } from './auth/tokens.js';
import { ValidationError } from './manifest/errors.js';
import type { ManifestLimits } from './manifest/schema.js';
import { MonitorPool } from './monitor/pool.js';
import { registryAddress } from './policy/registry-address.js';
import { deleteUpstreamPolicy, setUpstreamPolicy, upstreamPolicyView } from './policy/upstream-policy.js';
import { exportBundle } from './signing/bundle.js';
import { KeyStore } from './signing/keystore.js';
import { changeSigningKey, listSigningKeys } from './signing/sign.js';
import { createAdminApp, type RequestRecord } from './server/app.js';
import { applyOutcome, RegistryMetrics, type ApplyOutcome } from './server/metrics.js';
import { observabilityRoutes } from './server/observability.js';
import { REGISTRY_DEFAULTS, type RegistryOptions } from './server/options.js';
import { connectEtcd, type EtcdConnection } from '../store/etcd.js';
import { ConflictError } from '../store/errors.js';
import { KeyLayout } from '../store/keys.js';
import { LeasedKeys } from '../store/lease.js';

/**
 * Bounds on slow clients (slow-loris): headers within 10 s, a whole request (a 10 000-service
 * manifest included) within 2 minutes, checked every second rather than node's default 30 s.
 */
const SERVER_TIMEOUTS = { headersTimeout: 10_000, requestTimeout: 120_000, connectionsCheckingInterval: 1000 } as const;

export interface RegistryEvents {
  /** An apply or promotion was committed (not emitted for dry runs or no-ops). */
  applied: [result: ApplyResult, request: { operation: 'apply' | 'promote' | 'rollback'; by?: string; from?: string }];
  /** The audit record of a committed apply, promotion or rollback (logged as one JSON line). */
  audited: [environment: string, record: AuditRecord];
  /** A request was answered (never includes the token). */
  request: [record: RequestRecord];
  /** Something failed unexpectedly (answered with a 500). */
  failure: [error: Error];
  /** The registry's lease was lost; a new one is being granted. */
  leaseLost: [error: Error];
  /** A keepalive of the registry's lease failed (the lease may still be alive). */
  keepaliveFailed: [error: Error];
  /** A dashboard's or `waymark watch`'s etcd watch of an environment re-reads it. */
  resync: [environment: string, reason: string];
  /**
   * An environment watch skipped an invalid record, or caught an exception at a boundary (its
   * last good view stays): the registry goes on.
   */
  warning: [environment: string, error: Error];
}

/**
 * The control plane: applies manifests to etcd atomically and serves the admin API. Gateways
 * never need it at runtime: everything they use is in etcd.
 */
export class Registry extends EventEmitter<RegistryEvents> {
  readonly layout: KeyLayout;
  readonly conn: EtcdConnection;
  /** Prometheus metrics, served at /metrics; `metrics.registry` is this registry's own. */
  readonly metrics: RegistryMetrics;
  private readonly monitors: MonitorPool;
  private eventStreams = 0;
  private readonly ownsConnection: boolean;
  private readonly tokens: TokenStore;
  private readonly lease: LeasedKeys;
  private readonly ctx: OperationContext;
  /** Settles once the first lease grant succeeded or failed (it is then retried in the background). */
  private readonly leaseReady: Promise<void>;
  private server: Server | undefined;
  private address: string | undefined;
  /** `host:port` of the admin API once listening: refused as an upstream, announced to gateways. */
  private ownAddresses: readonly string[] = [];
  /** Names this registry's address under `_policy/registries/`. */
  private readonly instanceId = `registry-${randomBytes(6).toString('hex')}`;

  constructor(private readonly options: RegistryOptions) {
    super();
    this.layout = new KeyLayout(options.prefix);
    this.tokens = new TokenStore(options.tokens);
    this.ownsConnection = !('call' in options.etcd);
    this.conn = 'call' in options.etcd ? options.etcd : connectEtcd(options.etcd);
    this.metrics = new RegistryMetrics({
      statuses: async () => Promise.all((await this.environments()).map((e) => environmentStatus(this.conn, this.layout, e.name))),
      monitors: () => this.monitors.monitors,
      eventStreams: () => this.eventStreams,
    });
    this.monitors = new MonitorPool(
      this.conn,
      this.layout,
      {
        ...options.monitor,
        idleCloseMs: options.monitorIdleCloseMs ?? REGISTRY_DEFAULTS.monitorIdleCloseMs,
        maxMonitors: options.maxMonitors ?? REGISTRY_DEFAULTS.maxMonitors,
      },
      (monitor) =>
        monitor
          .on('resync', (reason) => {
            this.metrics.resynced(monitor.environment, reason);
            this.emit('resync', monitor.environment, reason);
          })
          .on('warning', (err) => {
            this.metrics.monitorWarning(monitor.environment);
            this.emit('warning', monitor.environment, err);
          }),
      // Its series go with it: per-environment series must not outlive what they describe.
      (monitor) => this.metrics.forgetMonitor(monitor.environment),
    );
    this.lease = new LeasedKeys(this.conn, { ttlSeconds: options.leaseTtlSeconds ?? REGISTRY_DEFAULTS.leaseTtlSeconds });
    this.lease.on('lost', (err) => {
      this.metrics.leaseLost();
      this.emit('leaseLost', err);
    });
    this.lease.on('keepaliveFailed', (err) => {
      this.metrics.keepaliveFailed();
      this.emit('keepaliveFailed', err);
    });
    this.ctx = {
      conn: this.conn,
      layout: this.layout,
      leaseId: () => this.lease.id,
      ownAddresses: () => this.ownAddresses,
      resolver: new HostResolver(),
      audited: (env, record) => this.emit('audited', env, record),
      ...(options.audit ? { audit: options.audit } : {}),
      ...(options.keysDir !== undefined ? { keys: new KeyStore(options.keysDir) } : {}),
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.maxTxnOps ? { maxTxnOps: options.maxTxnOps } : {}),
      ...(options.maxTxnBytes ? { maxTxnBytes: options.maxTxnBytes } : {}),
    };
    // A failed first grant is retried in the background, so the registry starts (and answers 503)
    // while etcd is down.
    this.leaseReady = this.lease.start().catch(() => undefined);
  }

  /** The limits on the manifests of one apply, as configured (defaults in MANIFEST_DEFAULTS). */
  get manifestLimits(): ManifestLimits {
    return this.ctx.limits ?? {};
  }

  /** Base URL of the admin API once listening, such as `http://127.0.0.1:8080`. */
  get url(): string | undefined {
    return this.address;
  }

  /** Serves the admin API; resolves with its base URL. */
  async listen(): Promise<string> {
    if (this.address) return this.address;
    await this.leaseReady;
    const app = createAdminApp(this, this.tokens, this.options.maxBodyBytes ?? REGISTRY_DEFAULTS.maxBodyBytes, {
      onRequest: (r) => {
        this.metrics.request(r.method, r.route, r.status, r.durationMs / 1000);
        this.emit('request', r);
      },
      onFailure: (e) => this.emit('failure', e),
    }, observabilityRoutes({
      tokens: this.tokens,
      metrics: this.metrics,
      monitors: this.monitors,
      environments: { assertKnown: (env) => this.assertEnvironment(env) },
      streams: { opened: () => this.eventStreams++, closed: () => this.eventStreams-- },
    }));
    const tls = this.options.tls;
    const server = tls
      ? createHttpsServer({ ...SERVER_TIMEOUTS, cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, app.callback())
      : createHttpServer(SERVER_TIMEOUTS, app.callback());
    const host = this.options.host ?? REGISTRY_DEFAULTS.host;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? REGISTRY_DEFAULTS.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const port = (server.address() as AddressInfo).port;
    this.address = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const announced = registryAddress(this.instanceId, this.address, host, port);
    this.ownAddresses = announced.addresses;
    // Kept under the lease (written again after a re-grant); an etcd hiccup here must not stop the registry.
    await this.lease.put(this.layout.registryAddress(this.instanceId), JSON.stringify(announced)).catch(() => undefined);
    return this.address;
  }

  async apply(req: ApplyRequest): Promise<ApplyResult> {
    await this.leaseReady;
    const result = await this.measured(req.environment, req.operation ?? 'apply', () => applyManifests(this.ctx, req));
    if (result.changed && !result.dryRun) {
      this.emit('applied', result, { operation: req.operation ?? 'apply', ...(req.by ? { by: req.by } : {}) });
    }
    return result;
  }

  async promote(req: PromoteRequest): Promise<ApplyResult> {
    await this.leaseReady;
    const result = await this.measured(req.to, 'promote', () => promote(this.ctx, req));
    if (result.changed && !result.dryRun) {
      this.emit('applied', result, { operation: 'promote', from: req.from, ...(req.by ? { by: req.by } : {}) });
    }
    return result;
  }

  /** Re-applies the source of an audit record with the environment's current variables (see rollback.ts). */
  async rollback(req: RollbackRequest): Promise<ApplyResult> {
    await this.leaseReady;
    const result = await this.measured(req.environment, 'rollback', () => rollback(this.ctx, req));
    if (result.changed && !result.dryRun) {
      this.emit('applied', result, { operation: 'rollback', ...(req.by ? { by: req.by } : {}) });
    }
    return result;
  }

  /** The environment's audit trail, newest first. */
  async history(env: string): Promise<AuditRecord[]> {
    await this.assertEnvironment(env);
    return listAudit(this.conn, this.layout, env);
  }

  async historyEntry(env: string, id: number): Promise<AuditEntry> {
    await this.assertEnvironment(env);
    return auditEntry(this.conn, this.layout, env, id);
  }

  environments(): Promise<EnvironmentSummary[]> {
    return listEnvironments(this.conn, this.layout);
  }

  topology(env: string): Promise<InternalTopology> {
    return internalTopology(this.conn, this.layout, env);
  }

  async status(env: string): Promise<EnvironmentStatus> {
    await this.assertEnvironment(env);
    return environmentStatus(this.conn, this.layout, env);
  }

  /** NotFoundError (naming the known environments) unless the environment has a key in etcd. */
  assertEnvironment(env: string): Promise<void> {
    return assertEnvironment(this.conn, this.layout, env);
  }

  /**
   * An environment's upstream policy (see registry/policy/upstream-policy.ts). NotFoundError for
   * a name that is no environment and has no policy either (one set before the first apply shows).
   */
  async upstreamPolicy(env: string): Promise<UpstreamPolicy> {
    const policy = await upstreamPolicyView(this.conn, this.layout, env);
    if (policy.allow === undefined) await this.assertEnvironment(env);
    return policy;
  }

  /** Admins only (the route checks): replaces the environment's allowlist. */
  setUpstreamPolicy(env: string, allow: string[], by: string): Promise<UpstreamPolicy> {
    return setUpstreamPolicy(this.conn, this.layout, env, allow, by);
  }

  /** Admins only (the route checks): back to the default policy. */
  deleteUpstreamPolicy(env: string): Promise<UpstreamPolicy> {
    return deleteUpstreamPolicy(this.conn, this.layout, env);
  }

  /** The public signing keys of an environment (see registry/signing/). */
  signingKeys(env: string): Promise<SigningKeys> {
    return listSigningKeys(this.conn, this.layout, env);
  }

  /** Admins only (the route checks): the first key of an environment; its topology is signed at once. */
  createSigningKey(env: string): Promise<SigningKeys> {
    return changeSigningKey(this.conn, this.layout, this.ctx.keys, env, 'create');
  }

  /** Admins only (the route checks): a next key, published for clients to trust; it does not sign yet. */
  rotateSigningKey(env: string): Promise<SigningKeys> {
    return changeSigningKey(this.conn, this.layout, this.ctx.keys, env, 'rotate');
  }

  /** Admins only (the route checks): the next key signs from now on; the topology is re-signed with it. */
  activateSigningKey(env: string): Promise<SigningKeys> {
    return changeSigningKey(this.conn, this.layout, this.ctx.keys, env, 'activate');
  }

  /** Admins only (the route checks): the signed bundle of an environment for gateways without etcd. */
  exportBundle(env: string, region?: string): Promise<Bundle> {
    return exportBundle(this.conn, this.layout, this.ctx.keys, env, region);
  }

  /** Runs an apply or promotion, counting it by outcome and timing it. */
  private async measured(environment: string, operation: string, run: () => Promise<ApplyResult>): Promise<ApplyResult> {
    const started = performance.now();
    let outcome: ApplyOutcome = 'failed';
    try {
      const result = await run();
      outcome = applyOutcome(result);
      return result;
    } catch (err) {
      outcome = err instanceof ValidationError ? 'rejected' : err instanceof ConflictError ? 'conflict' : 'failed';
      throw err;
    } finally {
      this.metrics.applied(environment, operation, outcome, (performance.now() - started) / 1000);
    }
  }

  /** Stops serving (open connections are closed), revokes the lease and closes etcd if owned. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.address = undefined;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    }
    await this.monitors.close();
    await this.leaseReady;
    await this.lease.close();
    if (this.ownsConnection) this.conn.close();
  }
}

export function createRegistry(options: RegistryOptions): Registry {
  return new Registry(options);
}
