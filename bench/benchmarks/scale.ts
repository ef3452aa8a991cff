import { get } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceDefinition } from '../../openapi/index.js';
import { connectEtcd, gatewayKey, KeyLayout, TopologySnapshot } from '../../store/index.js';
import { applyManifests, type OperationContext } from '../../registry/index.js';
import { writeTopology } from '../../test/support/gateway.js';
import { freePort } from '../../test/support/ports.js';
import { captureResponse, headerValue } from '../baselines/bare-server.js';
import { measureDocumentBuild } from '../fixtures/document-build.js';
import { memoryOf, spawnReadyGateway } from '../fixtures/gateways.js';
import { makeGatewayRegistrations, makeRegions, makeServices, putGatewayRegistrations, toManifests } from '../fixtures/topology.js';
import type { Benchmark, BenchContext, BenchmarkReport, Metric } from '../harness/benchmark.js';
import { assertClean, assertNotModified } from '../harness/load.js';
import { atMost, roundsMetric, statMetric } from '../harness/rounds.js';

const TOPOLOGY_PATH = '/.well-known/topology';

/**
 * An environment of 10 000 services, 100 regions and 1 000 gateways: the atomic apply (through
 * the registry's applyManifests, which the store chunks), the document's size, the time from a
 * change to the new document being served, the gateway's memory, and discovery throughput at
 * that size.
 */
