import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectEtcd, KeyLayout } from '../../store/index.js';
import { writeTopology } from '../../test/support/gateway.js';
import { captureResponse, headerValue, startBareServer } from '../baselines/bare-server.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { waitFor } from '../../test/support/wait.js';
import { gatewayOptions, lists, spawnReadyGateway, startInProcessGateway } from '../fixtures/gateways.js';
import { makeGatewayRegistrations, makeRegions, makeServices, putGatewayRegistrations } from '../fixtures/topology.js';
import type { Benchmark, BenchContext, BenchmarkReport, Metric, Target } from '../harness/benchmark.js';
import { assertClean, assertNotModified, type LoadResult } from '../harness/load.js';
import { alternate, atLeast, ratios, roundsMetric } from '../harness/rounds.js';

const TOPOLOGY_PATH = '/.well-known/topology';

/** The three ways a client asks for the document. */
const VARIANTS = ['full 200 identity', 'full 200 gzip', 'conditional 304'] as const;
type Variant = (typeof VARIANTS)[number];

/** The in-process gateway, `waymark gateway` as users start it (default flags: a log line per request), and the bare server. */
const SERVERS = ['gateway', 'cli', 'bare'] as const;
type Server = (typeof SERVERS)[number];

const TARGETS: Record<Variant, Target> = {
  'full 200 identity': atLeast(0.8, '≥ 0.8× bare'),
  'full 200 gzip': atLeast(0.8, '≥ 0.8× bare'),
  'conditional 304': atLeast(0.9, '≥ 0.9× bare'),
};

/**
 * GET /.well-known/topology on one gateway holding a realistic topology, against a bare
 * node:http server that sends the very bytes the gateway sent (its status line, headers and
 * body, prepared in advance): the ceiling for Node on this machine. Both run in this process;
 * the load comes from another one.
 */
