import type { AxiosAdapter, AxiosRequestConfig } from 'axios';
import type { TopologyDocument } from '../openapi/index.js';

/** What one HTTP exchange got to: whether a connection was ever established (bytes may have left). */
export interface ConnectionTrace {
  connected: boolean;
  connectTimedOut: boolean;
}

/** What a topology cache holds: the last good document and when a gateway last confirmed it. */
export interface CachedTopology {
  document: TopologyDocument;
  confirmedAt: Date;
}

/** Where the last good topology is kept across restarts: a file on Node, localStorage in a browser. */
export interface TopologyCache {
  /** Names the cache in errors and failures (`cache file /var/…`, `localStorage waymark:prod`). */
  readonly source: string;
  /** The cached topology; undefined when there is none; InvalidTopologyError when it is unusable. */
  read(): Promise<CachedTopology | undefined>;
  /** Replaces it; resolves when this write (and those before it) are done. */
  write(entry: CachedTopology): Promise<void>;
}

/** Where the cache lives, as the options say (only the one the runtime supports is accepted). */
export interface CacheLocation {
  cacheFile: string | undefined;
  cacheKey: string | undefined;
}

/**
 * What differs between runtimes, behind one interface so that routing, failover, pinning,
 * discovery and events are the same code everywhere: the HTTP adapter (node:http with pooled
 * keep-alive agents on Node, fetch elsewhere), connection tracing, streams and the cache.
 */
export interface Platform {
  /** The axios adapter every gateway exchange goes through. */
  readonly adapter: AxiosAdapter;
  /**
   * Axios settings of one exchange with a gateway. On Node, a transport that gives up on a
   * connection not established within `connectTimeoutMs` and records in `trace` whether one was;
   * where that cannot be known (fetch), `trace.connected` is set at once: a failed call is then
   * taken to have reached the gateway, so only idempotent calls are retried.
   */
  exchange(connectTimeoutMs: number, trace: ConnectionTrace): Partial<AxiosRequestConfig>;
  /** True for a body that can be read only once (a Node stream), which is never retried. */
  isStream(data: unknown): boolean;
  /** The cache at the configured location; undefined when none is configured. Throws InvalidOptionsError for one it cannot keep. */
  cache(location: CacheLocation): TopologyCache | undefined;
  /** Releases pooled connections. */
  close(): void;
}
