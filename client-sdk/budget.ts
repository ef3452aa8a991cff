/** Options of the retry budget; the client passes its own values (see WAYMARK_CLIENT_DEFAULTS). */
export interface RetryBudgetOptions {
  /** Retries allowed as a share of calls in the window. */
  ratio: number;
  /** Retries always allowed per second of the window, whatever the call rate. */
  minPerSecond: number;
  /** Window length, ms. */
  windowMs: number;
}

const BUCKETS = 10;

/**
 * A retry budget (as in Finagle and Envoy): over a sliding window, retries may not exceed
 * `ratio` of calls plus a small floor, so a dead region cannot multiply the load on the others.
 */
export class RetryBudget {
  private readonly calls = new Array<number>(BUCKETS).fill(0);
  private readonly retries = new Array<number>(BUCKETS).fill(0);
  private bucketStart = 0;
  private bucket = 0;
  private readonly bucketMs: number;

  constructor(
    private readonly options: RetryBudgetOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.bucketMs = Math.max(1, options.windowMs / BUCKETS);
  }

  /** Counts a call (its first attempt). */
  recordCall(): void {
    this.advance();
    this.calls[this.bucket]! += 1;
  }

  /** Takes one retry from the budget; false when none is left. */
  tryRetry(): boolean {
    this.advance();
    const calls = sum(this.calls);
    const retries = sum(this.retries);
    const allowed = Math.floor(calls * this.options.ratio + this.options.minPerSecond * (this.options.windowMs / 1000));
    if (retries >= allowed) return false;
    this.retries[this.bucket]! += 1;
    return true;
  }

  private advance(): void {
    const now = this.now();
    if (this.bucketStart === 0) this.bucketStart = now;
    let steps = Math.floor((now - this.bucketStart) / this.bucketMs);
    if (steps <= 0) return;
    this.bucketStart += steps * this.bucketMs;
    for (steps = Math.min(steps, BUCKETS); steps > 0; steps--) {
      this.bucket = (this.bucket + 1) % BUCKETS;
      this.calls[this.bucket] = 0;
      this.retries[this.bucket] = 0;
    }
  }
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
