import { EventEmitter } from 'node:events';
import type { Lease } from 'etcd3';
import type { EtcdConnection } from './etcd.js';

export interface LeasedKeysOptions {
  /** Lease TTL in seconds: keys vanish this long after the holder stops keeping them alive. Default 10. */
  ttlSeconds?: number;
  /** First delay before granting again after a loss, in ms; doubles up to `maxRetryDelayMs`. Default 200. */
  retryDelayMs?: number;
  /** Default 2000. */
  maxRetryDelayMs?: number;
}

export const LEASED_KEYS_DEFAULTS = { ttlSeconds: 10, retryDelayMs: 200, maxRetryDelayMs: 2000 } as const;

export type LeaseState = 'granting' | 'alive' | 'lost' | 'closed';

export interface LeasedKeysEvents {
  /** A lease was granted and every key written under it. */
  granted: [leaseId: string];
  /** The lease was lost (etcd unreachable past the TTL, or revoked); a new one is being granted. */
  lost: [error: Error];
  /** A grant, or writing the keys under it, failed; it is tried again with backoff. */
  grantFailed: [error: Error];
  /** One keepalive failed; the lease may still be alive. */
  keepaliveFailed: [error: Error];
}

/**
 * A set of keys kept alive under one lease, such as a gateway's registration and report.
 *
 * A lease lost during an etcd outage does not come back (etcd3 marks it revoked), so this grants
 * a new lease and writes every key again once etcd answers, retrying with backoff for as long as
 * it is open. `close()` revokes the lease, which deletes the keys at once.
 */
export class LeasedKeys extends EventEmitter<LeasedKeysEvents> {
  private readonly options: Required<LeasedKeysOptions>;
  private readonly values = new Map<string, string>();
  private lease: Lease | undefined;
  private leaseId: string | undefined;
  private stateValue: LeaseState = 'granting';
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly conn: EtcdConnection,
    options: LeasedKeysOptions = {},
  ) {
    super();
    this.options = { ...LEASED_KEYS_DEFAULTS, ...options };
  }

  get state(): LeaseState {
    return this.stateValue;
  }

  /** The current lease ID, while one is alive. */
  get id(): string | undefined {
    return this.stateValue === 'alive' ? this.leaseId : undefined;
  }

  /** Starts granting in the background. Resolves after the first grant, or rejects if it failed once. */
  async start(): Promise<void> {
    if (this.loop) return;
    try {
      await this.grant();
    } catch (err) {
      this.emit('grantFailed', err as Error);
      this.loop = this.regrantLoop();
      throw err;
    }
  }

  /** Starts granting in the background and returns at once (e.g. while etcd is down). */
  startInBackground(): void {
    if (!this.loop && this.stateValue !== 'alive') this.loop = this.regrantLoop();
  }

  /** Writes (or rewrites) a key under the lease; remembered and written again after a re-grant. */
  async put(key: string, value: string): Promise<void> {
    this.values.set(key, value);
    const lease = this.lease;
    if (this.stateValue !== 'alive' || !lease) return;
    await this.conn.call(() => lease.put(key).value(value).exec());
  }

  /** Revokes the lease (deleting its keys) and stops. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.wake?.();
    const lease = this.lease;
    this.lease = undefined;
    if (lease) {
      lease.removeAllListeners();
      await this.conn.call(() => lease.revoke()).catch(() => lease.release());
    }
    // A re-grant in flight is not awaited (without quorum it takes up to two call timeouts): it
    // sees 'closed' when it returns and gives back what it got (see grant()).
  }

  private async grant(): Promise<void> {
    this.stateValue = 'granting';
    const lease = this.conn.client.lease(this.options.ttlSeconds);
    lease.on('lost', (err) => this.onLost(lease, err));
    lease.on('keepaliveFailed', (res) => this.emit('keepaliveFailed', new Error(`lease keepalive failed: ${JSON.stringify(res)}`)));
    try {
      const id = await this.conn.call(() => lease.grant());
      if ((this.stateValue as LeaseState) === 'closed') {
        // Closed during the grant: the new lease holds no key and expires by itself, so close()
        // does not wait for its revoke (without quorum that is one more call timeout).
        lease.removeAllListeners();
        lease.release();
        void this.conn.call(() => lease.revoke()).catch(() => undefined);
        return;
      }
      for (const [key, value] of this.values) await this.conn.call(() => lease.put(key).value(value).exec());
      // close() may have run while the keys were written: revoke, or they would outlive the holder.
      if ((this.stateValue as LeaseState) === 'closed') {
        lease.removeAllListeners();
        await this.conn.call(() => lease.revoke()).catch(() => lease.release());
        return;
      }
      this.lease = lease;
      this.leaseId = id;
      this.stateValue = 'alive';
      this.emit('granted', id);
    } catch (err) {
      lease.removeAllListeners();
      lease.release();
      // close() may have run during the grant: keep 'closed', or the re-grant loop never ends.
      if ((this.stateValue as LeaseState) !== 'closed') this.stateValue = 'lost';
      throw err;
    }
  }

  private onLost(lease: Lease, err: Error): void {
    if (this.lease !== lease || this.stateValue === 'closed') return;
    lease.removeAllListeners();
    this.lease = undefined;
    this.stateValue = 'lost';
    this.emit('lost', err);
    this.loop ??= this.regrantLoop();
  }

  private async regrantLoop(): Promise<void> {
    let delay = this.options.retryDelayMs;
    try {
      while ((this.stateValue as LeaseState) !== 'closed' && this.stateValue !== 'alive') {
        try {
          await this.grant();
          return;
        } catch (err) {
          if ((this.stateValue as LeaseState) !== 'closed') this.emit('grantFailed', err as Error);
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, delay);
            this.wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          delay = Math.min(delay * 2, this.options.maxRetryDelayMs);
        }
      }
    } finally {
      this.loop = undefined;
    }
  }
}
