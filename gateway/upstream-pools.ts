import type { Socket } from 'node:net';
import { buildConnector, Pool } from 'undici';
import type { UpstreamUse } from '../policy/index.js';
import type { Upstream } from './routes.js';
import type { ProxyGuard } from './upstream-guard.js';

/** How upstream connections are made and shared: see the options of the same names in options.ts. */
export interface PoolLimits {
  upstreamMaxSockets: number;
  upstreamUploadShare: number;
  upstreamConnectTimeoutMs: number;
  upstreamTimeoutMs: number;
}

/** One origin's keep-alive connections, for one use (service or dispatch), and the sockets they hold. */
interface OriginPool {
  pool: Pool;
  sockets: Set<Socket>;
  /** The guard's rule generation the pooled sockets were last checked against. */
  generation: number;
}

interface ServicePool {
  origins: Map<string, OriginPool>;
  /** Streamed uploads in progress. */
  uploads: number;
}

/**
 * Keep-alive upstream connections (undici pools), one set per service (like a cluster's pool in
 * Envoy): a service whose upstream is slow, or whose clients are, holds only its own sockets, even
 * when services share a backend. Within a service, streamed uploads (whose pace the client sets)
 * may hold only `upstreamUploadShare` of the sockets, so ordinary calls always find one. Every
 * connection is made through the guard: the resolved address is checked before connecting, the
 * peer's after; when the rules change, pooled sockets are checked again and a pool holding a
 * refused one is replaced, so nothing more is sent on it.
 */
export class UpstreamPools {
  private readonly services = new Map<string, ServicePool>();
  private readonly uploadSlots: number;

  constructor(
    private readonly limits: PoolLimits,
    private readonly guard?: ProxyGuard,
  ) {
    this.uploadSlots = Math.max(1, Math.floor(limits.upstreamMaxSockets * limits.upstreamUploadShare));
  }

  /** The pool a service's requests to this upstream go through. */
  pool(service: string, up: Upstream, use: UpstreamUse): Pool {
    const origins = this.service(service).origins;
    const key = `${use} ${up.protocol}//${up.hostname}:${up.port}`;
    let entry = origins.get(key);
    if (entry && this.guard && entry.generation !== this.guard.generation) {
      entry.generation = this.guard.generation;
      for (const socket of entry.sockets) {
        if (!this.guard.checkSocket(socket, up, use)) continue;
        void entry.pool.destroy();
        entry = undefined;
        break;
      }
    }
    if (!entry) {
      const opened = this.open(up, use, () => {
        // Upstreams come and go: an origin left without connections or requests is forgotten
        // (checked once undici has handled the close too).
        setImmediate(() => {
          if (origins.get(key) !== opened || opened.sockets.size > 0 || opened.pool.stats.size > 0) return;
          origins.delete(key);
          opened.pool.close().catch(() => undefined);
        });
      });
      origins.set(key, opened);
      entry = opened;
    }
    return entry.pool;
  }

  /** Takes one of the service's upload slots: the release function, or undefined when all are taken. */
  claimUpload(service: string): (() => void) | undefined {
    const pool = this.service(service);
    if (pool.uploads >= this.uploadSlots) return undefined;
    pool.uploads += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      pool.uploads -= 1;
    };
  }

  /** Closes every pooled connection, cutting exchanges in progress. */
  close(): void {
    for (const service of this.services.values()) {
      for (const entry of service.origins.values()) void entry.pool.destroy();
      service.origins.clear();
    }
    this.services.clear();
  }

  /** A pool for this origin; `onSocketClosed` is told whenever one of its connections closes. */
  private open(up: Upstream, use: UpstreamUse, onSocketClosed: () => void): OriginPool {
    const guard = this.guard;
    const base = buildConnector({ timeout: this.limits.upstreamConnectTimeoutMs, ...(guard ? { lookup: guard.lookup(up, use) } : {}) });
    const sockets = new Set<Socket>();
    const connect: buildConnector.connector = (options, callback) =>
      base(options, (err, socket) => {
        if (err || !socket) return callback(err ?? new Error('no socket'), null);
        // The peer's address is checked last: nothing is sent to a refused one.
        const refused = guard?.checkSocket(socket, up, use);
        if (refused) {
          socket.destroy();
          return callback(refused, null);
        }
        sockets.add(socket);
        socket.once('close', () => {
          sockets.delete(socket);
          onSocketClosed();
        });
        callback(null, socket);
      });
    const pool = new Pool(`${up.protocol}//${up.hostname}:${up.port}`, {
      connections: this.limits.upstreamMaxSockets,
      connect,
      headersTimeout: this.limits.upstreamTimeoutMs,
      bodyTimeout: this.limits.upstreamTimeoutMs,
    });
    return { pool, sockets, generation: guard?.generation ?? 0 };
  }

  private service(service: string): ServicePool {
    let pool = this.services.get(service);
    if (!pool) {
      pool = { origins: new Map(), uploads: 0 };
      this.services.set(service, pool);
    }
    return pool;
  }
}
