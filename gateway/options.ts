import type { EtcdConnection, EtcdOptions, LeasedKeysOptions, TopologyWatcherOptions } from '../store/index.js';
import { assertName, gatewayUrlProblem } from '../topology/index.js';
import { DEFAULT_KEY_PREFIX } from '../store/index.js';
import type { BundleTrustedKey } from './bundle.js';
import { GatewayOptionsError } from './errors.js';

/** A bundle gateway's source (see gateway/bundle.ts). */
export interface BundleOptions {
  file: string;
  /** The environment's public keys (`waymark keys list -o json`). */
  trustedKeys: readonly BundleTrustedKey[];
  /** Polling of the file besides the directory watch, ms. Default BUNDLE_DEFAULTS.pollIntervalMs (2000). */
  pollIntervalMs?: number;
}

/** Everything a gateway can be told. Every default is in GATEWAY_DEFAULTS, below. */
export interface GatewayOptions {
  /** How to reach etcd, or an open connection to share (then the gateway does not close it). Required unless `bundle` is given. */
  etcd?: EtcdOptions | EtcdConnection;
  /**
   * Run without etcd from a signed bundle (`waymark export`): verified against `trustedKeys`,
   * reloaded when the file is replaced, never registered anywhere. Exclusive with `etcd`.
   */
  bundle?: BundleOptions;
  /** Environment whose topology this gateway serves. */
  environment: string;
  /** Region this gateway runs in. */
  region: string;
  /** This gateway's id, unique within its region. */
  id: string;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  /**
   * Base URL clients use to reach this gateway: registered in etcd and used in `_links`.
   * Default `http://<host>:<port>` once listening.
   */
  publicUrl?: string;
  /** Root of Waymark's etcd keys. Default `/waymark/v1`. */
  prefix?: string;
  /** File the last snapshot is written to, and cold-started from while etcd is unreachable. */
  snapshotFile?: string;
  /** Forward requests for non-pinned services served elsewhere to a gateway that serves them, instead of 421. Default false. */
  dispatch?: boolean;
  /** TTL of the registration lease: a crashed gateway leaves every topology this long after. Default 10. */
  leaseTtlSeconds?: number;
  /** Advertised in the document: how long clients may keep routing on it when no gateway answers. Default 300. */
  maxStaleSeconds?: number;
  /** Advertised in the document: how often clients re-fetch it. Default 30. */
  refreshIntervalSeconds?: number;
  /** Advertised in the document: random spread clients add to the interval. Default 5. */
  refreshJitterSeconds?: number;
  /** `Cache-Control: max-age` of discovery responses. Default 5. */
  cacheMaxAgeSeconds?: number;
  /** `stale-while-revalidate` (RFC 5861). Default 30. */
  staleWhileRevalidateSeconds?: number;
  /** `stale-if-error` (RFC 5861). Default: `maxStaleSeconds`. */
  staleIfErrorSeconds?: number;
  /** Long-poll: hold time when the request gives no `timeout`. Default 30. */
  longPollDefaultSeconds?: number;
  /** Long-poll: ceiling of `timeout`. Default 120. */
  longPollMaxSeconds?: number;
  /** Long-polls held at once; past this, 503 with a jittered Retry-After. Default 10000. */
  maxLongPolls?: number;
  /**
   * Long-polls held at once for one client address, so one client cannot take every slot; past
   * this, 429 with a jittered Retry-After (plain GETs are still served). Clients behind one NAT or
   * proxy share an address: raise it, or name the proxy's header in `clientAddressHeader`. Default 4.
   */
  maxLongPollsPerClient?: number;
  /**
   * Request header a trusted proxy in front of the gateway sets to the client's address, such as
   * `x-forwarded-for` (its last entry is taken: the address the proxy itself saw). Only set it
   * when every request comes through that proxy: clients can write any header. Without it (the
   * default) the client address is the connection's peer.
   */
  clientAddressHeader?: string;
  /** Largest request body proxied, in bytes; larger gets 413. Default 10 MiB. */
  maxBodyBytes?: number;
  /**
   * Request bodies up to this many bytes are received whole before an upstream socket is taken,
   * then sent with a Content-Length (and replayed to the next upstream when one cannot be
   * reached); a larger body streams once this much has arrived. A client trickling its body thus
   * holds no upstream socket. Default 65536.
   */
  bodyBufferBytes?: number;
  /**
   * Time allowed to receive what is buffered of a body (all of one up to `bodyBufferBytes`, the
   * first `bodyBufferBytes` of a larger one), ms; past it, 408 and the connection closed. Also the
   * window over which `bodyMinBytesPerSecond` is measured. Default 20000.
   */
  bodyTimeoutMs?: number;
  /**
   * Slowest pace a streamed body (past `bodyBufferBytes`) may arrive at, in bytes per second over
   * every `bodyTimeoutMs` window (windows where the upstream held it back excepted); slower gets
   * 408 and the upstream exchange is cut. `requestTimeoutMs` bounds the whole request. Default 1024.
   */
  bodyMinBytesPerSecond?: number;
  /** Largest request head (line and headers), in bytes; larger gets 431. Default 16384. */
  maxHeaderBytes?: number;
  /** Time allowed to receive a request's headers (node's `server.headersTimeout`), ms. Default 10000. */
  headersTimeoutMs?: number;
  /** Time allowed to receive a whole request (node's `server.requestTimeout`), ms. Default 300000. */
  requestTimeoutMs?: number;
  /** Idle time before a client keep-alive connection is closed, ms. Default 5000. */
  keepAliveTimeoutMs?: number;
  /** Time to connect to an upstream before trying another, ms. Default 2000. */
  upstreamConnectTimeoutMs?: number;
  /** Inactivity allowed on an upstream exchange before it counts as a timeout (504), ms. Default 30000. */
  upstreamTimeoutMs?: number;
  /**
   * Sockets per service and upstream host at most (each service has its own keep-alive pool, so a
   * slow one never takes another's sockets, even on a shared backend). Default 256.
   */
  upstreamMaxSockets?: number;
  /**
   * Share of `upstreamMaxSockets` (at least one socket) a service's streamed uploads may hold at
   * once, so uploads, whose pace the client sets, never hold every socket; past it an upload gets
   * 503 with Retry-After. From 0 (exclusive) to 1. Default 0.25.
   */
  upstreamUploadShare?: number;
  /** On close: time given to in-flight requests before their connections are cut, ms. Default 10000. */
  drainTimeoutMs?: number;
  /** Tuning of the etcd watch (retry, liveness probe). */
  watcher?: Omit<TopologyWatcherOptions, 'initial'>;
  /** Tuning of lease re-grants after a loss. */
  lease?: Omit<LeasedKeysOptions, 'ttlSeconds'>;
  /**
   * Set in a worker process of `waymark gateway --workers N` (gateway/workers.ts): the primary
   * holds the registration (this gateway reports to it over IPC and does not register), /metrics
   * answers for the whole gateway, only worker 0 writes `snapshotFile`, and the gateway-wide
   * limits (`maxLongPolls`, `maxLongPollsPerClient`, `upstreamMaxSockets`, hence upload slots)
   * are divided among the workers, rounded up, at least 1 each.
   */
  worker?: WorkerSlot;
}

