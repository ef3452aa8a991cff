/** Options of outlier ejection; the client passes its own values (see WAYMARK_CLIENT_DEFAULTS). */
export interface EjectionOptions {
  /** First ejection, ms; each consecutive ejection doubles it. */
  baseMs: number;
  /** Ceiling of an ejection, ms. */
  maxMs: number;
}

interface Outlier {
  until: number;
  /** Ejections in a row without a success in between. */
  streak: number;
}

/**
 * Outlier ejection of gateways (keyed by URL): a gateway that failed is set aside for a backoff
 * period that grows while it keeps failing, and is forgiven by its first success. Candidates are
 * reordered rather than dropped, so that when every gateway is ejected a call still tries them.
 */
export class Ejector {
  private readonly outliers = new Map<string, Outlier>();

  constructor(
    private readonly options: EjectionOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Ejects a gateway; returns the time (ms since epoch) its ejection ends. */
  eject(key: string): number {
    const now = this.now();
    const prior = this.outliers.get(key);
    // A failure during an ejection (a call that was already in flight) does not extend it.
    if (prior && prior.until > now) return prior.until;
    const streak = (prior?.streak ?? 0) + 1;
    const until = now + Math.min(this.options.maxMs, this.options.baseMs * 2 ** Math.min(streak - 1, 30));
    this.outliers.set(key, { until, streak });
    return until;
  }

  /** A success ends the gateway's record. */
  succeeded(key: string): void {
    if (this.outliers.size > 0) this.outliers.delete(key);
  }

  isEjected(key: string): boolean {
    const o = this.outliers.get(key);
    return o !== undefined && o.until > this.now();
  }

  /**
   * `items` with the ejected ones moved to the end (soonest back first), order otherwise kept
   * (`items` itself when nothing is ejected).
   * An item is ejected while any of its keys is (a gateway, or a gateway for one service).
   */
  order<T>(items: readonly T[], keysOf: (item: T) => readonly string[]): readonly T[] {
    // The common case, on every call: nothing ejected, the precomputed order as it is.
    if (this.outliers.size === 0) return items;
    const now = this.now();
    const healthy: T[] = [];
    const ejected: { item: T; until: number }[] = [];
    for (const item of items) {
      let until = 0;
      for (const key of keysOf(item)) until = Math.max(until, this.outliers.get(key)?.until ?? 0);
      if (until > now) ejected.push({ item, until });
      else healthy.push(item);
    }
    ejected.sort((a, b) => a.until - b.until);
    return healthy.concat(ejected.map((e) => e.item));
  }
}
