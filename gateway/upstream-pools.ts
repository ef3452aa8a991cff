import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/** How upstream sockets are shared: see the options of the same names in options.ts. */
export interface PoolLimits {
  upstreamMaxSockets: number;
  upstreamUploadShare: number;
}

interface ServicePool {
  http?: HttpAgent;
  https?: HttpsAgent;
  /** Streamed uploads in progress. */
  uploads: number;
}

/**
 * Keep-alive upstream connections, one pool per service (like a cluster's pool in Envoy): a
 * service whose upstream is slow, or whose clients are, holds only its own sockets, even when
 * services share a backend. Within a service, streamed uploads (whose pace the client sets) may
 * hold only `upstreamUploadShare` of the sockets, so ordinary calls always find one.
 */
export class UpstreamPools {
  private readonly pools = new Map<string, ServicePool>();
  private readonly uploadSlots: number;

  constructor(private readonly limits: PoolLimits) {
    this.uploadSlots = Math.max(1, Math.floor(limits.upstreamMaxSockets * limits.upstreamUploadShare));
  }

  /** The agent a service's requests to an upstream of this protocol go through. */
  agent(service: string, protocol: 'http:' | 'https:'): HttpAgent {
    const pool = this.pool(service);
    const options = {
      keepAlive: true,
      maxSockets: this.limits.upstreamMaxSockets,
      maxFreeSockets: this.limits.upstreamMaxSockets,
      scheduling: 'lifo' as const,
    };
    if (protocol === 'https:') return (pool.https ??= new HttpsAgent(options));
    return (pool.http ??= new HttpAgent(options));
  }

  /** Takes one of the service's upload slots: the release function, or undefined when all are taken. */
  claimUpload(service: string): (() => void) | undefined {
    const pool = this.pool(service);
    if (pool.uploads >= this.uploadSlots) return undefined;
    pool.uploads += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      pool.uploads -= 1;
    };
  }

  /** Closes every pooled connection. */
  close(): void {
    for (const pool of this.pools.values()) {
      pool.http?.destroy();
      pool.https?.destroy();
    }
    this.pools.clear();
  }

  private pool(service: string): ServicePool {
    let pool = this.pools.get(service);
    if (!pool) {
      pool = { uploads: 0 };
      this.pools.set(service, pool);
    }
    return pool;
  }
}
