import { cancelWatcher } from './watch-cancel.js';
import { EtcdTimeoutError } from './errors.js';
import { EventEmitter } from 'node:events';
import type { IWatchResponse, Watcher } from 'etcd3';
import type { EtcdConnection } from './etcd.js';
import type { KeyLayout } from './keys.js';
import { readEnvironment, topologyRange } from './reader.js';
import { TopologyRecords, type InvalidRecord } from './records.js';
import type { TopologySnapshot } from './snapshot.js';

export interface TopologyWatcherOptions {
  /** First delay before re-reading after a failure, in ms; doubles up to `maxRetryDelayMs`. Default 100. */
  retryDelayMs?: number;
  /** Ceiling of the retry delay, in ms. Default 2000. */
  maxRetryDelayMs?: number;
  /**
   * Interval of the liveness probe, in ms: a linearizable read that fails when etcd is down or
   * has no quorum, which a quiet watch stream would not reveal. Default 500.
   */
  probeIntervalMs?: number;
  /**
   * How long a probe may take before etcd counts as lost, in ms (at most the connection's call
   * timeout). A frozen or partitioned etcd never fails a call, it only stops answering: the
   * snapshot is marked stale within `probeIntervalMs + probeTimeoutMs` (2 s by default), while an
   * etcd slowed by load has 1.5 s to answer. Default 1500.
   */
  probeTimeoutMs?: number;
  /**
   * How long the watch may stay unestablished (no `connected` from etcd since it was created or
   * last disconnected) while etcd answers the probe, in ms, before the environment is re-read and
   * watched anew. etcd3 can leave a watch pending forever on a stream it believes is open; the
   * gateway would then serve an old topology as fresh. Default 3000.
   */
  watchEstablishTimeoutMs?: number;
  /** A snapshot to serve until etcd answers (a gateway's cold start from its snapshot file). */
  initial?: TopologySnapshot;
}

export const TOPOLOGY_WATCHER_DEFAULTS = {
  retryDelayMs: 100,
  maxRetryDelayMs: 2000,
  probeIntervalMs: 500,
  probeTimeoutMs: 1500,
  watchEstablishTimeoutMs: 3000,
} as const;

export interface TopologyWatcherEvents {
  /** The content changed; `snapshot.revision` is greater than `previous.revision` (no `previous` for the first, or for etcd's first read replacing an initial snapshot). */
  snapshot: [snapshot: TopologySnapshot, previous: TopologySnapshot | undefined];
  /** etcd stopped answering; the last snapshot stays in use. */
  stale: [since: Date, error: Error];
  /** etcd answers again and the snapshot is current. */
  fresh: [revision: number];
  /** A full re-read is starting (start, compaction, reconnection, a committed multi-part apply). */
  resync: [reason: string];
  /**
   * A key holds a value Waymark cannot use: it is skipped (its last valid version stays). Emitted
   * once per key and reason, not on every re-read, so it can be logged as is.
   */
  invalid: [record: InvalidRecord];
  /** The set of keys skipped as invalid changed (one was added, replaced, fixed or deleted). */
  quarantine: [records: readonly InvalidRecord[]];
  /**
   * A listener of `snapshot` (or the watcher itself) threw. The watcher keeps its last good
   * snapshot and goes on: one bad record or one bug must not stop a gateway or the registry.
   */
  failure: [error: Error, where: string];
}

/**
 * Keeps an in-memory snapshot of one environment current from an etcd watch.
 *
 * The snapshot's revision is the etcd revision up to which it is complete: a full read's header
 * revision, then the revision of each watch event that changed content. It never goes back:
 * every watcher error (compaction included, which etcd3 reports as a bare cancellation) leads
 * to a full re-read that replaces the snapshot only with newer content, then a new watch.
 * While a multi-transaction apply is in progress (a `pending` marker), events for the records it
 * writes are held back; when the marker is cleared the environment is re-read whole.
 */
