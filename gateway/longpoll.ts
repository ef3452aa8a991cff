/** Why a held request is answered. */
export type WakeReason = 'changed' | 'timeout' | 'closing';

interface Waiter {
  readonly wait: number;
  readonly timer: NodeJS.Timeout;
  readonly wake: (reason: WakeReason) => void;
}

/**
 * Requests held until the topology moves past the revision they have (`?wait=<revision>`), at
 * most `max` at once so held sockets cannot exhaust the gateway.
 */
export class LongPolls {
  private readonly waiters = new Set<Waiter>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.waiters.size;
  }

  /**
   * Holds a request until a revision greater than `wait` is published, `timeoutMs` passes, or the
   * gateway closes; `wake` is called exactly once, unless the returned cancel function is called
   * first (the client went away). Returns undefined when the limit is reached.
   */
  hold(wait: number, timeoutMs: number, wake: (reason: WakeReason) => void): (() => void) | undefined {
    if (this.waiters.size >= this.max) return undefined;
    const waiter: Waiter = {
      wait,
      timer: setTimeout(() => this.finish(waiter, 'timeout'), timeoutMs),
      wake,
    };
    this.waiters.add(waiter);
    return () => {
      clearTimeout(waiter.timer);
      this.waiters.delete(waiter);
    };
  }

  /** Answers every request waiting for less than `revision`. */
  publish(revision: number): void {
    for (const w of this.waiters) if (w.wait < revision) this.finish(w, 'changed');
  }

  /** Answers every held request (the gateway is closing). */
  closeAll(): void {
    for (const w of this.waiters) this.finish(w, 'closing');
  }

  private finish(waiter: Waiter, reason: WakeReason): void {
    if (!this.waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    waiter.wake(reason);
  }
}
