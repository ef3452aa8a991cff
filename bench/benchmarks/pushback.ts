import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { WaymarkClient, type DiscoveryStats } from '../../client-sdk/index.js';
import type { ServiceDefinition } from '../../openapi/index.js';
import { connectEtcd, KeyLayout, type EtcdConnection } from '../../store/index.js';
import { writeTopology } from '../../test/support/gateway.js';
import { freePort } from '../../test/support/ports.js';
import { spawnReadyGateway } from '../fixtures/gateways.js';
import type { Benchmark, BenchContext, BenchmarkReport, Metric } from '../harness/benchmark.js';
import { atMost, statMetric } from '../harness/rounds.js';
import { percentiles } from '../harness/stats.js';

const REGION = 'eu-west';
/** Long-poll hold the clients ask for, s: short, so a window of seconds sees every client's cycle. */
const CLIENT_LONG_POLL_SECONDS = 10;
/** Total deadline of a client's topology fetch, ms: all clients share the runner's event loop. */
const CLIENT_DISCOVERY_TIMEOUT_MS = 10_000;
/** Clients started at once. */
const START_BATCH = 50;

/** What one run (one gateway, its clients, one change) measured. */
interface RunFigures {
  /** Topology requests the gateway answered per second over the window (its own metrics). */
  discoveryRps: number;
  windowMs: number;
  /** Per client: from the start of the commit to its `topology` event with the new revision, ms. */
  propagationMs: number[];
  /** Clients that did not see the change in time. */
  missing: number;
  /** The clients' counters, summed. */
  stats: DiscoveryStats;
}

/**
 * N real SDK clients on one `waymark gateway` (started from the CLI) whose `--max-long-polls` is
 * N/2, against the same clients on a gateway with enough slots: the discovery requests per second
 * the gateway answers in each case (refused clients back off and poll instead of looping), and
 * the time from an apply to every client holding the new revision.
 */
export const pushback: Benchmark = {
  name: 'pushback',
  title: 'N SDK clients vs N/2 long-poll slots on one gateway (CLI --max-long-polls): discovery req/s vs enough slots, change propagation',
  async run(ctx: BenchContext): Promise<BenchmarkReport> {
    const clients = ctx.pick(400, 40);
    const slots = clients / 2;
    const warmUpMs = ctx.pick(6000, 1000);
    const windowMs = ctx.pick(15_000, 3000);
    // How long the change may take to reach every client before it counts as missing (the smoke
    // run does not wait for refused clients' Retry-After).
    const changeTimeoutMs = ctx.pick(40_000, windowMs);
    const endpoints = await ctx.etcd();
    const conn = connectEtcd({ endpoints });
    ctx.defer(() => conn.close());
    const layout = new KeyLayout();

    const measure = async (label: string, maxLongPolls: number): Promise<RunFigures> => {
      const env = `bench-pushback-${label}`;
      const service = (version: number): ServiceDefinition => ({
        name: 'catalog',
        basePath: `/catalog/v${version}`,
        placement: 'regional',
        deployments: [{ region: REGION, upstreams: ['http://127.0.0.1:1'] }],
      });
      await writeTopology(conn, layout, env, { regions: [{ name: REGION, jurisdiction: 'EU' }], services: [service(1)] });
      ctx.log(`${label}: gateway with --max-long-polls ${maxLongPolls}, ${clients} SDK clients`);
      const gateway = await spawnReadyGateway(
        {
          etcd: endpoints,
          environment: env,
          region: REGION,
          id: `gw-${label}`,
          port: await freePort(),
          // Every client here shares 127.0.0.1: the per-address limit would refuse all but a few.
          extraArgs: ['--max-long-polls', String(maxLongPolls), '--max-long-polls-per-client', String(clients * 2), '--quiet'],
        },
        ctx.signal,
      );
      try {
        return await runClients(ctx, conn, layout, env, gateway.url, service(2), clients, { warmUpMs, windowMs, changeTimeoutMs });
      } finally {
        await gateway.stop(true);
      }
    };

    const enough = await measure('enough', clients * 2);
    const half = await measure('half', slots);
    const metrics: Metric[] = [];
    for (const [label, run] of [
      [`${clients} clients, ${clients * 2} slots`, enough],
      [`${clients} clients, ${slots} slots`, half],
    ] as const) {
      const p = percentiles(run.propagationMs);
      metrics.push(
        statMetric(`${label}: discovery requests/s at the gateway`, 'req/s', run.discoveryRps, 1),
        statMetric(`${label}: apply → every client, p50`, 'ms', p.p50, p.count),
        statMetric(`${label}: apply → every client, p99`, 'ms', p.p99, p.count),
        statMetric(`${label}: apply → every client, max`, 'ms', p.max, p.count),
        statMetric(`${label}: clients without the change after ${changeTimeoutMs / 1000} s`, 'count', run.missing, clients, atMost(0, '= 0')),
        statMetric(`${label}: long-polls refused (all clients)`, 'count', run.stats.longPollsRefused, clients),
        statMetric(`${label}: backoffs (all clients)`, 'count', run.stats.backoffs, clients),
      );
    }
    metrics.splice(
      0,
      0,
      statMetric('discovery req/s: half the slots / enough slots', 'ratio', half.discoveryRps / enough.discoveryRps, 1, atMost(2, '≤ 2×')),
    );
    return {
      rounds: 1,
      setup: [
        `${clients} WaymarkClients in the runner process (defaults, but longPollSeconds ${CLIENT_LONG_POLL_SECONDS}, discoveryTimeoutMs ${CLIENT_DISCOVERY_TIMEOUT_MS} as they share one event loop, no latency probes; started ${START_BATCH} at a time), all bootstrapped from one \`waymark gateway\` child process`,
        `first run: \`--max-long-polls ${clients * 2}\` (enough slots); second run: \`--max-long-polls ${slots}\` (half the clients refused, 503 with a jittered Retry-After); \`--max-long-polls-per-client ${clients * 2}\` in both, as every client is 127.0.0.1`,
        `discovery requests: the gateway's waymark_gateway_requests_total{route="topology"|"discovery"} over a ${windowMs / 1000} s window (longer if a change has not reached every client yet), after ${warmUpMs / 1000} s of warm-up`,
        'propagation: one change applied at the start of the window (writeTopology → commitChanges), timed from the start of the commit to each client\'s `topology` event',
      ],
      metrics,
      notes: [
        'refused clients poll at the document interval and try a long-poll again after the gateway\'s Retry-After (half the refresh interval, spread ±50 %); a refusal carries X-Waymark-Revision, so a refused client fetches a change at its next attempt rather than at its next poll',
      ],
      details: { enough, half },
    };
  },
};

