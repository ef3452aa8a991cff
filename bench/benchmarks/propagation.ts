import { mkdtempSync, rmSync } from 'node:fs';
import { setMaxListeners } from 'node:events';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { WaymarkClient } from '../../client-sdk/index.js';
import type { ServiceDefinition } from '../../openapi/index.js';
import { connectEtcd, KeyLayout, readEnvironment } from '../../store/index.js';
import { writeTopology } from '../../test/support/gateway.js';
import { waitFor } from '../../test/support/wait.js';
import { measureDocumentBuild } from '../fixtures/document-build.js';
import { cpuSecondsOf, spawnReadyGateways } from '../fixtures/gateways.js';
import { RevisionProbe } from '../fixtures/revision-probe.js';
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

  /** The latest revision that arrived (0 before any). */
  get latest(): number {
    return this.seen.at(-1)?.revision ?? 0;
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
/** Gateway processes starting at once: each start is a second or two of CPU. */
const SPAWN_CONCURRENCY = 4;

/**
 * 50 gateways, each a `waymark gateway` process as deployed (default flags, its own etcd
 * connection, watch and lease), and 20 SDK clients on long-poll in the runner, spread over the
 * gateways. A change is applied 50 times; each time, the delay from the apply's commit to every
 * gateway serving the new revision (a long-poll probe per gateway, answered) and to every client
 * holding it (its 'topology' event).
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

    const logs = mkdtempSync(join(tmpdir(), 'waymark-bench-propagation-'));
    ctx.defer(() => rmSync(logs, { recursive: true, force: true }));
    ctx.log(`starting ${gatewayCount} gateway processes (${SPAWN_CONCURRENCY} at a time) and ${clientCount} SDK clients`);
    const spawnStarted = performance.now();
    const gateways = await spawnReadyGateways(
      Array.from({ length: gatewayCount }, (_, k) => ({
        etcd: endpoints,
        environment: env,
        region: regions[k % regions.length]!.name,
        id: `gw-${k}`,
        leaseTtlSeconds: 10,
        // As deployed: the built CLI, its log to a file (not to a pipe the runner, which runs the clients, must read).
        build: 'dist' as const,
        logFile: join(logs, `gw-${k}.log`),
      })),
      SPAWN_CONCURRENCY,
      ctx.signal,
    );
    ctx.defer(() => Promise.all(gateways.map((g) => g.stop())));
    ctx.log(`${gatewayCount} gateways ready in ${((performance.now() - spawnStarted) / 1000).toFixed(1)} s`);
    const gatewayArrivals = gateways.map(() => new Arrivals());
    const probes = gateways.map((g, k) => new RevisionProbe(g.url, (revision) => gatewayArrivals[k]!.note(revision)));
    ctx.defer(() => probes.forEach((p) => p.close()));
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
    // Settled: every gateway and client on the latest revision, in which every gateway is registered.
    await waitFor(
      () => {
        const top = Math.max(...gatewayArrivals.map((a) => a.latest));
        return (
          gatewayArrivals.every((a) => a.latest === top) &&
          clients.every((c) => c.topology()?.revision === top && c.topology()?.regions.reduce((n, r) => n + r.gateways.length, 0) === gatewayCount)
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
    const cpuBefore = { gateways: gateways.map((g) => cpuSecondsOf(g.pid) ?? 0), runner: process.cpuUsage() };
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

    // CPU over the changes (50 ms pauses included): all gateway processes together, and the runner (clients, probes).
    const gatewayCpuMs = gateways.reduce((sum, g, i) => sum + ((cpuSecondsOf(g.pid) ?? 0) - cpuBefore.gateways[i]!) * 1000, 0);
    const runnerCpu = process.cpuUsage(cpuBefore.runner);
    const runnerCpuMs = (runnerCpu.user + runnerCpu.system) / 1000;
    const probeErrors = probes.reduce((n, p) => n + p.errors, 0);
    // What one gateway spends on each change, and so what 50 of them cost this machine.
    const sample = (await readEnvironment(conn, layout, env)).snapshot;
    const build = summarize(measureDocumentBuild(sample, regions[0]!.name, 20).publication);
    const all = percentiles(toGateways);
    const allClients = percentiles(toClients);
    const one = percentiles(perGateway);
    const first = percentiles(toFirstGateway);
    const oneClient = percentiles(perClient);
    const target = atMost(100, '< 100 ms');
    return {
      rounds: 1,
      setup: [
        `${gatewayCount} \`waymark gateway\` processes as deployed (built CLI, default flags: request log on, to a file; each its own etcd connection, watch and lease), ${clientCount} SDK clients on long-poll in the runner process, spread over them`,
        'a gateway serves a revision when its long-poll probe (one per gateway, in the runner) is answered with it',
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
        statMetric('probe long-polls failed and retried', 'count', probeErrors, changes, atMost(0, '= 0')),
        statMetric("one gateway's document build per change (median)", 'ms', build.median, build.n),
        statMetric(`  × ${gatewayCount} gateways: CPU per change on this machine`, 'ms', build.median * gatewayCount, build.n),
        statMetric(`CPU per change, all ${gatewayCount} gateway processes`, 'ms', gatewayCpuMs / changes, changes),
        statMetric('CPU per change, runner (SDK clients and probes)', 'ms', runnerCpuMs / changes, changes),
      ],
      notes: [
        `the ${gatewayCount} gateway processes share this machine's ${availableParallelism()} cores: a change wakes them all at once, so the last one serves it after the others' work; the CPU figures above say how much work that is`,
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
