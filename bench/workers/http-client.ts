/**
 * Child process of the sdk benchmark: runs a closed loop of GETs through the Waymark SDK or plain
 * axios for each job received over IPC, and answers with throughput, latency and the CPU time
 * this process spent. Clients are created once and reused across jobs, as an application would.
 */
import { performance } from 'node:perf_hooks';
import axios from 'axios';
import { WaymarkClient } from '../../client-sdk/index.js';
import type { WorkerJob, WorkerReply } from '../harness/ipc-worker.js';
import { percentiles } from '../harness/stats.js';

export interface HttpClientJob {
  /**
   * `axios`: axios.get(url) as an app calls it (axios's default maxRedirects 5 sends every
   * request through follow-redirects); `axios-no-redirects`: the same with maxRedirects 0, the
   * exchange the SDK makes (it follows no redirect), so its own cost per call shows.
   */
  mode: 'sdk' | 'axios' | 'axios-no-redirects';
  /** Gateway base URL: the SDK bootstraps from it, axios calls it directly. */
  gatewayUrl: string;
  environment: string;
  region: string;
  service: string;
  basePath: string;
  /** Path under the service's base path. */
  path: string;
  concurrency: number;
  durationMs: number;
  /** Unmeasured calls first (JIT, connections). */
  warmUpMs: number;
}

export interface HttpClientResult {
  requests: number;
  errors: number;
  durationMs: number;
  rps: number;
  /** User + system CPU of this process per request, µs. */
  cpuUsPerRequest: number;
  latencyMs: { p50: number; p99: number };
}


const clients = new Map<string, WaymarkClient>();

async function sdkCall(job: HttpClientJob): Promise<() => Promise<unknown>> {
  let client = clients.get(job.gatewayUrl);
  if (!client) {
    client = new WaymarkClient({ bootstrap: [job.gatewayUrl], region: job.region, environment: job.environment, probeLatency: false });
    await client.ready();
    clients.set(job.gatewayUrl, client);
  }
  const c = client;
  return () => c.request(job.service, { url: job.path });
}

async function loop(call: () => Promise<unknown>, concurrency: number, ms: number, latencies?: number[]): Promise<{ requests: number; errors: number }> {
  const deadline = performance.now() + ms;
  let requests = 0;
  let errors = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      try {
        await call();
        requests++;
        latencies?.push(performance.now() - started);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { requests, errors };
}

async function run(job: HttpClientJob): Promise<HttpClientResult> {
  const url = `${job.gatewayUrl}${job.basePath}${job.path}`;
  const noRedirects = { maxRedirects: 0 };
  const call = job.mode === 'sdk' ? await sdkCall(job) : job.mode === 'axios' ? () => axios.get(url) : () => axios.get(url, noRedirects);
  if (job.warmUpMs > 0) await loop(call, job.concurrency, job.warmUpMs);
  const latencies: number[] = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { requests, errors } = await loop(call, job.concurrency, job.durationMs, latencies);
  const durationMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const p = percentiles(latencies);
  return {
    requests,
    errors,
    durationMs,
    rps: (requests * 1000) / durationMs,
    cpuUsPerRequest: (used.user + used.system) / Math.max(1, requests),
    latencyMs: { p50: p.p50, p99: p.p99 },
  };
}

process.on('message', (job: WorkerJob<HttpClientJob>) => {
  if (job?.type !== 'run') return;
  run(job).then(
    (result) => process.send?.({ type: 'result', id: job.id, result } satisfies WorkerReply<HttpClientResult>),
    (err: unknown) => process.send?.({ type: 'error', id: job.id, message: err instanceof Error ? err.message : String(err) } satisfies WorkerReply<HttpClientResult>),
  );
});
process.on('disconnect', () => {
  void Promise.all([...clients.values()].map((c) => c.close())).finally(() => process.exit(0));
});
