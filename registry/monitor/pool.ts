import type { EtcdConnection } from '../../store/etcd.js';
import type { KeyLayout } from '../../store/keys.js';
import { TooManyMonitorsError } from '../errors.js';
import { EnvironmentMonitor, type EnvironmentMonitorOptions } from './monitor.js';

/** A monitor lent to one client; `release()` when done with it. */
export interface MonitorLease {
  readonly monitor: EnvironmentMonitor;
  release(): void;
}

/**
 * One EnvironmentMonitor per environment, shared by every dashboard and `waymark watch` looking
 * at it. A monitor starts with its first client and stops `idleCloseMs` after its last one left
 * (a page reload does not restart it, so its `down` gateways and change backlog survive). At most
 * `maxMonitors` run: a new one closes the longest-idle one first, or is refused when none is idle.
 */
export class MonitorPool {
  private readonly entries = new Map<string, { monitor: EnvironmentMonitor; started: Promise<void>; clients: number; idle?: NodeJS.Timeout; idleSince?: number }>();
  private closed = false;

  constructor(
    private readonly conn: EtcdConnection,
    private readonly layout: KeyLayout,
    private readonly options: EnvironmentMonitorOptions & { idleCloseMs: number; maxMonitors: number },
    private readonly onCreate: (monitor: EnvironmentMonitor) => void = () => undefined,
    private readonly onClose: (monitor: EnvironmentMonitor) => void = () => undefined,
  ) {}

  /** Monitors running now (for metrics). */
  get monitors(): EnvironmentMonitor[] {
    return [...this.entries.values()].map((e) => e.monitor);
  }

  /** The environment's monitor, started (resolves once it has read etcd). */
  async acquire(environment: string, signal?: AbortSignal): Promise<MonitorLease> {
    if (this.closed) throw new Error('the registry is closing');
    let entry = this.entries.get(environment);
    if (!entry) {
      if (this.entries.size >= this.options.maxMonitors) this.dropLongestIdle();
      const monitor = new EnvironmentMonitor(this.conn, this.layout, environment, this.options);
      this.onCreate(monitor);
      const created = { monitor, started: monitor.start(), clients: 0 };
      entry = created;
      this.entries.set(environment, created);
      created.started.catch(() => {
        if (this.entries.get(environment) === created && created.clients === 0) this.drop(environment);
      });
    }
    entry.clients++;
    clearTimeout(entry.idle);
    entry.idle = undefined;
    entry.idleSince = undefined;
    const current = entry;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      current.clients--;
      if (current.clients === 0 && this.entries.get(environment) === current) {
        current.idle = setTimeout(() => this.drop(environment), this.options.idleCloseMs);
        current.idleSince = Date.now();
      }
    };
    try {
      await waitOrAbort(current.started, signal);
    } catch (err) {
      release();
      throw err;
    }
    return { monitor: current.monitor, release };
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(
      all.map((e) => {
        clearTimeout(e.idle);
        this.onClose(e.monitor);
        return e.monitor.close();
      }),
    );
  }

  private drop(environment: string): void {
    const entry = this.entries.get(environment);
    if (!entry) return;
    this.entries.delete(environment);
    clearTimeout(entry.idle);
    this.onClose(entry.monitor);
    void entry.monitor.close();
  }

  /** Makes room for one more monitor: closes the one idle the longest; TooManyMonitorsError when none is idle. */
  private dropLongestIdle(): void {
    let oldest: [string, number] | undefined;
    for (const [environment, e] of this.entries) {
      if (e.idleSince !== undefined && (!oldest || e.idleSince < oldest[1])) oldest = [environment, e.idleSince];
    }
    if (!oldest) throw new TooManyMonitorsError(this.options.maxMonitors);
    this.drop(oldest[0]);
  }
}

function waitOrAbort(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
