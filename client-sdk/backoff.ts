/**
 * Capped exponential backoff with jitter, after gRPC's connection backoff: the n-th consecutive
 * failure waits a delay drawn under `min(maxMs, baseMs × multiplier^(n−1))`. With `jitter` 1
 * (full jitter, as the AWS SDKs do) the delay is uniform from 0 to that ceiling, so clients that
 * failed together spread out instead of coming back in lockstep; with 0 it is the ceiling.
 */
export interface BackoffPolicy {
  /** Ceiling of the first delay, ms. */
  baseMs: number;
  /** Growth of the ceiling per consecutive failure (≥ 1). */
  multiplier: number;
  /** Largest ceiling, ms. */
  maxMs: number;
  /** Share of the ceiling that is random, from 0 (none) to 1 (full jitter). */
  jitter: number;
}

/** Consecutive failures of one kind of request and the delay they earn; reset by a success. */
export class Backoff {
  private failures = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    /** Uniform in [0, 1): Math.random, or a fixed sequence in tests. */
    private readonly random: () => number = Math.random,
  ) {}

  /** Consecutive failures so far. */
  get attempt(): number {
    return this.failures;
  }

  /** Counts one more failure and returns the delay before the next try, ms. */
  next(): number {
    this.failures++;
    const { baseMs, multiplier, maxMs, jitter } = this.policy;
    // The exponent is bounded so the power stays finite however long the failures last.
    const ceiling = Math.min(maxMs, baseMs * multiplier ** Math.min(this.failures - 1, 64));
    return Math.round(ceiling * (1 - jitter * this.random()));
  }

  reset(): void {
    this.failures = 0;
  }
}

/** Longest Retry-After value read, in characters (an HTTP-date is 29). */
const RETRY_AFTER_MAX_LENGTH = 64;

/**
 * A `Retry-After` value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as a delay in ms from
 * `nowMs`, at most `maxMs` so a gateway cannot park a client for ever; undefined when absent or
 * unreadable (the caller's own backoff applies then).
 */
export function retryAfterMs(value: unknown, nowMs: number, maxMs: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (typeof raw !== 'string' || raw.length > RETRY_AFTER_MAX_LENGTH) return undefined;
  const text = raw.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (!Number.isFinite(at) || !/\d{2}:\d{2}:\d{2}/.test(text)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(maxMs, Math.max(0, ms));
}