export const discovery: Benchmark = {
  name: 'discovery',
  title: 'GET /.well-known/topology: gateway vs a bare node:http server sending the same bytes',
  async run(ctx: BenchContext): Promise<BenchmarkReport> {
    const size = { regions: 6, services: 200, gateways: 30 };
    const connections = ctx.pick(32, 16);
    const durationSeconds = ctx.pick(3, 0.5);
    const endpoints = await ctx.etcd();
    const conn = connectEtcd({ endpoints });
    ctx.defer(() => conn.close());
    const layout = new KeyLayout();
    const env = 'bench-discovery';
    const regions = makeRegions(size.regions);
    await writeTopology(conn, layout, env, { regions, services: makeServices(size.services, regions) });
    // The two gateways under test register themselves: they are the 29th and 30th.
    await putGatewayRegistrations(conn, layout, env, makeGatewayRegistrations(size.gateways - 2, regions));
    const gateway = await startInProcessGateway(gatewayOptions(endpoints, env, regions[0]!.name, 'gw-under-test'), ctx.signal);
    ctx.defer(() => gateway.close());
    const gatewayUrl = `${gateway.url}${TOPOLOGY_PATH}`;
    const cliId = 'gw-under-test-cli';
    const logs = mkdtempSync(join(tmpdir(), 'waymark-bench-discovery-'));
    ctx.defer(() => rmSync(logs, { recursive: true, force: true }));
    const cli = await spawnReadyGateway(
      { etcd: endpoints, environment: env, region: regions[0]!.name, id: cliId, leaseTtlSeconds: 10, build: 'dist', logFile: join(logs, 'gateway.log') },
      ctx.signal,
    );
    ctx.defer(() => cli.stop());
    const cliUrl = `${cli.url}${TOPOLOGY_PATH}`;
    // The bare server sends what the in-process gateway sends once both gateways are listed.
    await waitFor(async () => lists((await (await fetch(gatewayUrl)).json()) as TopologyDocument, cliId), { timeoutMs: 30_000, what: 'the gateway to list the CLI one' });

    const identity = await captureResponse(gatewayUrl);
    const gzip = await captureResponse(gatewayUrl, { 'accept-encoding': 'gzip' });
    const etag = headerValue(identity.headers, 'etag');
    if (!etag) throw new Error('the gateway sent no ETag');
    const notModified = await captureResponse(gatewayUrl, { 'if-none-match': etag });
    if (identity.status !== 200 || gzip.status !== 200 || notModified.status !== 304 || headerValue(gzip.headers, 'content-encoding') !== 'gzip') {
      throw new Error(`unexpected answers from the gateway: ${identity.status}, ${gzip.status} (${headerValue(gzip.headers, 'content-encoding')}), ${notModified.status}`);
    }
    const cliEtag = headerValue((await captureResponse(cliUrl)).headers, 'etag');
    if (!cliEtag) throw new Error('the CLI gateway sent no ETag');
    const bare = await startBareServer({ identity, gzip, notModified, etag });
    ctx.defer(() => bare.close());
    const bareUrl = `${bare.url}${TOPOLOGY_PATH}`;

    const headers = (v: Variant, server: Server): Record<string, string> =>
      v === 'full 200 identity' ? {} : v === 'full 200 gzip' ? { 'accept-encoding': 'gzip' } : { 'if-none-match': server === 'cli' ? cliEtag : etag };
    const urls: Record<Server, string> = { gateway: gatewayUrl, cli: cliUrl, bare: bareUrl };
    const spec = { connections, durationSeconds };
    const warmUp = ctx.pick(1, 0);
    ctx.log(`document ${identity.body.length} B (gzip ${gzip.body.length} B)`);
    for (const server of warmUp > 0 ? SERVERS : []) {
      for (const v of VARIANTS) await ctx.load.run({ url: urls[server], connections, durationSeconds: warmUp, headers: headers(v, server) }, ctx.signal);
    }

    const metrics: Metric[] = [];
    const details: Record<string, unknown> = {};
    for (const variant of VARIANTS) {
      ctx.log(`${variant}: ${ctx.rounds} rounds of gateway, CLI gateway and bare node, alternated`);
      const runs = await alternate(SERVERS, ctx.rounds, (target) => ctx.load.run({ ...spec, url: urls[target], headers: headers(variant, target) }, ctx.signal), ctx.signal);
      assertClean(variant, [...runs.gateway, ...runs.cli, ...runs.bare]);
      if (variant === 'conditional 304') assertNotModified(variant, [...runs.gateway, ...runs.cli, ...runs.bare]);
      const rps = (r: LoadResult[]) => r.map((x) => x.rps);
      metrics.push(
        roundsMetric(`${variant}: gateway`, 'req/s', rps(runs.gateway)),
        roundsMetric(`${variant}: bare node`, 'req/s', rps(runs.bare)),
        roundsMetric(`${variant}: ratio gateway/bare`, 'ratio', ratios(rps(runs.gateway), rps(runs.bare)), TARGETS[variant]),
        roundsMetric(`${variant}: CLI gateway (default flags)`, 'req/s', rps(runs.cli)),
        roundsMetric(`${variant}: ratio CLI gateway/bare`, 'ratio', ratios(rps(runs.cli), rps(runs.bare)), TARGETS[variant]),
        roundsMetric(`${variant}: gateway p50`, 'ms', runs.gateway.map((r) => r.latencyMs.p50)),
        roundsMetric(`${variant}: gateway p99`, 'ms', runs.gateway.map((r) => r.latencyMs.p99)),
        roundsMetric(`${variant}: bare node p50`, 'ms', runs.bare.map((r) => r.latencyMs.p50)),
        roundsMetric(`${variant}: bare node p99`, 'ms', runs.bare.map((r) => r.latencyMs.p99)),
      );
      details[variant] = runs;
    }
    return {
      setup: [
        `${size.services} services, ${size.regions} regions, ${size.gateways} gateways; document ${identity.body.length} B, gzip ${gzip.body.length} B`,
        `gateway and bare server in the runner process, \`waymark gateway\` (default flags, request log piped to the runner) in its own; load: ${ctx.load.describe(spec)} from another process${warmUp > 0 ? `, after a ${warmUp} s warm-up of each` : ''}`,
      ],
      metrics,
      details,
    };
  },
};