/** Which worker of how many a gateway is. */
export interface WorkerSlot {
  /** From 0 to `count - 1`; a replaced worker takes the slot of the one it replaces. */
  index: number;
  count: number;
}

/** How the primary of `waymark gateway --workers N` runs its workers. Every default is in WORKERS_DEFAULTS. */
export interface WorkersOptions {
  /** Worker processes sharing the port. */
  count: number;
  /** Delay before replacing a worker that died, ms; doubled after each death in a row. Default 100. */
  restartDelayMs?: number;
  /** Ceiling of that delay, ms, so a crash loop retries slowly but forever. Default 10000. */
  maxRestartDelayMs?: number;
  /** A worker up this long resets the delay to `restartDelayMs`, ms. Default 30000. */
  stableAfterMs?: number;
  /** Time a scrape waits for each worker's metrics (then uses its last ones), ms. Default 2000. */
  metricsTimeoutMs?: number;
  /**
   * Time given to workers to drain after the registration is revoked, past the gateway's
   * `drainTimeoutMs`, before the primary kills them, ms. Default 5000.
   */
  exitGraceMs?: number;
}

export const WORKERS_DEFAULTS = {
  restartDelayMs: 100,
  maxRestartDelayMs: 10_000,
  stableAfterMs: 30_000,
  metricsTimeoutMs: 2_000,
  exitGraceMs: 5_000,
} as const;

