import { WaymarkError } from '../../topology/index.js';

/** The command line was wrong: an unknown benchmark or option. */
export class BenchUsageError extends WaymarkError {
  constructor(message: string) {
    super('BENCH_USAGE', message);
  }
}

/** The load generator could not run or gave no result. */
export class LoadToolError extends WaymarkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BENCH_LOAD_FAILED', message, options);
  }
}

/** Something a benchmark needs (a server, a process, a condition) did not come up in time. */
export class BenchSetupError extends WaymarkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BENCH_SETUP_FAILED', message, options);
  }
}
