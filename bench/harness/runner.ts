import { performance } from 'node:perf_hooks';
import type { Benchmark, BenchMode, BenchmarkResult } from './benchmark.js';
import { BenchScope } from './context.js';
import { BenchUsageError } from './errors.js';
import { ensureWrk, LoadRunner, type LoadToolName } from './load.js';
import { defaultResultsFile, machineInfo, writeResults, type RunResults } from './results.js';
import { renderResult } from './table.js';

/** How to run benchmarks. Every default is in RUN_DEFAULTS. */
export interface RunOptions {
  /** Repository root: results go under `<root>/bench/results/` unless `out` is given. */
  root: string;
  /** Names to run, in the order of `benchmarks`. Default: all. */
  names?: readonly string[];
  /** Default 'full'. */
  mode?: BenchMode;
  /** Rounds of each comparison. Default 3 in full mode, 1 in smoke mode. */
  rounds?: number;
  /** Load generator for unpaced runs. Default: wrk (installed with apt-get in a full run when missing and root), else autocannon. */
  loadTool?: LoadToolName;
  /** JSON results file. Default bench/results/<start time>-<mode>.json. */
  out?: string;
  /** Aborting stops the benchmark in progress (its cleanups run) and skips the rest. */
  signal?: AbortSignal;
  /** Where each benchmark's table is printed. Default: stdout. */
  print?: (text: string) => void;
  /** Where progress lines go. Default: stderr. */
  log?: (line: string) => void;
}

export const RUN_DEFAULTS = {
  mode: 'full' as BenchMode,
  fullRounds: 3,
  smokeRounds: 1,
};

/** The run's results and the file they were written to. */
export interface RunOutcome {
  results: RunResults;
  file: string;
}

/**
 * Runs the chosen benchmarks one after the other, each with its own cleanups (and etcd), prints
 * one table per benchmark and writes every figure to a JSON file. A benchmark that throws is
 * recorded with its error and the others still run; a missed target is a figure, never an error.
 */
export async function runBenchmarks(benchmarks: readonly Benchmark[], options: RunOptions): Promise<RunOutcome> {
  const mode = options.mode ?? RUN_DEFAULTS.mode;
  const rounds = options.rounds ?? (mode === 'full' ? RUN_DEFAULTS.fullRounds : RUN_DEFAULTS.smokeRounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new BenchUsageError(`--rounds must be a positive integer, got ${rounds}`);
  const known = new Set(benchmarks.map((b) => b.name));
  const unknown = (options.names ?? []).filter((n) => !known.has(n));
  if (unknown.length > 0) throw new BenchUsageError(`unknown benchmark ${unknown.join(', ')}: choose from ${[...known].join(', ')}`);
  const chosen = options.names && options.names.length > 0 ? benchmarks.filter((b) => options.names!.includes(b.name)) : benchmarks;
  const print = options.print ?? ((text: string) => process.stdout.write(`${text}\n`));
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const signal = options.signal ?? new AbortController().signal;
  if (!options.loadTool && mode === 'full') {
    const wrk = ensureWrk(true, log);
    if (!wrk.available) log(`load: autocannon, since ${wrk.reason}`);
  }
  const load = new LoadRunner(options.loadTool ? { tool: options.loadTool } : {});
  const startedAt = new Date();
  const file = options.out ?? defaultResultsFile(options.root, startedAt, mode);
  const machine = machineInfo();
  log(
    `waymark bench: ${chosen.map((b) => b.name).join(', ')} (${mode}, ${rounds} round${rounds > 1 ? 's' : ''}, load: ${load.tool}; ` +
      `${machine.cpus} cores, load average ${machine.loadAverage.join(' ')})`,
  );
  const results: BenchmarkResult[] = [];
  try {
    for (const benchmark of chosen) {
      if (signal.aborted) break;
      const scope = new BenchScope(benchmark.name, mode, rounds, load, signal, log);
      const started = performance.now();
      let result: BenchmarkResult;
      try {
        const report = await benchmark.run(scope);
        result = {
          name: benchmark.name,
          title: benchmark.title,
          rounds: report.rounds ?? rounds,
          setup: report.setup,
          metrics: report.metrics,
          notes: report.notes ?? [],
          details: report.details ?? {},
          durationMs: 0,
        };
      } catch (err) {
        const message = signal.aborted ? 'interrupted' : err instanceof Error ? err.message : String(err);
        if (!signal.aborted && err instanceof Error && err.stack) log(err.stack);
        result = { name: benchmark.name, title: benchmark.title, rounds, setup: [], metrics: [], notes: [], details: {}, durationMs: 0, error: message };
      } finally {
        await scope.close();
      }
      result.durationMs = Math.round(performance.now() - started);
      results.push(result);
      print(renderResult(result));
    }
  } finally {
    await load.close();
  }
  const outcome: RunResults = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    mode,
    rounds,
    loadTool: load.tool,
    machine,
    loadAverageAtEnd: machineInfo().loadAverage,
    benchmarks: results,
  };
  writeResults(file, outcome);
  return { results: outcome, file };
}
