import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { WaymarkClient } from '../../client-sdk/index.js';
import { connectEtcd, KeyLayout } from '../../store/index.js';
import { startFaultProxy, type FaultProxy } from '../../test/support/fault-proxy.js';
import { writeTopology } from '../../test/support/gateway.js';
import { freePort } from '../../test/support/ports.js';
import { waitFor } from '../../test/support/wait.js';
import { startBackendProcess } from '../fixtures/backend.js';
import { gatewayOptions, lists, spawnReadyGateway, startInProcessGateway, type GatewayProcess } from '../fixtures/gateways.js';
import type { Benchmark, BenchContext, BenchmarkReport, Metric } from '../harness/benchmark.js';
import { atMost, roundsMetric } from '../harness/rounds.js';
import { percentiles } from '../harness/stats.js';

type Scenario = 'kill' | 'blackhole' | 'freeze';

const SCENARIOS: Record<Scenario, string> = {
  blackhole: 'black hole (fault proxy drops every byte)',
  freeze: 'SIGSTOP (the process hangs; its lease expires)',
  kill: 'SIGKILL (connections refused)',
};

/** One request of the stream. */
interface Call {
  start: number;
  end: number;
  ok: boolean;
  /** Region of the gateway that answered (X-Waymark-Region). */
  region?: string;
  error?: string;
}

const HOME = 'eu-west';
const OTHER = 'eu-central';

/**
 * An SDK client sends a steady stream of GETs to a service of its region (eu-west, failover
 * eu-central). Then eu-west's gateway fails: killed, black-holed, or frozen. Counted: failed
 * requests (target 0), the time until requests succeed again through eu-central, and the
 * latency of the requests the failure touched.
 */
