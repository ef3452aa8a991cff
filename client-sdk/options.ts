import { isValidName } from '../topology/index.js';
import { InvalidOptionsError } from './errors.js';
import type { TrustedKey } from './signature.js';

/** Options of a WaymarkClient. Every default is in WAYMARK_CLIENT_DEFAULTS below. */
export interface WaymarkClientOptions {
  /** Base URLs of gateways to fetch the first topology from (any region); tried in order. Required. */
  bootstrap: readonly string[];
  /** Region this client runs in: its gateways come first. Default: the region with the lowest measured RTT. */
  region?: string;
  /** Expected environment: a document of another environment is rejected. Default: the first accepted document's. */
  environment?: string;
  /** Node: file that keeps the last good topology across restarts (written atomically). Default: none. */
  cacheFile?: string;
  /** Browsers: localStorage key that keeps the last good topology across page loads. Default: none. */
  cacheKey?: string;
  /** Time to establish a TCP/TLS connection to a gateway, ms. Default 1000. */
  connectTimeoutMs?: number;
  /** Time one attempt (one gateway) may take before it is abandoned as a black hole, ms. Default 10 000. */
  attemptTimeoutMs?: number;
  /** Time a whole call may take, every attempt included, ms; a request's own `timeout` overrides it. Default 30 000. */
  requestTimeoutMs?: number;
  /** Most gateways tried for one call (421 alternates included). Default 4. */
  maxAttempts?: number;
  /**
   * Total time one topology fetch may take (connecting, the headers and the whole body), ms; a
   * long-poll gets its hold on top. However slowly a gateway sends, the fetch is abandoned then,
   * so ready() settles within this per bootstrap gateway. Default 3000.
   */
  discoveryTimeoutMs?: number;
  /** Longest long-poll hold asked of a gateway, s (the gateway may bound it lower). Default 30. */
  longPollSeconds?: number;
  /** Poll interval and jitter until a document gives its own `refresh`, s. Defaults 30 and 5. */
  refreshIntervalSeconds?: number;
  refreshJitterSeconds?: number;
  /**
   * Shortest poll interval, s, whatever a document's `refresh` says (a document saying 0 must not
   * make clients poll in a loop). Default 5.
   */
  minRefreshIntervalSeconds?: number;
  /**
   * Discovery backoff (gRPC connection-backoff style, see backoff.ts): after the n-th consecutive
   * failure or refusal of one kind of discovery request (long-poll, or plain fetch), the next
   * waits a delay drawn under `min(discoveryMaxRetryDelayMs, discoveryRetryDelayMs ×
   * discoveryBackoffMultiplier^(n−1))`, and at least what the gateway's `Retry-After` asks. Only
   * a success of the same kind resets it. First ceiling, ms. Default 250.
   */
  discoveryRetryDelayMs?: number;
  /** Largest backoff ceiling, ms. Default 5000. */
  discoveryMaxRetryDelayMs?: number;
  /** Growth of the backoff ceiling per consecutive failure (≥ 1). Default 1.6 (gRPC's). */
  discoveryBackoffMultiplier?: number;
  /** Random share of each backoff delay, 0 to 1; 1 is full jitter (uniform from 0 to the ceiling). Default 1. */
  discoveryBackoffJitter?: number;
  /** Longest `Retry-After` (seconds or HTTP-date) honoured from a gateway, ms; longer is cut to this. Default 120 000. */
  maxRetryAfterMs?: number;
  /** Largest topology document accepted, bytes. Default 32 MiB. */
  maxDocumentBytes?: number;
  /** How often, at most, a refresh is triggered by failed calls, ms. Default 1000. */
  refreshOnFailureIntervalMs?: number;
  /** First ejection of a failing gateway, ms; doubles for each consecutive ejection. Default 5000. */
  ejectionBaseMs?: number;
  /** Ceiling of an ejection, ms. Default 60 000. */
  ejectionMaxMs?: number;
  /** Retries allowed as a share of calls over the window (0.2: retries ≤ 20 % of calls). Default 0.2. */
  retryBudgetRatio?: number;
  /** Retries always allowed per second, whatever the call rate. Default 10. */
  retryBudgetMinPerSecond?: number;
  /** Window the retry budget is counted over, ms. Default 10 000. */
  retryBudgetWindowMs?: number;
  /** Measure each region's RTT (GET /healthz on one of its gateways) to order regions. Default true. */
  probeLatency?: boolean;
  /** Least time between two rounds of RTT probes, ms. Default 60 000. */
  latencyProbeIntervalMs?: number;
  /** RTT probes in flight at once at most (one per region), so a document of many regions opens few connections at a time. Default 8. */
  maxConcurrentProbes?: number;
  /** Least time between two rewrites of the cache file that only confirm its document, ms. Default 60 000. */
  cacheRefreshMs?: number;
  /**
   * Public keys of the environment (`waymark keys list`; list the old and the new key while a
   * rotation rolls out). When set, every document must carry a statement signed by one of them
   * and match it, a statement older than the one held is a rollback, and calls only go to gateway
   * URLs the statement allows. Default: none (documents are checked for structure only).
   */
  trustedKeys?: readonly TrustedKey[];
}