/** Starts the clients, waits the warm-up, then counts the gateway's discovery requests over the window while one change propagates. */
async function runClients(
  ctx: BenchContext,
  conn: EtcdConnection,
  layout: KeyLayout,
  env: string,
  url: string,
  changed: ServiceDefinition,
  count: number,
  { warmUpMs, windowMs, changeTimeoutMs }: { warmUpMs: number; windowMs: number; changeTimeoutMs: number },
): Promise<RunFigures> {
  const arrivals = new Map<WaymarkClient, number>();
  let target = Number.POSITIVE_INFINITY;
  const everyone = new AbortController();
  const clients: WaymarkClient[] = [];
  try {
    for (let i = 0; i < count; i++) {
      // Started in batches, as a fleet starts, not 400 bootstraps in one instant on a shared 2-core machine.
      if (i % START_BATCH === 0) await Promise.all(clients.map((c) => c.ready()));
      const client = new WaymarkClient({
        bootstrap: [url],
        environment: env,
        probeLatency: false,
        longPollSeconds: CLIENT_LONG_POLL_SECONDS,
        discoveryTimeoutMs: CLIENT_DISCOVERY_TIMEOUT_MS,
      });
      client.on('topology', (doc) => {
        if (doc.revision >= target && !arrivals.has(client)) {
          arrivals.set(client, performance.now());
          if (arrivals.size === count) everyone.abort();
        }
      });
      clients.push(client);
    }
    await Promise.all(clients.map((c) => c.ready()));
    await sleep(warmUpMs, undefined, { signal: ctx.signal });

    const before = await topologyRequests(url);
    const t0 = performance.now();
    target = await writeTopology(conn, layout, env, { services: [changed] });
    for (const c of clients) if ((c.topology()?.revision ?? 0) >= target && !arrivals.has(c)) arrivals.set(c, performance.now());
    if (arrivals.size === count) everyone.abort();
    const deadline = AbortSignal.any([ctx.signal, AbortSignal.timeout(changeTimeoutMs)]);
    await sleep(windowMs, undefined, { signal: ctx.signal });
    await new Promise<void>((resolve) => {
      if (everyone.signal.aborted || deadline.aborted) return resolve();
      everyone.signal.addEventListener('abort', () => resolve(), { once: true });
      deadline.addEventListener('abort', () => resolve(), { once: true });
    });
    ctx.signal.throwIfAborted();
    const elapsedMs = performance.now() - t0;
    const after = await topologyRequests(url);
    const stats = sumStats(clients.map((c) => c.stats()));
    return {
      discoveryRps: ((after - before) * 1000) / elapsedMs,
      windowMs: elapsedMs,
      propagationMs: [...arrivals.values()].map((at) => at - t0),
      missing: count - arrivals.size,
      stats,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/**
 * Topology requests the gateway has answered, from its /metrics: route `topology` (a plain GET)
 * and `discovery` (the same path with a query: long-polls; the clients ask nothing else there).
 */
async function topologyRequests(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('waymark_gateway_requests_total{') && (line.includes('route="topology"') || line.includes('route="discovery"'))) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

function sumStats(all: readonly DiscoveryStats[]): DiscoveryStats {
  const out = { ...all[0]! };
  for (const key of Object.keys(out) as (keyof DiscoveryStats)[]) out[key] = all.reduce((n, s) => n + s[key], 0);
  return out;
}