export const failover: Benchmark = {
  name: 'failover',
  title: 'an SDK client streaming GETs while its region\'s gateway is killed, black-holed or frozen',
  async run(ctx: BenchContext): Promise<BenchmarkReport> {
    const attemptTimeoutMs = ctx.pick(1000, 300);
    const connectTimeoutMs = 1000;
    const intervalMs = 10;
    const baselineMs = ctx.pick(1000, 300);
    const afterMs = ctx.pick(1000, 300);
    // Smoke mode leaves out the freeze: it takes the same path through the SDK as the black hole.
    // The kill goes last: its victim leaves the topology only when its lease expires.
    const scenarios = ctx.pick<Scenario[]>(['blackhole', 'freeze', 'kill'], ['blackhole', 'kill']);
    const backend = await startBackendProcess();
    ctx.defer(() => backend.close());
    const endpoints = await ctx.etcd();
    const conn = connectEtcd({ endpoints });
    ctx.defer(() => conn.close());
    const env = 'bench-failover';
    await writeTopology(conn, new KeyLayout(), env, {
      regions: [
        { name: HOME, jurisdiction: 'EU' },
        { name: OTHER, jurisdiction: 'EU' },
      ],
      services: [
        {
          name: 'catalog',
          basePath: '/catalog/v1',
          placement: 'regional',
          failover: [OTHER],
          deployments: [HOME, OTHER].map((region) => ({ region, upstreams: [backend.url] })),
        },
      ],
    });
    const other = await startInProcessGateway(gatewayOptions(endpoints, env, OTHER, 'gw-other'), ctx.signal);
    ctx.defer(() => other.close());

    const victims: string[] = [];
    const runRound = async (scenario: Scenario, round: number) => {
      const id = `gw-home-${scenario}-${round}`;
      const port = await freePort();
      let fault: FaultProxy | undefined;
      if (scenario === 'blackhole') {
        fault = await startFaultProxy({ target: { host: '127.0.0.1', port } });
        ctx.defer(() => fault?.close());
      }
      // Earlier victims must have left the topology, or the client would fail over from them too.
      await waitFor(() => !victims.some((v) => lists(other.document, v)), { timeoutMs: 15_000, what: 'earlier victims to leave the topology' });
      const victim: GatewayProcess = await spawnReadyGateway(
        { etcd: endpoints, environment: env, region: HOME, id, port, leaseTtlSeconds: 2, ...(fault ? { publicUrl: fault.url } : {}) },
        ctx.signal,
      );
      victims.push(id);
      ctx.defer(() => victim.stop());
      const client = new WaymarkClient({ bootstrap: [other.url], region: HOME, environment: env, probeLatency: false, attemptTimeoutMs, connectTimeoutMs });
      ctx.defer(() => client.close());
      await client.ready();
      await waitFor(() => lists(client.topology(), id), { timeoutMs: 10_000, what: `the client to see ${id}` });

      const calls: Call[] = [];
      const inFlight = new Set<Promise<void>>();
      let streaming = true;
      const stream = (async () => {
        while (streaming) {
          const call: Call = { start: performance.now(), end: 0, ok: false };
          calls.push(call);
          const p = client.request('catalog', { url: '/items/42' }).then(
            (res) => {
              call.ok = res.status === 200;
              call.region = String(res.headers['x-waymark-region']);
              if (!call.ok) call.error = `HTTP ${res.status}`;
            },
            (err: Error) => {
              call.error = `${err.name}: ${err.message}`;
            },
          );
          const tracked = p.finally(() => {
            call.end = performance.now();
            inFlight.delete(tracked);
          });
          inFlight.add(tracked);
          await sleep(intervalMs);
        }
      })();
      await sleep(baselineMs, undefined, { signal: ctx.signal });
      const t0 = performance.now();
      if (scenario === 'kill') victim.kill('SIGKILL');
      else if (scenario === 'freeze') victim.kill('SIGSTOP');
      else fault!.blackhole();
      const windowMs = scenario === 'kill' ? afterMs : attemptTimeoutMs + afterMs;
      await sleep(windowMs, undefined, { signal: ctx.signal });
      streaming = false;
      await stream;
      await Promise.all(inFlight);
      await client.close();
      fault?.heal();
      // A victim still alive leaves gracefully (its lease revoked), so the next round need not wait for it.
      await victim.stop(scenario !== 'kill');
      await fault?.close();

      const before = calls.filter((c) => c.end <= t0);
      const touched = calls.filter((c) => c.end > t0);
      const recovered = touched.filter((c) => c.ok && c.region === OTHER).map((c) => c.end - t0);
      return {
        calls: calls.length,
        failed: calls.filter((c) => !c.ok).length,
        errors: [...new Set(calls.filter((c) => !c.ok).map((c) => c.error))],
        servedHomeBefore: before.filter((c) => c.region === HOME).length / Math.max(1, before.length),
        recoveryMs: recovered.length > 0 ? Math.min(...recovered) : Number.POSITIVE_INFINITY,
        baselineP99: percentiles(before.map((c) => c.end - c.start)).p99,
        windowP99: percentiles(touched.map((c) => c.end - c.start)).p99,
        windowMax: percentiles(touched.map((c) => c.end - c.start)).max,
      };
    };

    const metrics: Metric[] = [];
    const details: Record<string, unknown> = {};
    const notes: string[] = [];
    for (const scenario of scenarios) {
      const rounds = [];
      for (let round = 0; round < ctx.rounds; round++) {
        ctx.signal.throwIfAborted();
        ctx.log(`${scenario}, round ${round + 1}/${ctx.rounds}`);
        rounds.push(await runRound(scenario, round));
      }
      details[scenario] = rounds;
      const errors = [...new Set(rounds.flatMap((r) => r.errors))];
      if (errors.length > 0) notes.push(`${scenario}: failed requests saw ${errors.slice(0, 3).join('; ')}`);
      if (rounds.some((r) => r.servedHomeBefore < 0.9)) notes.push(`${scenario}: before the fault, fewer than 90 % of requests went to ${HOME}`);
      const recoveryTarget =
        scenario === 'kill'
          ? atMost(connectTimeoutMs, `≤ one connect attempt (${connectTimeoutMs} ms)`, 'max')
          : atMost(attemptTimeoutMs + 100, `≤ attempt timeout ${attemptTimeoutMs} ms (+100 ms)`, 'max');
      metrics.push(
        roundsMetric(`${scenario}: failed requests`, 'count', rounds.map((r) => r.failed), atMost(0, '= 0', 'max')),
        roundsMetric(`${scenario}: requests sent`, 'count', rounds.map((r) => r.calls)),
        roundsMetric(`${scenario}: time until requests succeed again`, 'ms', rounds.map((r) => r.recoveryMs), recoveryTarget),
        roundsMetric(`${scenario}: p99 before the fault`, 'ms', rounds.map((r) => r.baselineP99)),
        roundsMetric(`${scenario}: p99 in the window`, 'ms', rounds.map((r) => r.windowP99)),
        roundsMetric(`${scenario}: max in the window`, 'ms', rounds.map((r) => r.windowMax)),
      );
    }
    return {
      setup: [
        `service catalog in ${HOME} and ${OTHER} (failover); the client in ${HOME}; ${HOME}'s gateway a child process (lease TTL 2 s), ${OTHER}'s in the runner process`,
        `one GET every ${intervalMs} ms (each awaited on its own), ${baselineMs} ms before the fault, then ${afterMs} ms (kill) or attempt timeout + ${afterMs} ms after it`,
        `SDK options: attemptTimeoutMs ${attemptTimeoutMs}, connectTimeoutMs ${connectTimeoutMs}, ejection 5 s; a fresh gateway and client each round`,
        ...scenarios.map((k) => `${k}: ${SCENARIOS[k]}`),
        'recovery: from the fault to the first request answered through ' + OTHER + ' (a request in flight at the fault included)',
      ],
      metrics,
      notes,
      details,
    };
  },
};