export class TopologyWatcher extends EventEmitter<TopologyWatcherEvents> {
  private readonly options: Required<Omit<TopologyWatcherOptions, 'initial'>>;
  private snapshot: TopologySnapshot | undefined;
  /** True while the snapshot is the initial one (a file): etcd's first read replaces it whatever its revision. */
  private initialOnly = false;
  private records: TopologyRecords | undefined;
  private watcher: Watcher | undefined;
  private pending = false;
  private syncing: Promise<void> | undefined;
  private resyncAgain = false;
  private closed = false;
  private staleSinceAt: Date | undefined;
  private fromEtcd = false;
  private probeTimer: NodeJS.Timeout | undefined;
  /** When the probe still waiting for etcd started (undefined when none waits). */
  private probeStartedAt: number | undefined;
  /** Since when the current watch has waited for etcd's `connected` (undefined once established). */
  private watchPendingSince: number | undefined;
  private readonly sleepers = new Set<() => void>();
  /** Keys skipped as invalid, as last announced. */
  private quarantined = new Map<string, InvalidRecord>();
  private readonly readyWaiters = new Set<() => void>();

  constructor(
    private readonly conn: EtcdConnection,
    private readonly layout: KeyLayout,
    readonly environment: string,
    options: TopologyWatcherOptions = {},
  ) {
    super();
    this.options = {
      retryDelayMs: options.retryDelayMs ?? TOPOLOGY_WATCHER_DEFAULTS.retryDelayMs,
      maxRetryDelayMs: options.maxRetryDelayMs ?? TOPOLOGY_WATCHER_DEFAULTS.maxRetryDelayMs,
      probeIntervalMs: options.probeIntervalMs ?? TOPOLOGY_WATCHER_DEFAULTS.probeIntervalMs,
      probeTimeoutMs: Math.min(options.probeTimeoutMs ?? TOPOLOGY_WATCHER_DEFAULTS.probeTimeoutMs, conn.callTimeoutMs),
      watchEstablishTimeoutMs: options.watchEstablishTimeoutMs ?? TOPOLOGY_WATCHER_DEFAULTS.watchEstablishTimeoutMs,
    };
    layout.environment(environment);
    if (options.initial) {
      this.snapshot = options.initial;
      this.staleSinceAt = new Date();
      this.initialOnly = true;
    }
  }

  /** The current snapshot: from etcd, or the initial one until etcd answers. */
  current(): TopologySnapshot | undefined {
    return this.snapshot;
  }

  /** Keys skipped as invalid now (their last valid version, if any, is in the snapshot). */
  invalidRecords(): InvalidRecord[] {
    return [...this.quarantined.values()];
  }

  /** True while etcd does not answer (or has not answered yet since an initial snapshot). */
  get stale(): boolean {
    return this.staleSinceAt !== undefined;
  }

  get staleSince(): Date | undefined {
    return this.staleSinceAt;
  }

  /** Starts reading and watching; returns at once. Use `ready()` to wait for etcd's first answer. */
  start(): this {
    if (this.closed) throw new Error('TopologyWatcher is closed');
    if (!this.syncing) this.resync('start');
    this.probeTimer ??= setInterval(() => void this.probe(), this.options.probeIntervalMs).unref();
    return this;
  }

