import type { LoadRunner } from './load.js';

/** Full mode measures; smoke mode runs every step briefly so the benchmarks cannot rot. */
export type BenchMode = 'full' | 'smoke';

export type Unit = 'ratio' | 'req/s' | 'ms' | 'µs' | 'ns' | 'bytes' | 'KiB' | 'MiB' | 'count';

/**
 * What a figure should be. `on` says which statistic is judged: the median of rounds by default,
 * `max` where every occurrence must meet it (failed requests, eviction).
 */
export interface Target {
  op: '>=' | '<=';
  value: number;
  on?: 'value' | 'max';
  /** How the target reads in the table, such as `≥ 0.8× bare node`. */
  label: string;
}

/**
 * One figure. For a comparison repeated over rounds, `value` is the median and `min`/`max` the
 * extremes, `n` the number of rounds. For a statistic of a distribution (a p99 over 50 changes),
 * `value` is that statistic and `n` the number of samples it was taken over.
 */
export interface Metric {
  name: string;
  unit: Unit;
  value: number;
  min?: number;
  max?: number;
  n: number;
  target?: Target;
  /** 'met' or 'missed' when there is a target. */
  verdict?: 'met' | 'missed';
}

export interface BenchmarkResult {
  name: string;
  title: string;
  /** Rounds the comparisons ran (alternating A and B). */
  rounds: number;
  /** Setup, load and durations: enough to reproduce. */
  setup: string[];
  metrics: Metric[];
  /** Caveats, skipped baselines (with the reason), what limits a figure. */
  notes: string[];
  /** Per-round raw figures, for the JSON file. */
  details: Record<string, unknown>;
  durationMs: number;
  /** Set when the benchmark could not run to the end. */
  error?: string;
}

/** What a benchmark gets from the runner. */
export interface BenchContext {
  readonly mode: BenchMode;
  /** Rounds of each A/B comparison. */
  readonly rounds: number;
  /** Aborted on Ctrl-C: long waits stop, cleanups run. */
  readonly signal: AbortSignal;
  /** Load generation (wrk or autocannon, in another process). */
  readonly load: LoadRunner;
  /** Registers a cleanup; they run last-in first-out when the benchmark ends (or is interrupted). */
  defer(cleanup: () => unknown): void;
  /** Client URLs of a single-member etcd started for this benchmark (on first call). */
  etcd(): Promise<string[]>;
  /** A progress line on stderr. */
  log(message: string): void;
  /** `full` in full mode, `smoke` in smoke mode. */
  pick<T>(full: T, smoke: T): T;
}

/** What a benchmark hands back; the runner adds name, title, rounds and timing. */
export interface BenchmarkReport {
  setup: string[];
  metrics: Metric[];
  notes?: string[];
  details?: Record<string, unknown>;
  /** Rounds, when the benchmark ran another number than the context's. */
  rounds?: number;
}

export interface Benchmark {
  readonly name: string;
  /** One line: what is measured against what. */
  readonly title: string;
  run(ctx: BenchContext): Promise<BenchmarkReport>;
}
