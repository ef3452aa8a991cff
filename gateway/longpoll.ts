/** Why a held request is answered. */
export type WakeReason = 'changed' | 'timeout' | 'closing';

/** Why a long-poll was not held: every slot is taken (`full`), or its client holds its share (`client`). */
export type LongPollRefusal = 'full' | 'client';

interface Waiter {
  readonly wait: number;
  readonly client: string;
  readonly timer: NodeJS.Timeout;
  readonly wake: (reason: WakeReason) => void;
}

/**
 * Requests held until the topology moves past the revision they have (`?wait=<revision>`), at
 * most `max` at once so held sockets cannot exhaust the gateway, and at most `maxPerClient` per
 * client address so one client cannot take every slot.
 */
export class LongPolls {
  private readonly waiters = new Set<Waiter>();
  /** Long-polls held per client address; an address is removed when it holds none. */
  private readonly perClient = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly maxPerClient: number,
  ) {}

  get size(): number {
    return this.waiters.size;
  }

  /**
   * Holds a request of `client` until a revision greater than `wait` is published, `timeoutMs`
   * passes, or the gateway closes; `wake` is called exactly once, unless the returned cancel
   * function is called first (the client went away). Returns why not when a limit is reached.
   */
  hold(wait: number, timeoutMs: number, client: string, wake: (reason: WakeReason) => void): (() => void) | LongPollRefusal {
    if (this.waiters.size >= this.max) return 'full';
    const held = this.perClient.get(client) ?? 0;
    if (held >= this.maxPerClient) return 'client';
    const waiter: Waiter = {
      wait,
      client,
      timer: setTimeout(() => this.finish(waiter, 'timeout'), timeoutMs),
      wake,
    };
    this.waiters.add(waiter);
    this.perClient.set(client, held + 1);
    return () => {
      clearTimeout(waiter.timer);
      this.remove(waiter);
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
    if (!this.remove(waiter)) return;
    clearTimeout(waiter.timer);
    waiter.wake(reason);
  }

  private remove(waiter: Waiter): boolean {
    if (!this.waiters.delete(waiter)) return false;
    const left = (this.perClient.get(waiter.client) ?? 1) - 1;
    if (left > 0) this.perClient.set(waiter.client, left);
    else this.perClient.delete(waiter.client);
    return true;
  }
}
