import { buildDocument } from '../../gateway/document.js';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Resolver } from '../../client-sdk/index.js';
import { connectEtcd, gatewayKey, KeyLayout, TopologySnapshot } from '../../store/index.js';
import { writeTopology } from '../../test/support/gateway.js';
import { startBackendProcess } from '../fixtures/backend.js';
import { gatewayOptions, startInProcessGateway } from '../fixtures/gateways.js';
import { makeGatewayRegistrations, makeRegions, makeServices } from '../fixtures/topology.js';
import type { Benchmark, BenchContext, BenchmarkReport } from '../harness/benchmark.js';
import { IpcWorker } from '../harness/ipc-worker.js';
import { alternate, atLeast, atMost, ratios, roundsMetric, statMetric } from '../harness/rounds.js';
import type { HttpClientJob, HttpClientResult } from '../workers/http-client.js';

const HTTP_CLIENT_WORKER = fileURLToPath(new URL('../workers/http-client.ts', import.meta.url));

/**
 * The SDK's cost to an application: request() against plain axios calling the same gateway URL
 * (same concurrency, alternating rounds, from a process of their own), and the resolver's cost
 * per call at 10 000 services. Plain axios is measured twice: as apps call it (it follows
 * redirects, through follow-redirects), and with maxRedirects 0, the exchange the SDK makes
 * (it never follows a redirect), so that skipping follow-redirects does not hide the SDK's own cost.
 */
export const sdk: Benchmark = {
  name: 'sdk',
  title: 'SDK request() vs plain axios to the same gateway; resolver cost per call at 10 000 services',
  async run(ctx: BenchContext): Promise<BenchmarkReport> {
    const concurrency = 16;
    const durationMs = ctx.pick(3000, 500);
    const warmUpMs = ctx.pick(2000, 200);
    const backend = await startBackendProcess();
    ctx.defer(() => backend.close());
    const endpoints = await ctx.etcd();
    const conn = connectEtcd({ endpoints });
    ctx.defer(() => conn.close());
    const env = 'bench-sdk';
    const region = 'eu-west';
    await writeTopology(conn, new KeyLayout(), env, {
      regions: [{ name: region, jurisdiction: 'EU' }],
      services: [{ name: 'catalog', basePath: '/catalog/v1', placement: 'regional', deployments: [{ region, upstreams: [backend.url] }] }],
    });
    const gateway = await startInProcessGateway(gatewayOptions(endpoints, env, region, 'gw-sdk'), ctx.signal);
    ctx.defer(() => gateway.close());
    const worker = new IpcWorker<HttpClientJob, HttpClientResult>(HTTP_CLIENT_WORKER, 'the http-client worker');
    ctx.defer(() => worker.close());

    const job = (mode: HttpClientJob['mode'], measureMs: number, warm: number): HttpClientJob => ({
      mode,
      gatewayUrl: gateway.url,
      environment: env,
      region,
      service: 'catalog',
      basePath: '/catalog/v1',
      path: '/items/42',
      concurrency,
      durationMs: measureMs,
      warmUpMs: warm,
    });
    ctx.log(`request(): ${ctx.rounds} rounds of sdk, axios and axios without redirects, alternated`);
    const modes = ['sdk', 'axios', 'axios-no-redirects'] as const;
    // Every client warms up before the first round (JIT, connections, the gateway's path), so
    // that the first round does not measure whichever comes first still cold.
    for (const mode of modes) await worker.request(job(mode, warmUpMs, 0), ctx.signal);
    const runs = await alternate(modes, ctx.rounds, (mode) => worker.request(job(mode, durationMs, 0), ctx.signal), ctx.signal);
    const direct = runs['axios-no-redirects'];
    const failed = [...runs.sdk, ...runs.axios, ...direct].find((r) => r.errors > 0 || r.requests === 0);
    if (failed) throw new Error(`a client run had ${failed.errors} errors out of ${failed.requests + failed.errors} calls`);
    await worker.close();
    await gateway.close();

    ctx.log('resolver: 10 000 services');
    const resolver = measureResolver(ctx.pick(5, 1), ctx.pick(1_000_000, 100_000));
    const rps = (r: HttpClientResult[]) => r.map((x) => x.rps);
    const cpu = (r: HttpClientResult[]) => r.map((x) => x.cpuUsPerRequest);
    return {
      setup: [
        `client process (SDK or axios, reused across rounds) → gateway in the runner process → node:http backend in its own process`,
        `${concurrency} calls in flight, ${durationMs / 1000} s per round after a ${warmUpMs / 1000} s warm-up of each before the first round; plain axios is axios.get(url) with Node's keep-alive global agent, as apps call it (redirects followed, through follow-redirects) and with maxRedirects 0 (the SDK's exchange: no redirect followed)`,
        `resolver: ${resolver.services} services over ${resolver.regions} regions with ${resolver.gateways} gateways; ${resolver.calls.toLocaleString('en-US')} resolve() calls per round after materializing every route`,
      ],
      metrics: [
        roundsMetric('request(): SDK', 'req/s', rps(runs.sdk)),
        roundsMetric('request(): plain axios', 'req/s', rps(runs.axios)),
        roundsMetric('request(): axios, maxRedirects 0', 'req/s', rps(direct)),
        roundsMetric('request(): ratio SDK/axios', 'ratio', ratios(rps(runs.sdk), rps(runs.axios)), atLeast(0.95, '≥ 0.95× axios')),
        roundsMetric('request(): ratio SDK/axios maxRedirects 0', 'ratio', ratios(rps(runs.sdk), rps(direct)), atLeast(0.95, '≥ 0.95× the same exchange')),
        roundsMetric('client CPU per call: SDK', 'µs', cpu(runs.sdk)),
        roundsMetric('client CPU per call: plain axios', 'µs', cpu(runs.axios)),
        roundsMetric('client CPU per call: axios, maxRedirects 0', 'µs', cpu(direct)),
        roundsMetric('client CPU per call: ratio SDK/axios', 'ratio', ratios(cpu(runs.sdk), cpu(runs.axios))),
        roundsMetric('client CPU per call: ratio SDK/axios maxRedirects 0', 'ratio', ratios(cpu(runs.sdk), cpu(direct))),
        roundsMetric('request(): SDK p99', 'ms', runs.sdk.map((r) => r.latencyMs.p99)),
        roundsMetric('request(): plain axios p99', 'ms', runs.axios.map((r) => r.latencyMs.p99)),
        roundsMetric('request(): axios, maxRedirects 0 p99', 'ms', direct.map((r) => r.latencyMs.p99)),
        roundsMetric('resolve() at 10 000 services', 'ns', resolver.nsPerCall, atMost(2000, '< 2 µs')),
        statMetric('resolver build at 10 000 services', 'ms', resolver.buildMs, 1),
      ],
      notes: ['the client process, the gateway and the backend share 2 cores: the ratio is of whole round trips, the CPU per call is the client\'s alone'],
      details: { request: runs, resolverNsPerCall: resolver.nsPerCall },
    };
  },
};

