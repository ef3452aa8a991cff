/**
 * Child process of the load runner (bench/harness/load.ts): runs autocannon, as a library, for
 * each job received over IPC and answers with the figures. It keeps every response time
 * (hrtime, fractional ms) itself: autocannon's own histogram has 1 ms resolution and leaves out
 * non-2xx answers such as a 304.
 */
import autocannon from 'autocannon';
import type { WorkerJob, WorkerReply } from '../harness/ipc-worker.js';
import type { AutocannonJob, LoadResult } from '../harness/load.js';
import { percentiles } from '../harness/stats.js';

type Reply = WorkerReply<Omit<LoadResult, 'tool'>>;

function reply(message: Reply): void {
  process.send?.(message);
}

async function run(job: WorkerJob<AutocannonJob>): Promise<void> {
  const { spec } = job;
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let failedStatus = 0;
  let bytes = 0;
  let finished!: (result: autocannon.Result) => void;
  let failed!: (err: unknown) => void;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finished = resolve;
    failed = reject;
  });
  const instance = autocannon(
    {
      url: spec.url,
      connections: spec.connections,
      duration: spec.durationSeconds,
      timeout: job.timeoutSeconds,
      headers: { ...spec.headers },
      ...(spec.rate !== undefined ? { overallRate: spec.rate } : {}),
    },
    (err: unknown, result: autocannon.Result) => (err ? failed(err) : finished(result)),
  );
  instance.on('response', (_client, statusCode, resBytes, responseTime) => {
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = responseTime;
    if (statusCode >= 400) failedStatus++;
    bytes += resBytes;
  });
  const result = await done;
  const p = percentiles(latencies.subarray(0, count));
  reply({
    type: 'result',
    id: job.id,
    result: {
      requests: count,
      durationSeconds: result.duration,
      rps: count / result.duration,
      latencyMs: { p50: p.p50, p90: p.p90, p99: p.p99, max: p.max, mean: p.mean },
      errors: result.errors,
      failedStatus,
      bytesPerResponse: count > 0 ? bytes / count : 0,
    },
  });
}

process.on('message', (job: WorkerJob<AutocannonJob>) => {
  if (job?.type !== 'run') return;
  run(job).catch((err: unknown) => reply({ type: 'error', id: job.id, message: err instanceof Error ? err.message : String(err) }));
});
// The runner went away: nothing left to do.
process.on('disconnect', () => process.exit(0));