export const WAYMARK_CLIENT_DEFAULTS = {
  connectTimeoutMs: 1000,
  attemptTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxAttempts: 4,
  discoveryTimeoutMs: 3000,
  longPollSeconds: 30,
  refreshIntervalSeconds: 30,
  refreshJitterSeconds: 5,
  minRefreshIntervalSeconds: 5,
  discoveryRetryDelayMs: 250,
  discoveryMaxRetryDelayMs: 5000,
  discoveryBackoffMultiplier: 1.6,
  discoveryBackoffJitter: 1,
  maxRetryAfterMs: 120_000,
  maxDocumentBytes: 32 * 1024 * 1024,
  refreshOnFailureIntervalMs: 1000,
  ejectionBaseMs: 5000,
  ejectionMaxMs: 60_000,
  retryBudgetRatio: 0.2,
  retryBudgetMinPerSecond: 10,
  retryBudgetWindowMs: 10_000,
  probeLatency: true,
  latencyProbeIntervalMs: 60_000,
  maxConcurrentProbes: 8,
  cacheRefreshMs: 60_000,
} as const;

type Defaulted = { -readonly [K in keyof typeof WAYMARK_CLIENT_DEFAULTS]: (typeof WAYMARK_CLIENT_DEFAULTS)[K] extends boolean ? boolean : number };

/** Options with every default applied and checked. */
export type ResolvedOptions = Defaulted & {
  bootstrap: string[];
  region: string | undefined;
  environment: string | undefined;
  cacheFile: string | undefined;
  trustedKeys: readonly TrustedKey[] | undefined;
  cacheKey: string | undefined;
};

/** Applies the defaults and rejects values the client cannot work with, naming the option. */
export function resolveOptions(options: WaymarkClientOptions): ResolvedOptions {
  if (!options || !Array.isArray(options.bootstrap) || options.bootstrap.length === 0) {
    throw new InvalidOptionsError('bootstrap must list at least one gateway base URL');
  }
  const bootstrap = options.bootstrap.map((u, i) => normalizeBaseUrl(u, `bootstrap[${i}]`));
  const out = { ...WAYMARK_CLIENT_DEFAULTS } as Defaulted;
  for (const key of Object.keys(WAYMARK_CLIENT_DEFAULTS) as (keyof Defaulted)[]) {
    const value = options[key];
    if (value === undefined) continue;
    if (typeof WAYMARK_CLIENT_DEFAULTS[key] === 'boolean') {
      if (typeof value !== 'boolean') throw new InvalidOptionsError(`${key} must be a boolean`);
    } else if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new InvalidOptionsError(`${key} must be a finite number ≥ 0, got ${String(value)}`);
    }
    (out as Record<string, number | boolean>)[key] = value;
  }
  if (out.maxAttempts < 1) throw new InvalidOptionsError('maxAttempts must be at least 1');
  if (!Number.isInteger(out.maxConcurrentProbes) || out.maxConcurrentProbes < 1) {
    throw new InvalidOptionsError(`maxConcurrentProbes must be a whole number ≥ 1, got ${out.maxConcurrentProbes}`);
  }
  if (out.retryBudgetRatio > 1) throw new InvalidOptionsError('retryBudgetRatio must be between 0 and 1');
  if (out.discoveryBackoffJitter > 1) throw new InvalidOptionsError('discoveryBackoffJitter must be between 0 and 1');
  if (out.discoveryBackoffMultiplier < 1) throw new InvalidOptionsError('discoveryBackoffMultiplier must be at least 1');
  for (const key of ['region', 'environment'] as const) {
    const v = options[key];
    if (v !== undefined && !isValidName(v)) {
      throw new InvalidOptionsError(`${key} must be a DNS label (lowercase letters, digits, '-'), got ${JSON.stringify(v)}`);
    }
  }
  if (options.cacheFile !== undefined && (typeof options.cacheFile !== 'string' || options.cacheFile === '')) {
    throw new InvalidOptionsError('cacheFile must be a non-empty path');
  }
  if (options.cacheKey !== undefined && (typeof options.cacheKey !== 'string' || options.cacheKey === '')) {
    throw new InvalidOptionsError('cacheKey must be a non-empty localStorage key');
  }
  return {
    ...out,
    bootstrap,
    region: options.region,
    environment: options.environment,
    cacheFile: options.cacheFile,
    cacheKey: options.cacheKey,
    trustedKeys: options.trustedKeys === undefined ? undefined : [...options.trustedKeys],
  };
}

/** An http(s) base URL without query, fragment, credentials or trailing slash; throws naming `where`. */
export function normalizeBaseUrl(value: unknown, where: string): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new InvalidOptionsError(`${where} is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidOptionsError(`${where} must be an http(s) URL, got ${url.protocol}`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new InvalidOptionsError(`${where} must be a plain base URL (no credentials, query or fragment)`);
  }
  return url.href.replace(/\/+$/, '');
}