export const GATEWAY_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  prefix: DEFAULT_KEY_PREFIX,
  dispatch: false,
  leaseTtlSeconds: 10,
  maxStaleSeconds: 300,
  refreshIntervalSeconds: 30,
  refreshJitterSeconds: 5,
  cacheMaxAgeSeconds: 5,
  staleWhileRevalidateSeconds: 30,
  longPollDefaultSeconds: 30,
  longPollMaxSeconds: 120,
  maxLongPolls: 10_000,
  maxLongPollsPerClient: 4,
  maxBodyBytes: 10 * 1024 * 1024,
  bodyBufferBytes: 64 * 1024,
  bodyTimeoutMs: 20_000,
  bodyMinBytesPerSecond: 1024,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 5_000,
  upstreamConnectTimeoutMs: 2_000,
  upstreamTimeoutMs: 30_000,
  upstreamMaxSockets: 256,
  upstreamUploadShare: 0.25,
  drainTimeoutMs: 10_000,
} as const;

/** Options with every default applied and every value checked. */
export type ResolvedGatewayOptions = Required<Omit<GatewayOptions, 'publicUrl' | 'snapshotFile' | 'watcher' | 'lease' | 'clientAddressHeader' | 'etcd' | 'bundle' | 'worker'>> &
  Pick<GatewayOptions, 'publicUrl' | 'snapshotFile' | 'watcher' | 'lease' | 'clientAddressHeader' | 'etcd' | 'bundle' | 'worker'>;

