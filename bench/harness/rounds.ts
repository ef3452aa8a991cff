import type { Metric, Target, Unit } from './benchmark.js';
import { summarize } from './stats.js';

/**
 * Runs `measure` for every variant, `rounds` times, alternating the order (A B, then B A, …) so
 * that a slow drift of the machine (another job starting, thermal throttling) weighs on each
 * variant alike. Returns each variant's figures in round order.
 */
export async function alternate<K extends string, T>(
  variants: readonly K[],
  rounds: number,
  measure: (variant: K, round: number) => Promise<T>,
  signal?: AbortSignal,
): Promise<Record<K, T[]>> {
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`rounds must be a positive integer, got ${rounds}`);
  const out = Object.fromEntries(variants.map((v) => [v, [] as T[]])) as Record<K, T[]>;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const variant of order) {
      signal?.throwIfAborted();
      out[variant].push(await measure(variant, round));
    }
  }
  return out;
}

/** Per-round ratios a[i] / b[i]: each ratio compares figures taken next to each other. */
export function ratios(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new RangeError(`ratios need as many figures on each side (${a.length} vs ${b.length})`);
  return a.map((x, i) => x / b[i]!);
}

/** Per-round differences a[i] - b[i]. */
export function differences(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new RangeError(`differences need as many figures on each side (${a.length} vs ${b.length})`);
  return a.map((x, i) => x - b[i]!);
}

/** A figure measured once per round: median, min and max of the rounds. */
export function roundsMetric(name: string, unit: Unit, values: readonly number[], target?: Target): Metric {
  const s = summarize(values);
  return judge({ name, unit, value: s.median, min: s.min, max: s.max, n: s.n, ...(target ? { target } : {}) });
}

/** A statistic of a distribution of `n` samples (a p99, a max), or a single measurement. */
export function statMetric(name: string, unit: Unit, value: number, n: number, target?: Target): Metric {
  return judge({ name, unit, value, n, ...(target ? { target } : {}) });
}

function judge(metric: Metric): Metric {
  const t = metric.target;
  if (!t) return metric;
  const judged = t.on === 'max' ? (metric.max ?? metric.value) : metric.value;
  if (!Number.isFinite(judged)) return { ...metric, verdict: 'missed' };
  const met = t.op === '>=' ? judged >= t.value : judged <= t.value;
  return { ...metric, verdict: met ? 'met' : 'missed' };
}

export const atLeast = (value: number, label: string, on?: Target['on']): Target => ({ op: '>=', value, label, ...(on ? { on } : {}) });
export const atMost = (value: number, label: string, on?: Target['on']): Target => ({ op: '<=', value, label, ...(on ? { on } : {}) });