/** ns per Resolver.resolve() call at 10 000 services, one figure per round (the approach of test/unit/resolver.test.ts). */
function measureResolver(rounds: number, calls: number): { nsPerCall: number[]; buildMs: number; services: number; regions: number; gateways: number; calls: number } {
  const regions = makeRegions(6);
  const services = makeServices(10_000, regions);
  const gateways = makeGatewayRegistrations(18, regions);
  const doc = buildDocument(new TopologySnapshot(
    'bench',
    1,
    new Map(regions.map((r) => [r.name, r])),
    new Map(services.map((s) => [s.name, s])),
    new Map(gateways.map((g) => [gatewayKey(g.region, g.id), g])),
  ), { maxStaleSeconds: 300, refreshIntervalSeconds: 30, refreshJitterSeconds: 5 });
  const buildStart = performance.now();
  const { resolver } = Resolver.build(doc, { region: regions[0]!.name });
  const buildMs = performance.now() - buildStart;
  const names = services.map((s) => s.name);
  let sink = 0;
  for (const name of names) sink += resolver.resolve(name).candidates.length;
  const nsPerCall: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) sink += resolver.resolve(names[i % names.length]!).candidates.length;
    nsPerCall.push(((performance.now() - start) * 1e6) / calls);
  }
  // Keeps the loop from being optimized away.
  if (sink === 0) throw new Error('the resolver returned no candidates');
  return { nsPerCall, buildMs, services: services.length, regions: regions.length, gateways: gateways.length, calls };
}