/** Applies the defaults and validates; throws GatewayOptionsError naming the bad option. */
export function resolveGatewayOptions(options: GatewayOptions): ResolvedGatewayOptions {
  if (!options || typeof options !== 'object') throw new GatewayOptionsError('options', 'must be an object');
  if (!options.etcd && !options.bundle) throw new GatewayOptionsError('etcd', 'is required (etcd endpoints or a connection), unless the gateway runs from a bundle');
  if (options.etcd && options.bundle) throw new GatewayOptionsError('bundle', 'a gateway runs from etcd or from a bundle, not both');
  if (options.bundle) checkBundle(options.bundle);
  checkName('environment', options.environment);
  checkName('region', options.region);
  checkName('id', options.id);
  const maxStaleSeconds = options.maxStaleSeconds ?? GATEWAY_DEFAULTS.maxStaleSeconds;
  const out: ResolvedGatewayOptions = {
    ...GATEWAY_DEFAULTS,
    staleIfErrorSeconds: maxStaleSeconds,
    ...definedOnly(options),
    ...(options.etcd ? { etcd: options.etcd } : {}),
    environment: options.environment,
    region: options.region,
    id: options.id,
    maxStaleSeconds,
  };
  if (out.publicUrl !== undefined) {
    // The same rule clients apply to the URL they will find in the document.
    const problem = gatewayUrlProblem(out.publicUrl);
    if (problem) throw new GatewayOptionsError('publicUrl', `${JSON.stringify(out.publicUrl)} ${problem}`);
    out.publicUrl = out.publicUrl.replace(/\/+$/, '');
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    throw new GatewayOptionsError('port', `must be an integer from 0 to 65535, got ${String(out.port)}`);
  }
  const positive = [
    'leaseTtlSeconds',
    'longPollMaxSeconds',
    'maxLongPolls',
    'maxLongPollsPerClient',
    'maxBodyBytes',
    'bodyBufferBytes',
    'bodyTimeoutMs',
    'bodyMinBytesPerSecond',
    'maxHeaderBytes',
    'headersTimeoutMs',
    'requestTimeoutMs',
    'keepAliveTimeoutMs',
    'upstreamConnectTimeoutMs',
    'upstreamTimeoutMs',
    'upstreamMaxSockets',
  ] as const;
  for (const key of positive) {
    if (!(Number.isFinite(out[key]) && out[key] > 0)) {
      throw new GatewayOptionsError(key, `must be a positive number, got ${String(out[key])}`);
    }
  }
  const nonNegative = [
    'maxStaleSeconds',
    'refreshIntervalSeconds',
    'refreshJitterSeconds',
    'cacheMaxAgeSeconds',
    'staleWhileRevalidateSeconds',
    'staleIfErrorSeconds',
    'longPollDefaultSeconds',
    'drainTimeoutMs',
  ] as const;
  for (const key of nonNegative) {
    if (!(Number.isFinite(out[key]) && out[key] >= 0)) {
      throw new GatewayOptionsError(key, `must be a number ≥ 0, got ${String(out[key])}`);
    }
  }
  if (!(Number.isFinite(out.upstreamUploadShare) && out.upstreamUploadShare > 0 && out.upstreamUploadShare <= 1)) {
    throw new GatewayOptionsError('upstreamUploadShare', `must be a number above 0 and at most 1, got ${String(out.upstreamUploadShare)}`);
  }
  if (out.clientAddressHeader !== undefined) {
    if (typeof out.clientAddressHeader !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/.test(out.clientAddressHeader)) {
      throw new GatewayOptionsError('clientAddressHeader', `must be an HTTP header name, got ${JSON.stringify(out.clientAddressHeader)}`);
    }
    out.clientAddressHeader = out.clientAddressHeader.toLowerCase();
  }
  if (!Number.isInteger(out.leaseTtlSeconds)) {
    throw new GatewayOptionsError('leaseTtlSeconds', `must be a whole number of seconds, got ${out.leaseTtlSeconds}`);
  }
  if (out.worker !== undefined) {
    const { index, count } = out.worker;
    if (!Number.isInteger(count) || count < 1) throw new GatewayOptionsError('worker.count', `must be a positive whole number, got ${String(count)}`);
    if (!Number.isInteger(index) || index < 0 || index >= count) throw new GatewayOptionsError('worker.index', `must be a whole number from 0 to ${count - 1}, got ${String(index)}`);
    // Rounded up: a limit smaller than the worker count still lets every worker serve one.
    for (const key of ['maxLongPolls', 'maxLongPollsPerClient', 'upstreamMaxSockets'] as const) out[key] = Math.ceil(out[key] / count);
  }
  return out;
}

/** Resolves the options of the primary of `--workers N`; throws GatewayOptionsError naming the bad one. */
export function resolveWorkersOptions(options: WorkersOptions): Required<WorkersOptions> {
  const out = { ...WORKERS_DEFAULTS, ...definedOnly(options), count: options.count };
  if (!Number.isInteger(out.count) || out.count < 1) throw new GatewayOptionsError('workers', `must be a positive whole number (or auto), got ${String(out.count)}`);
  for (const key of ['restartDelayMs', 'maxRestartDelayMs', 'stableAfterMs', 'metricsTimeoutMs', 'exitGraceMs'] as const) {
    if (!(Number.isFinite(out[key]) && out[key] >= 0)) throw new GatewayOptionsError(`workers.${key}`, `must be a number ≥ 0, got ${String(out[key])}`);
  }
  return out;
}

function checkName(option: string, value: unknown): void {
  try {
    assertName(option, value);
  } catch (err) {
    throw new GatewayOptionsError(option, (err as Error).message);
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function checkBundle(bundle: BundleOptions): void {
  if (typeof bundle.file !== 'string' || bundle.file === '') throw new GatewayOptionsError('bundle.file', 'must be a path');
  if (!Array.isArray(bundle.trustedKeys) || bundle.trustedKeys.length === 0) throw new GatewayOptionsError('bundle.trustedKeys', 'must list at least one public key');
  bundle.trustedKeys.forEach((k, i) => {
    if (!k || k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(k.x)) {
      throw new GatewayOptionsError(`bundle.trustedKeys[${i}]`, 'must be an Ed25519 JWK {"kty":"OKP","crv":"Ed25519","x":…} (waymark keys list -o json)');
    }
  });
}
