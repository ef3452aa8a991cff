import { EventEmitter } from 'node:events';
import { readRegistryAddress, readStoredPolicy, type RegistryAddress, type UpstreamAllowlist } from '../policy/index.js';
import type { EtcdConnection, KeyLayout } from '../store/index.js';

export interface PolicyWatchEvents {
  /** The environment's allowlist changed (undefined: no policy, the default). */
  policy: [allowlist: UpstreamAllowlist | undefined];
  /** The registries' announced admin addresses changed. */
  registries: [records: RegistryAddress[]];
  /** A stored value could not be used (it fails closed, see readStoredPolicy). */
  invalid: [problem: string];
}

/** Tuning of the reads. Every default is in POLICY_WATCH_DEFAULTS. */
export interface PolicyWatchOptions {
  /** Time between two reads of the policy and the registries' addresses, ms: how long a policy change takes to reach the gateway. Default 2000. */
  refreshMs?: number;
  /** First delay before reading again after a failure, ms; doubles up to `maxRetryDelayMs`. Default 100. */
  retryDelayMs?: number;
  /** Default 2000. */
  maxRetryDelayMs?: number;
}

export const POLICY_WATCH_DEFAULTS = { refreshMs: 2000, retryDelayMs: 100, maxRetryDelayMs: 2000 } as const;

/**
 * Keeps a gateway's view of `<prefix>/_policy/` current: its environment's upstream policy (set
 * by admins) and the registries' addresses, by reading those two small ranges every `refreshMs`. It
 * reads rather than watches on purpose: a second watch shares the etcd client's one watch stream
 * with the topology watch, and after a black-holed connection healed, etcd3 then left the
 * topology watch without events (measured: 1 run in 3 of the compaction test). A read cannot go
 * silent, and a change of policy (rare, by an admin) reaching gateways within seconds is enough.
 */
export class PolicyWatch extends EventEmitter<PolicyWatchEvents> {
  private readonly options: Required<PolicyWatchOptions>;
  /** The last range read, to announce only changes. */
  private seen: string | undefined;
  private loaded = false;
  private closed = false;
  private running: Promise<void> | undefined;
  private readonly waiters = new Set<() => void>();
  private wake: (() => void) | undefined;

  constructor(
    private readonly conn: EtcdConnection,
    private readonly layout: KeyLayout,
    private readonly environment: string,
    options: PolicyWatchOptions = {},
  ) {
    super();
    this.options = { ...POLICY_WATCH_DEFAULTS, ...options };
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Resolves once the policy was read from etcd once. */
  ready(signal?: AbortSignal): Promise<void> {
    if (this.loaded) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(done);
        reject(signal?.reason ?? new Error('aborted'));
      };
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(done);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    for (const done of this.waiters) done();
    this.waiters.clear();
    await this.running;
  }

  private async loop(): Promise<void> {
    let delay = this.options.retryDelayMs;
    while (!this.closed) {
      try {
        // Two reads rather than `_policy/` whole: a gateway's etcd role may read its own
        // environment's policy and no other (see store/roles.ts).
        const [own, registries] = await Promise.all([
          this.conn.call((c) => c.get(this.layout.upstreamPolicy(this.environment)).exec()),
          this.conn.call((c) => c.getAll().prefix(this.layout.registryAddresses()).exec()),
        ]);
        if (this.closed) break;
        const values = new Map([...own.kvs, ...registries.kvs].map((kv) => [kv.key.toString(), kv.value.toString()]));
        const text = JSON.stringify([...values]);
        if (text !== this.seen) {
          this.seen = text;
          this.publish(values);
        }
        this.loaded = true;
        for (const done of this.waiters) done();
        this.waiters.clear();
        delay = this.options.retryDelayMs;
        await this.sleep(this.options.refreshMs);
      } catch {
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.options.maxRetryDelayMs);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private publish(values: ReadonlyMap<string, string>): void {
    const own = values.get(this.layout.upstreamPolicy(this.environment));
    if (own === undefined) {
      this.emit('policy', undefined);
    } else {
      const read = readStoredPolicy(own);
      if (read.problem) this.emit('invalid', read.problem);
      this.emit('policy', read.allowlist);
    }
    const registries: RegistryAddress[] = [];
    for (const [key, value] of values) {
      if (!key.startsWith(this.layout.registryAddresses())) continue;
      const r = readRegistryAddress(value);
      if (r) registries.push(r);
    }
    this.emit('registries', registries);
  }
}