export const scale: Benchmark = {
  name: 'scale',
  title: '10 000 services, 100 regions, 1 000 gateways: apply, document size and build, gateway memory, discovery req/s',
  async run(ctx: BenchContext): Promise<BenchmarkReport> {
    const size = ctx.pick({ services: 10_000, regions: 100, gateways: 1000 }, { services: 500, regions: 20, gateways: 50 });
    const changes = ctx.pick(10, 2);
    const endpoints = await ctx.etcd();
    const conn = connectEtcd({ endpoints, callTimeoutMs: 30_000 });
    ctx.defer(() => conn.close());
    const layout = new KeyLayout();
    const env = 'bench-scale';
    const regions = makeRegions(size.regions);
    let services = makeServices(size.services, regions);
    const op: OperationContext = { conn, layout, leaseId: () => undefined };
    const documents = (defs: readonly ServiceDefinition[]) => toManifests(regions, defs).map((value) => ({ value }));

    ctx.log(`applying ${size.services} services and ${size.regions} regions`);
    let t = performance.now();
    const first = await applyManifests(op, { environment: env, sources: [{ file: 'bench-scale.json', documents: documents(services) }] });
    const applyMs = performance.now() - t;
    if (first.summary.created !== size.services + size.regions) throw new Error(`the apply created ${first.summary.created} resources, not ${size.services + size.regions}`);
    t = performance.now();
    await putGatewayRegistrations(conn, layout, env, makeGatewayRegistrations(size.gateways - 1, regions));
    const registerMs = performance.now() - t;

    ctx.log('starting the gateway (child process)');
    t = performance.now();
    const gateway = await spawnReadyGateway({ etcd: endpoints, environment: env, region: regions[0]!.name, id: 'gw-scale', port: await freePort() }, ctx.signal);
    const readyMs = performance.now() - t;
    ctx.defer(() => gateway.stop());
    const url = `${gateway.url}${TOPOLOGY_PATH}`;

    ctx.log(`${changes} changes, each timed from the commit to the long-poll answer`);
    const served: number[] = [];
    const commits: number[] = [];
    const start = await captureResponse(url);
    let revision = Number(headerValue(start.headers, 'x-waymark-revision'));
    for (let k = 0; k < changes; k++) {
      ctx.signal.throwIfAborted();
      const poll = longPoll(`${url}?wait=${revision}&timeout=30`);
      // Let the long-poll reach the gateway before the change.
      await sleep(100, undefined, { signal: ctx.signal });
      const changed: ServiceDefinition = { ...services[k]!, basePath: `/${services[k]!.name}/v${k + 2}` };
      services = services.map((s) => (s.name === changed.name ? changed : s));
      const t0 = performance.now();
      await writeTopology(conn, layout, env, { services: [changed] });
      commits.push(performance.now() - t0);
      const answer = await poll;
      served.push(answer.at - t0);
      revision = answer.revision;
    }

    const identity = await captureResponse(url);
    const gzip = await captureResponse(url, { 'accept-encoding': 'gzip' });
    const br = await captureResponse(url, { 'accept-encoding': 'br' });
    // After the changes: the ETag of the document served now.
    const etag = headerValue(identity.headers, 'etag');
    if (identity.status !== 200 || !etag) throw new Error(`the gateway answered ${identity.status} without an ETag`);
    const docServices = (JSON.parse(identity.body.toString()) as { services: unknown[] }).services.length;
    if (docServices !== size.services) throw new Error(`the document lists ${docServices} services, not ${size.services}`);
    const notModified = await captureResponse(url, { 'if-none-match': etag });
    if (notModified.status !== 304) throw new Error(`the gateway answered ${notModified.status} to If-None-Match with its own ETag`);

    // Built from the definitions rather than read back: the build is what is timed.
    const snapshot = new TopologySnapshot(
      env,
      revision,
      new Map(regions.map((r) => [r.name, r])),
      new Map(services.map((s) => [s.name, s])),
      new Map(makeGatewayRegistrations(size.gateways, regions).map((g) => [gatewayKey(g.region, g.id), g])),
    );
    const components = measureDocumentBuild(snapshot, regions[0]!.name, ctx.pick(5, 1));

    const spec = { connections: ctx.pick(16, 8), durationSeconds: ctx.pick(3, 0.5) };
    const variants = { 'conditional 304': { 'if-none-match': etag }, 'full 200 gzip': { 'accept-encoding': 'gzip' } };
    const metrics: Metric[] = [];
    for (const [variant, headers] of Object.entries(variants)) {
      ctx.log(`discovery ${variant}: ${ctx.rounds} rounds`);
      if (ctx.mode === 'full') await ctx.load.run({ ...spec, durationSeconds: 1, url, headers }, ctx.signal);
      const runs = [];
      for (let round = 0; round < ctx.rounds; round++) runs.push(await ctx.load.run({ ...spec, url, headers }, ctx.signal));
      assertClean(`discovery ${variant} at scale`, runs);
      if (variant === 'conditional 304') assertNotModified(`discovery ${variant} at scale`, runs);
      metrics.push(
        roundsMetric(`discovery ${variant}`, 'req/s', runs.map((r) => r.rps)),
        roundsMetric(`discovery ${variant} p99`, 'ms', runs.map((r) => r.latencyMs.p99)),
      );
    }
    const memory = memoryOf(gateway.pid);

    ctx.log('applying one changed service through the registry');
    const smallApplies: number[] = [];
    const notes: string[] = [];
    try {
      for (let k = 0; k < ctx.pick(3, 1); k++) {
        const def = services[size.services - 1 - k]!;
        const changed: ServiceDefinition = { ...def, basePath: `/${def.name}/v9` };
        t = performance.now();
        const res = await applyManifests(op, { environment: env, sources: [{ file: 'one.json', documents: toManifests([], [changed]).map((value) => ({ value })) }] });
        smallApplies.push(performance.now() - t);
        if (res.summary.updated !== 1) throw new Error(`the apply of one service updated ${res.summary.updated}`);
      }
    } catch (err) {
      // A finding, not a harness failure: report it with the other figures.
      notes.push(`the apply of one changed service at this size failed: ${(err as Error).message}`);
    }

    metrics.unshift(
      statMetric(`apply of ${size.services} services + ${size.regions} regions (atomic, chunked)`, 'ms', applyMs, 1),
      ...(smallApplies.length > 0 ? [roundsMetric('apply of one changed service at that size', 'ms', smallApplies)] : []),
      statMetric(`${size.gateways - 1} gateway registrations (32 puts in flight)`, 'ms', registerMs, 1),
      statMetric('gateway start to ready (reads all, registers)', 'ms', readyMs, 1),
      statMetric('document, identity', 'KiB', identity.body.length / 1024, 1),
      statMetric('document, gzip', 'KiB', gzip.body.length / 1024, 1),
      statMetric('document, br', 'KiB', br.body.length / 1024, 1),
      roundsMetric('change → new document served (child gateway, long-poll answered)', 'ms', served),
      roundsMetric('  of which the commit (etcd write)', 'ms', commits),
      roundsMetric('document build after a change (in-process Publication)', 'ms', components.publication, atMost(50, '< 50 ms')),
      roundsMetric('  of which toDocument', 'ms', components.toDocument),
      roundsMetric('  of which the JSON text', 'ms', components.stringify),
      roundsMetric('  of which sha256 (ETag)', 'ms', components.hash),
      roundsMetric('  of which the route table', 'ms', components.routes),
      roundsMetric('first gzip request after a change: gzip level 6', 'ms', components.gzip),
      roundsMetric('first br request after a change: brotli quality 5', 'ms', components.brotli),
    );
    if (memory) metrics.push(statMetric('gateway RSS', 'MiB', memory.rssMiB, 1), statMetric('gateway peak RSS', 'MiB', memory.peakMiB, 1));
    return {
      setup: [
        `${size.services} services (70 % regional, 20 % pinned, 10 % global), ${size.regions} regions, ${size.gateways} gateways; etcd's stock 128 operations per transaction`,
        'the gateway under test is a `waymark gateway` child process (its RSS is its own); applies go through applyManifests in the runner process',
        `change → served: ${changes} changes of one service's base path, each timed from the start of the commit to the headers of a held long-poll's answer`,
        "build: the gateway's own Publication (document, bytes, ETag, route table) built in the runner process after a one-service change, unchanged services' entries and JSON reused; its pieces timed alone; gzip and br are compressed once each, on the first request for that coding",
        `discovery: ${ctx.load.describe(spec)}`,
      ],
      metrics,
      notes,
      details: { served, commits, components, applyMs, smallApplies },
    };
  },
};

/** A held long-poll: resolves when the answer's headers arrive (the body is drained, not timed). */
function longPoll(url: string): Promise<{ at: number; revision: number }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      const at = performance.now();
      res.resume();
      if (res.statusCode !== 200) return reject(new Error(`the long-poll was answered ${res.statusCode}, not 200 with the new document`));
      resolve({ at, revision: Number(res.headers['x-waymark-revision']) });
    });
    req.setTimeout(40_000, () => req.destroy(new Error('the long-poll was not answered within 40 s')));
    req.on('error', reject);
  });
}
