import { EventEmitter } from 'node:events';
import type { IWatchResponse, Watcher } from 'etcd3';
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

/** Tuning of the re-read after a failure. Every default is in POLICY_WATCH_DEFAULTS. */
export interface PolicyWatchOptions {
  /** First delay before reading again after a failure, ms; doubles up to `maxRetryDelayMs`. Default 100. */
  retryDelayMs?: number;
  /** Default 2000. */
  maxRetryDelayMs?: number;
}

export const POLICY_WATCH_DEFAULTS = { retryDelayMs: 100, maxRetryDelayMs: 2000 } as const;

/**
 * Keeps a gateway's view of `<prefix>/_policy/` current: its environment's upstream policy (set
 * by admins) and the registries' addresses. One read, then one watch of that small range; a watch
 * failure (compaction included) leads to a new read and watch.
 */
export class PolicyWatch extends EventEmitter<PolicyWatchEvents> {
  private readonly options: Required<PolicyWatchOptions>;
  private readonly values = new Map<string, string>();
  private watcher: Watcher | undefined;
  private loaded = false;
  private closed = false;
  private syncing: Promise<void> | undefined;
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
    this.syncing ??= this.sync();
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
    const w = this.watcher;
    this.watcher = undefined;
    await w?.cancel().catch(() => undefined);
    await this.syncing;
  }

  private async sync(): Promise<void> {
    let delay = this.options.retryDelayMs;
    while (!this.closed) {
      try {
        const res = await this.conn.call((c) => c.getAll().prefix(this.layout.policies()).exec());
        if (this.closed) break;
        this.values.clear();
        for (const kv of res.kvs) this.values.set(kv.key.toString(), kv.value.toString());
        this.publish();
        this.watchFrom(Number(res.header.revision) + 1);
        this.loaded = true;
        for (const done of this.waiters) done();
        this.waiters.clear();
        break;
      } catch {
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
    this.syncing = undefined;
  }

  private watchFrom(revision: number): void {
    // `watcher()` returns at once (a stream has no deadline); etcd3 resumes it after reconnects.
    const watcher = this.conn.client.watch().prefix(this.layout.policies()).startRevision(String(revision)).watcher();
    this.watcher = watcher;
    watcher.on('data', (res: IWatchResponse) => {
      if (this.watcher !== watcher) return;
      for (const ev of res.events) {
        const key = ev.kv.key.toString();
        if (ev.type === 'Put') this.values.set(key, ev.kv.value.toString());
        else this.values.delete(key);
      }
      this.publish();
    });
    watcher.on('error', () => {
      if (this.watcher !== watcher || this.closed) return;
      this.watcher = undefined;
      void watcher.cancel().catch(() => undefined);
      this.syncing ??= this.sync();
    });
  }

  private publish(): void {
    const own = this.values.get(this.layout.upstreamPolicy(this.environment));
    if (own === undefined) {
      this.emit('policy', undefined);
    } else {
      const read = readStoredPolicy(own);
      if (read.problem) this.emit('invalid', read.problem);
      this.emit('policy', read.allowlist);
    }
    const registries: RegistryAddress[] = [];
    for (const [key, value] of this.values) {
      if (!key.startsWith(`${this.layout.policies()}registries/`)) continue;
      const r = readRegistryAddress(value);
      if (r) registries.push(r);
    }
    this.emit('registries', registries);
  }
}
