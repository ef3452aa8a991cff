import type { EtcdConnection, EtcdOptions, LeasedKeysOptions, TopologyWatcherOptions } from '../registry/index.js';
import { assertName, DEFAULT_KEY_PREFIX } from '../registry/index.js';
import { urlShapeRefusal } from '../policy/index.js';
import { GatewayOptionsError } from './errors.js';

/** Everything a gateway can be told. Every default is in GATEWAY_DEFAULTS, below. */
export interface GatewayOptions {
  /** How to reach etcd, or an open connection to share (then the gateway does not close it). */
  etcd: EtcdOptions | EtcdConnection;
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
  /** Long-polls held at once; past this, 503 with Retry-After. Default 10000. */
  maxLongPolls?: number;
  /** Largest request body proxied, in bytes; larger gets 413. Default 10 MiB. */
  maxBodyBytes?: number;
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
  /** Keep-alive sockets per upstream host at most. Default 256. */
  upstreamMaxSockets?: number;
  /** On close: time given to in-flight requests before their connections are cut, ms. Default 10000. */
  drainTimeoutMs?: number;
  /** Tuning of the etcd watch (retry, liveness probe). */
  watcher?: Omit<TopologyWatcherOptions, 'initial'>;
  /** Tuning of lease re-grants after a loss. */
  lease?: Omit<LeasedKeysOptions, 'ttlSeconds'>;
}

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
  maxBodyBytes: 10 * 1024 * 1024,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 5_000,
  upstreamConnectTimeoutMs: 2_000,
  upstreamTimeoutMs: 30_000,
  upstreamMaxSockets: 256,
  drainTimeoutMs: 10_000,
} as const;

/** Options with every default applied and every value checked. */
export type ResolvedGatewayOptions = Required<Omit<GatewayOptions, 'publicUrl' | 'snapshotFile' | 'watcher' | 'lease'>> &
  Pick<GatewayOptions, 'publicUrl' | 'snapshotFile' | 'watcher' | 'lease'>;

/** Applies the defaults and validates; throws GatewayOptionsError naming the bad option. */
export function resolveGatewayOptions(options: GatewayOptions): ResolvedGatewayOptions {
  if (!options || typeof options !== 'object') throw new GatewayOptionsError('options', 'must be an object');
  if (!options.etcd) throw new GatewayOptionsError('etcd', 'is required (etcd endpoints or a connection)');
  checkName('environment', options.environment);
  checkName('region', options.region);
  checkName('id', options.id);
  const maxStaleSeconds = options.maxStaleSeconds ?? GATEWAY_DEFAULTS.maxStaleSeconds;
  const out: ResolvedGatewayOptions = {
    ...GATEWAY_DEFAULTS,
    staleIfErrorSeconds: maxStaleSeconds,
    ...definedOnly(options),
    etcd: options.etcd,
    environment: options.environment,
    region: options.region,
    id: options.id,
    maxStaleSeconds,
  };
  if (out.publicUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(out.publicUrl);
    } catch {
      throw new GatewayOptionsError('publicUrl', `${JSON.stringify(out.publicUrl)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new GatewayOptionsError('publicUrl', `must be an http(s) URL, got ${JSON.stringify(out.publicUrl)}`);
    }
    // It is registered and put in headers and links: readers skip a registration that fails this.
    const shape = urlShapeRefusal(out.publicUrl);
    if (shape) throw new GatewayOptionsError('publicUrl', `${JSON.stringify(out.publicUrl)}: ${shape.detail}`);
    out.publicUrl = out.publicUrl.replace(/\/+$/, '');
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    throw new GatewayOptionsError('port', `must be an integer from 0 to 65535, got ${String(out.port)}`);
  }
  const positive = [
    'leaseTtlSeconds',
    'longPollMaxSeconds',
    'maxLongPolls',
    'maxBodyBytes',
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
  if (!Number.isInteger(out.leaseTtlSeconds)) {
    throw new GatewayOptionsError('leaseTtlSeconds', `must be a whole number of seconds, got ${out.leaseTtlSeconds}`);
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
