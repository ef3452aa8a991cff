import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { WaymarkClient } from '../../client-sdk/index.js';
import type { Gateway } from '../../gateway/index.js';
import type { ServiceDefinition } from '../../openapi/index.js';
import { connectEtcd, KeyLayout, type TopologySnapshot } from '../../store/index.js';
import { writeTopology } from '../../test/support/gateway.js';
import { waitFor } from '../../test/support/wait.js';
import { measureDocumentBuild } from '../fixtures/document-build.js';
import { gatewayOptions, startInProcessGateway } from '../fixtures/gateways.js';
import { makeRegions, makeServices } from '../fixtures/topology.js';
import type { Benchmark, BenchContext, BenchmarkReport } from '../harness/benchmark.js';
import { atMost, statMetric } from '../harness/rounds.js';
import { percentiles, summarize } from '../harness/stats.js';

/** Per watcher (gateway or client), when each revision arrived (performance.now() ms). */
class Arrivals {
  private readonly seen: { revision: number; at: number }[] = [];
  private readonly waiters = new Set<() => void>();

  note(revision: number): void {
    this.seen.push({ revision, at: performance.now() });
    for (const wake of this.waiters) wake();
  }

  /** When a revision ≥ `revision` first arrived, if it has. */
  firstAtLeast(revision: number): number | undefined {
    return this.seen.find((s) => s.revision >= revision)?.at;
  }

  /** Resolves once a revision ≥ `revision` has arrived (or the signal aborts). */
  reached(revision: number, signal: AbortSignal): Promise<void> {
    if (this.firstAtLeast(revision) !== undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.firstAtLeast(revision) === undefined && !signal.aborted) return;
        this.waiters.delete(check);
        signal.removeEventListener('abort', check);
        if (signal.aborted) reject(signal.reason);
        else resolve();
      };
      this.waiters.add(check);
      signal.addEventListener('abort', check, { once: true });
    });
  }
}

/** How long one change may take to reach everyone before the benchmark gives up, ms. */
const CHANGE_TIMEOUT_MS = 10_000;

/**
 * 50 gateways (each with its own etcd connection and watch, in this process) and 20 SDK clients
 * on long-poll, spread over the gateways. A change is applied 50 times; each time, the delay from
 * the apply's commit to every gateway serving the new revision ('topology' event) and to every
 * client holding it ('topology' event).
 */
