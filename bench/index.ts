/** Waymark's benchmarks (`npm run bench`): the list, the runner and the shapes of their results. */
import { discovery } from './benchmarks/discovery.js';
import { eviction } from './benchmarks/eviction.js';
import { failover } from './benchmarks/failover.js';
import { propagation } from './benchmarks/propagation.js';
import { proxy } from './benchmarks/proxy.js';
import { pushback } from './benchmarks/pushback.js';
import { scale } from './benchmarks/scale.js';
import { sdk } from './benchmarks/sdk.js';
import { signing } from './benchmarks/signing.js';
import type { Benchmark } from './harness/benchmark.js';

/** Every benchmark, in the order `npm run bench` runs them. */
export const BENCHMARKS: readonly Benchmark[] = [discovery, proxy, propagation, eviction, failover, sdk, pushback, signing, scale];

export type { Benchmark, BenchContext, BenchMode, BenchmarkReport, BenchmarkResult, Metric, Target, Unit } from './harness/benchmark.js';
export { LOAD_RUNNER_DEFAULTS, LoadRunner, type LoadResult, type LoadSpec, type LoadToolName } from './harness/load.js';
export { RUN_DEFAULTS, runBenchmarks, type RunOptions, type RunOutcome } from './harness/runner.js';
export type { MachineInfo, RunResults } from './harness/results.js';
export { markdownTable } from './harness/table.js';
export { BenchUsageError, BenchSetupError, LoadToolError } from './harness/errors.js';
