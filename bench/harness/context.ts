import { startEtcd, type EtcdCluster } from '../../test/support/etcd.js';
import type { BenchContext, BenchMode } from './benchmark.js';
import type { LoadRunner } from './load.js';

/**
 * The context of one benchmark run: its cleanups (run last-in first-out by `close()`, also after
 * a failure or Ctrl-C) and an etcd of its own, started on first use.
 */
export class BenchScope implements BenchContext {
  private readonly cleanups: (() => unknown)[] = [];
  private etcdCluster: Promise<EtcdCluster> | undefined;

  constructor(
    readonly name: string,
    readonly mode: BenchMode,
    readonly rounds: number,
    readonly load: LoadRunner,
    readonly signal: AbortSignal,
    private readonly write: (line: string) => void,
  ) {}

  defer(cleanup: () => unknown): void {
    this.cleanups.push(cleanup);
  }

  async etcd(): Promise<string[]> {
    if (!this.etcdCluster) {
      this.etcdCluster = startEtcd();
      this.defer(async () => (await this.etcdCluster)?.stop());
    }
    return (await this.etcdCluster).endpoints;
  }

  log(message: string): void {
    this.write(`  [${this.name}] ${message}`);
  }

  pick<T>(full: T, smoke: T): T {
    return this.mode === 'full' ? full : smoke;
  }

  /** Runs every cleanup, newest first; one that fails is reported and the others still run. */
  async close(): Promise<void> {
    while (this.cleanups.length > 0) {
      const cleanup = this.cleanups.pop()!;
      try {
        await cleanup();
      } catch (err) {
        this.log(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