export const propagation: Benchmark = {
  name: 'propagation',
  title: 'apply → every gateway serving the new revision, and every SDK client (long-poll) holding it',
  async run(ctx: BenchContext): Promise<BenchmarkReport> {
    const gatewayCount = ctx.pick(50, 5);
    const clientCount = ctx.pick(20, 4);
    const changes = ctx.pick(50, 5);
    const endpoints = await ctx.etcd();
    const conn = connectEtcd({ endpoints });
    ctx.defer(() => conn.close());
    const layout = new KeyLayout();
    const env = 'bench-propagation';
    const regions = makeRegions(6);
    const services = makeServices(20, regions);
    await writeTopology(conn, layout, env, { regions, services });

    ctx.log(`starting ${gatewayCount} gateways and ${clientCount} SDK clients`);
    const gateways: Gateway[] = [];
    const gatewayArrivals: Arrivals[] = [];
    let sample: TopologySnapshot | undefined;
    for (let start = 0; start < gatewayCount; start += 10) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(10, gatewayCount - start) }, (_, k) =>
          startInProcessGateway(gatewayOptions(endpoints, env, regions[(start + k) % regions.length]!.name, `gw-${start + k}`), ctx.signal),
        ),
      );
      for (const g of batch) {
        ctx.defer(() => g.close());
        const arrivals = new Arrivals();
        g.on('topology', (doc) => arrivals.note(doc.revision));
        if (gateways.length === 0) g.on('topology', (_doc, snapshot) => (sample = snapshot));
        gateways.push(g);
        gatewayArrivals.push(arrivals);
      }
    }
    const clients: WaymarkClient[] = [];
    const clientArrivals: Arrivals[] = [];
    for (let i = 0; i < clientCount; i++) {
      const client = new WaymarkClient({
        bootstrap: [gateways[(i * 7) % gateways.length]!.url],
        region: regions[i % regions.length]!.name,
        environment: env,
        // Latency probes would contact every gateway at each revision: not what is measured here.
        probeLatency: false,
      });
      ctx.defer(() => client.close());
      const arrivals = new Arrivals();
      client.on('topology', (doc) => arrivals.note(doc.revision));
      clients.push(client);
      clientArrivals.push(arrivals);
    }
    await Promise.all(clients.map((c) => c.ready()));
    // Settled: every gateway registered and seen by all, every client on the latest revision.
    await waitFor(
      () => {
        const top = Math.max(...gateways.map((g) => g.revision));
        return (
          gateways.every((g) => g.revision === top && g.document?.regions.reduce((n, r) => n + r.gateways.length, 0) === gatewayCount) &&
          clients.every((c) => c.topology()?.revision === top)
        );
      },
      { timeoutMs: 30_000, intervalMs: 50, what: 'every gateway and client on the same revision' },
    );

    const toGateways: number[] = [];
    const toFirstGateway: number[] = [];
    const toClients: number[] = [];
    const perGateway: number[] = [];
    const perClient: number[] = [];
    const commitMs: number[] = [];
    let timeouts = 0;
    const current = new Map(services.map((s) => [s.name, s]));
    ctx.log(`applying ${changes} changes, one at a time`);
    for (let k = 0; k < changes; k++) {
      ctx.signal.throwIfAborted();
      const changed = flipFailover(current.get(services[k % services.length]!.name)!, regions.map((r) => r.name), k);
      current.set(changed.name, changed);
      const t0 = performance.now();
      const revision = await writeTopology(conn, layout, env, { services: [changed] });
      commitMs.push(performance.now() - t0);
      const deadline = AbortSignal.any([ctx.signal, AbortSignal.timeout(CHANGE_TIMEOUT_MS)]);
      // Every gateway and client waits on it.
      setMaxListeners(gatewayArrivals.length + clientArrivals.length + 10, deadline);
      try {
        await Promise.all([...gatewayArrivals, ...clientArrivals].map((a) => a.reached(revision, deadline)));
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        timeouts++;
      }
      const delays = (arrivals: Arrivals[]) => arrivals.map((a) => (a.firstAtLeast(revision) ?? Number.POSITIVE_INFINITY) - t0);
      const g = delays(gatewayArrivals);
      const c = delays(clientArrivals);
      perGateway.push(...g);
      perClient.push(...c);
      toGateways.push(Math.max(...g));
      toFirstGateway.push(Math.min(...g));
      toClients.push(Math.max(...c));
      // A pause as between real applies: the gateways' status reports settle first.
      await sleep(50, undefined, { signal: ctx.signal });
    }

    // What one gateway spends on each change, and so what 50 of them cost this machine.
    const build = summarize(sample ? measureDocumentBuild(sample, regions[0]!.name, 20).publication : []);
    const all = percentiles(toGateways);
    const allClients = percentiles(toClients);
    const one = percentiles(perGateway);
    const first = percentiles(toFirstGateway);
    const oneClient = percentiles(perClient);
    const target = atMost(100, '< 100 ms');
    return {
      rounds: 1,
      setup: [
        `${gatewayCount} gateways in the runner process (each its own etcd connection, watch and lease), ${clientCount} SDK clients on long-poll spread over them`,
        `${regions.length} regions, ${services.length} services; each change moves one service's failover region (writeTopology → commitChanges); ${changes} changes, one at a time, 50 ms apart`,
        `delays are from the start of the commit call, so they include the etcd write itself (median ${percentiles(commitMs).p50.toFixed(2)} ms)`,
      ],
      metrics: [
        statMetric('to every gateway: p50', 'ms', all.p50, changes),
        statMetric('to every gateway: p99', 'ms', all.p99, changes, target),
        statMetric('to every gateway: max', 'ms', all.max, changes),
        statMetric('to every SDK client: p50', 'ms', allClients.p50, changes),
        statMetric('to every SDK client: p99', 'ms', allClients.p99, changes, target),
        statMetric('to every SDK client: max', 'ms', allClients.max, changes),
        statMetric('to the first gateway (queued behind none): p50', 'ms', first.p50, changes),
        statMetric('to the first gateway (queued behind none): p99', 'ms', first.p99, changes),
        statMetric('to one gateway: p50', 'ms', one.p50, perGateway.length),
        statMetric('to one gateway: p99', 'ms', one.p99, perGateway.length),
        statMetric('to one SDK client: p50', 'ms', oneClient.p50, perClient.length),
        statMetric('to one SDK client: p99', 'ms', oneClient.p99, perClient.length),
        statMetric('changes not everywhere within 10 s', 'count', timeouts, changes, atMost(0, '= 0')),
        statMetric("one gateway's document build per change (median)", 'ms', build.median, build.n),
        statMetric(`  × ${gatewayCount} gateways: CPU per change on this machine`, 'ms', build.median * gatewayCount, build.n),
      ],
      notes: [
        `all ${gatewayCount} gateways share this process's event loop and 2 cores: each rebuilds its document in turn, so the last one waits for the others (a gateway on its own machine does not); the build figures above say how much of the delay that is`,
        'Eureka clients see a new instance after ~2 minutes; an API manager reconciling every minute, within 60 s',
      ],
      details: { toGateways, toFirstGateway, toClients, commitMs },
    };
  },
};

/** The same service with its failover moved to another deployed region (or cleared), so its public entry changes. */
function flipFailover(service: ServiceDefinition, regionNames: readonly string[], k: number): ServiceDefinition {
  const deployed = service.deployments.map((d) => d.region);
  const candidates = service.placement === 'global' ? regionNames : deployed;
  const options = [undefined, ...candidates.filter((r) => r !== service.failover?.[0])];
  const next = options[(k % (options.length - 1)) + 1] ?? options[0];
  const { failover: _dropped, ...rest } = service;
  return next === undefined ? rest : { ...rest, failover: [next] };
}
