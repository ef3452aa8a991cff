import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Gateway } from '../../gateway/index.js';
import { connectEtcd, KeyLayout } from '../../store/index.js';
import { freePort } from '../../test/support/ports.js';
import { writeTopology } from '../../test/support/gateway.js';
import { waitFor } from '../../test/support/wait.js';
import { gatewayOptions, lists, spawnReadyGateway, startInProcessGateway } from '../fixtures/gateways.js';
import type { Benchmark, BenchContext, BenchmarkReport, Metric } from '../harness/benchmark.js';
import { atMost, roundsMetric } from '../harness/rounds.js';

/**
 * A gateway process killed with SIGKILL (no lease revoke): the time until it is gone from the
 * document of every other gateway. Its lease expiry bounds it, so it is run for a 2 s TTL and
 * the default 10 s one. The kill comes at a random point of the lease's keepalive cycle.
 */
export const eviction: Benchmark = {
  name: 'eviction',
  title: 'a SIGKILLed gateway → gone from every gateway\'s document (lease TTL 2 s and 10 s)',
  async run(ctx: BenchContext): Promise<BenchmarkReport> {
    const observerCount = ctx.pick(3, 2);
    const ttls = ctx.pick([2, 10], [2]);
    const endpoints = await ctx.etcd();
    const conn = connectEtcd({ endpoints });
    ctx.defer(() => conn.close());
    const env = 'bench-eviction';
    const region = 'eu-west';
    await writeTopology(conn, new KeyLayout(), env, {
      regions: [{ name: region, jurisdiction: 'EU' }],
      services: [{ name: 'catalog', basePath: '/catalog/v1', placement: 'regional', deployments: [{ region, upstreams: ['http://127.0.0.1:1'] }] }],
    });
    const observers: Gateway[] = [];
    for (let i = 0; i < observerCount; i++) {
      const g = await startInProcessGateway(gatewayOptions(endpoints, env, region, `observer-${i}`), ctx.signal);
      ctx.defer(() => g.close());
      observers.push(g);
    }

    const metrics: Metric[] = [];
    const details: Record<string, number[]> = {};
    for (const ttl of ttls) {
      // A 10 s lease costs ~15 s a round: fewer rounds of it.
      const rounds = ttl > 5 ? Math.min(ctx.rounds, 2) : ctx.rounds;
      const evictions: number[] = [];
      for (let round = 0; round < rounds; round++) {
        ctx.signal.throwIfAborted();
        const id = `victim-${ttl}s-${round}`;
        ctx.log(`TTL ${ttl} s, round ${round + 1}/${rounds}: starting ${id}`);
        const victim = await spawnReadyGateway({ etcd: endpoints, environment: env, region, id, port: await freePort(), leaseTtlSeconds: ttl }, ctx.signal);
        ctx.defer(() => victim.stop());
        await waitFor(() => observers.every((o) => lists(o.document, id)), { timeoutMs: 10_000, what: `every observer to list ${id}` });
        // Keepalives go out every TTL/3: kill at a random point of that cycle.
        await sleep((Math.random() * ttl * 1000) / 3, undefined, { signal: ctx.signal });
        const gone = Promise.all(observers.map((o) => untilGone(o, id, ctx.signal)));
        const t0 = performance.now();
        victim.kill('SIGKILL');
        const at = await gone;
        evictions.push(Math.max(...at) - t0);
        await victim.stop();
      }
      details[`ttl${ttl}`] = evictions;
      metrics.push(roundsMetric(`TTL ${ttl} s: gone from every document`, 'ms', evictions, atMost(ttl * 1000 + 1000, `≤ ${ttl + 1} s (TTL + 1 s)`, 'max')));
    }
    return {
      setup: [
        `victim: \`waymark gateway\` child process (--lease-ttl 2 and 10); ${observerCount} observing gateways in the runner process`,
        'SIGKILL at a random point of the keepalive cycle (keepalives every TTL/3); the delay is until the last observer drops it (its \'topology\' event)',
        ttls.length < 2 ? 'smoke mode: the 10 s TTL is left out' : 'the 10 s TTL runs at most 2 rounds',
      ],
      metrics,
      notes: ['Eureka drops a dead instance after ~5 minutes by default (90 s lease, eviction every 60 s, client caches)'],
      details,
    };
  },
};

/** Resolves with the time the gateway's document stopped listing `id`. */
function untilGone(gateway: Gateway, id: string, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const onTopology = () => {
      if (lists(gateway.document, id)) return;
      const at = performance.now();
      gateway.off('topology', onTopology);
      signal.removeEventListener('abort', onAbort);
      resolve(at);
    };
    const onAbort = () => {
      gateway.off('topology', onTopology);
      reject(signal.reason);
    };
    gateway.on('topology', onTopology);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