  /** Resolves once a snapshot has been read from etcd. */
  ready(signal?: AbortSignal): Promise<TopologySnapshot> {
    if (this.fromEtcd && this.snapshot) return Promise.resolve(this.snapshot);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.readyWaiters.delete(done);
        reject(signal?.reason ?? new Error('aborted'));
      };
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        if (this.snapshot) resolve(this.snapshot);
        else reject(new Error('TopologyWatcher closed before etcd answered'));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.readyWaiters.add(done);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.probeTimer);
    for (const wake of this.sleepers) wake();
    for (const done of this.readyWaiters) done();
    this.readyWaiters.clear();
    await this.cancelWatch();
    await this.syncing?.catch(() => undefined);
  }

  /** Starts a full re-read now (or right after the one in progress). */
  resync(reason: string): void {
    if (this.closed) return;
    if (this.syncing) {
      this.resyncAgain = true;
      return;
    }
    this.safeEmit(() => this.emit('resync', reason), 'resync listener');
    this.syncing = this.syncLoop().finally(() => {
      this.syncing = undefined;
      if (this.resyncAgain && !this.closed) {
        this.resyncAgain = false;
        this.resync('changed during re-read');
      }
    });
  }

  private async syncLoop(): Promise<void> {
    let delay = this.options.retryDelayMs;
    while (!this.closed) {
      await this.cancelWatch();
      try {
        const read = await readEnvironment(this.conn, this.layout, this.environment, this.snapshot ? { previous: this.snapshot } : {});
        if (this.closed) return;
        this.pending = read.pending !== undefined;
        this.adopt(read.snapshot, read.invalid);
        this.watchFrom(read.revision + 1);
        this.fromEtcd = true;
        this.markFresh();
        for (const done of this.readyWaiters) done();
        this.readyWaiters.clear();
        return;
      } catch (err) {
        if (this.closed) return;
        this.markStale(err as Error);
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.options.maxRetryDelayMs);
      }
    }
  }

  /**
   * Takes a freshly read snapshot if its content differs; the revision never goes back, except
   * from the initial snapshot (a file, whose revision nobody vouches for) to etcd's first read:
   * etcd's revision then replaces it, so a file cannot carry an absurd revision into the live
   * document.
   */
  private adopt(read: TopologySnapshot, invalid: readonly InvalidRecord[]): void {
    const fromFile = this.initialOnly;
    this.initialOnly = false;
    const previous = fromFile ? undefined : this.snapshot;
    if (previous && previous.sameContent(read)) {
      this.records = TopologyRecords.from(previous, this.layout, undefined, invalid);
      this.announceInvalid();
      return;
    }
    const next = previous && read.revision <= previous.revision ? read.atRevision(previous.revision + 1) : read;
    this.snapshot = next;
    this.records = TopologyRecords.from(next, this.layout, undefined, invalid);
    this.announceInvalid();
    this.emitSnapshot(next, previous);
  }

  /** Emits `snapshot`; a listener that throws is reported as a `failure`, never thrown into etcd's stream. */
  private emitSnapshot(next: TopologySnapshot, previous: TopologySnapshot | undefined): void {
    this.safeEmit(() => this.emit('snapshot', next, previous), 'snapshot listener');
  }

  private fail(err: unknown, where: string): void {
    const error = err instanceof Error ? err : new Error(String(err));
    try {
      this.emit('failure', error, where);
    } catch {
      // A failing failure listener has nothing left to tell.
    }
  }

  /** Emits `invalid` for keys newly skipped (or skipped for a new reason), and `quarantine` when the set changed. */
  private announceInvalid(): void {
    if (!this.records) return;
    const now = new Map(this.records.invalidRecords().map((r) => [r.key, r]));
    let changed = now.size !== this.quarantined.size;
    for (const [key, r] of now) {
      if (this.quarantined.get(key)?.reason === r.reason) continue;
      changed = true;
      this.safeEmit(() => this.emit('invalid', r), 'invalid listener');
    }
    this.quarantined = now;
    if (changed) this.safeEmit(() => this.emit('quarantine', [...now.values()]), 'quarantine listener');
  }

  private safeEmit(emit: () => void, where: string): void {
    try {
      emit();
    } catch (err) {
      this.fail(err, where);
    }
  }

  private watchFrom(revision: number): void {
    // `watcher()` returns at once; `create()` would wait for the stream, and a stream has no
    // deadline, so a re-read could hang for as long as etcd is away.
    const watcher = this.conn.client
      .watch()
      .inRange(topologyRange(this.layout, this.environment))
      .startRevision(String(revision))
      .watcher();
    this.watcher = watcher;
    this.watchPendingSince = Date.now();
    watcher.on('data', (res) => this.onData(watcher, res));
    watcher.on('disconnected', (err) => {
      if (this.watcher !== watcher) return;
      this.watchPendingSince ??= Date.now();
      this.markStale(err);
    });
    watcher.on('connected', () => {
      if (this.watcher !== watcher) return;
      this.watchPendingSince = undefined;
      // The stream resumed from its last revision; re-read once to be sure nothing was skipped.
      if (this.stale) this.resync('watch reconnected');
    });
    watcher.on('error', (err) => {
      if (this.watcher !== watcher) return;
      this.markStale(err);
      this.resync(`watch failed (${err.message || 'canceled, probably compacted'})`);
    });
  }

  private onData(watcher: Watcher, res: IWatchResponse): void {
    // Called from etcd3's stream: an exception here would be uncaught and end the process.
    try {
      this.applyEvents(watcher, res);
    } catch (err) {
      this.fail(err, 'watch event');
      this.resync('watch event failed');
    }
  }

  private applyEvents(watcher: Watcher, res: IWatchResponse): void {
    if (this.watcher !== watcher || !this.records || !this.snapshot || this.syncing) return;
    let touched = false;
    let committed = false;
    let revision = this.snapshot.revision;
    for (const ev of res.events) {
      const key = ev.kv.key.toString();
      const kind = this.layout.parse(this.environment, key)?.kind;
      if (kind === 'pending') {
        if (ev.type === 'Put') this.pending = true;
        else committed = true;
        continue;
      }
      if (this.pending && kind !== 'gateway') continue;
      if (this.records.apply(key, ev.type === 'Put' ? ev.kv.value.toString() : null)) {
        touched = true;
        revision = Math.max(revision, Number(ev.kv.mod_revision));
      }
    }
    this.announceInvalid();
    if (committed) {
      this.pending = false;
      this.resync('multi-transaction apply committed');
      return;
    }
    if (!touched) return;
    const next = this.records.freeze(revision);
    if (next.sameContent(this.snapshot)) return;
    const previous = this.snapshot;
    this.snapshot = next;
    this.emitSnapshot(next, previous);
  }

  private async probe(): Promise<void> {
    if (this.closed || this.syncing) return;
    // One probe at a time: the call goes on until the connection's timeout, the verdict comes sooner.
    if (this.probeStartedAt !== undefined) return;
    this.probeStartedAt = Date.now();
    const timeoutMs = this.options.probeTimeoutMs;
    const timer = setTimeout(() => {
      if (!this.closed) this.markStale(new EtcdTimeoutError(this.conn.endpoints, timeoutMs));
    }, timeoutMs).unref();
    try {
      await this.conn.call((c) => c.get(this.layout.pending(this.environment)).exec());
      clearTimeout(timer);
      if (this.closed) return;
      if (this.stale) this.resync('etcd answers again');
      else if (this.watchPendingSince !== undefined && Date.now() - this.watchPendingSince > this.options.watchEstablishTimeoutMs) {
        this.resync(`watch not established after ${this.options.watchEstablishTimeoutMs} ms while etcd answers`);
      }
    } catch (err) {
      clearTimeout(timer);
      if (!this.closed) this.markStale(err as Error);
    } finally {
      this.probeStartedAt = undefined;
    }
  }

  private markStale(err: Error): void {
    if (this.staleSinceAt) return;
    const since = new Date();
    this.staleSinceAt = since;
    this.safeEmit(() => this.emit('stale', since, err), 'stale listener');
  }

  private markFresh(): void {
    if (!this.staleSinceAt) return;
    this.staleSinceAt = undefined;
    this.safeEmit(() => this.emit('fresh', this.snapshot?.revision ?? 0), 'fresh listener');
  }

  private async cancelWatch(): Promise<void> {
    const w = this.watcher;
    this.watcher = undefined;
    this.watchPendingSince = undefined;
    // Events of a watcher that is no longer `this.watcher` are ignored.
    if (w) await cancelWatcher(w);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }
}
