import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectEtcd, KeyLayout } from '../../store/index.js';
import { writeTopology } from '../../test/support/gateway.js';
import { ensureNginx, startNginxBaseline } from '../baselines/nginx.js';
import { startBackendProcess } from '../fixtures/backend.js';
import { spawnReadyGateway } from '../fixtures/gateways.js';
import type { Benchmark, BenchContext, BenchmarkReport, Metric } from '../harness/benchmark.js';
import { assertClean, type LoadResult, type LoadSpec } from '../harness/load.js';
import { alternate, atLeast, atMost, differences, ratios, roundsMetric } from '../harness/rounds.js';

/** The path every target is asked for: the backend answers any path with the same small JSON. */
const PATH = '/catalog/v1/items/42';

type Server = 'direct' | 'gateway' | 'nginx';

/** The gateway as users start it, with its per-request log line (default) and without (`--quiet`). */
type CliGateway = 'logging' | 'quiet';

/** Workers of the multi-core comparison: `waymark gateway --workers N` vs nginx `worker_processes N`. */
const WORKERS = 2;
type MultiCore = 'gateway' | 'nginx';

/**
 * A small GET through the gateway to a local backend, against the backend called directly and
 * nginx (Debian's package, one worker, keep-alive upstream) proxying to the same backend. The
 * gateway is `waymark gateway` as users start it: the built CLI, default flags, its own process,
 * its request log on (to a file, as nginx's buffered access log is). Throughput at saturation,
 * then latency at a moderate paced rate, then the request log's cost (default vs `--quiet`).
 */
export const proxy: Benchmark = {
  name: 'proxy',
  title: 'a small GET through the gateway vs the backend called directly and vs nginx',
  async run(ctx: BenchContext): Promise<BenchmarkReport> {
    const notes: string[] = [];
    const backend = await startBackendProcess();
    ctx.defer(() => backend.close());
    const endpoints = await ctx.etcd();
    const conn = connectEtcd({ endpoints });
    ctx.defer(() => conn.close());
    const env = 'bench-proxy';
    await writeTopology(conn, new KeyLayout(), env, {
      regions: [{ name: 'eu-west', jurisdiction: 'EU' }],
      services: [{ name: 'catalog', basePath: '/catalog/v1', placement: 'regional', deployments: [{ region: 'eu-west', upstreams: [backend.url] }] }],
    });
    const logs = mkdtempSync(join(tmpdir(), 'waymark-bench-proxy-'));
    ctx.defer(() => rmSync(logs, { recursive: true, force: true }));
    const cli: Record<CliGateway, string> = { logging: '', quiet: '' };
    for (const variant of Object.keys(cli) as CliGateway[]) {
      const spawned = await spawnReadyGateway(
        {
          etcd: endpoints,
          environment: env,
          region: 'eu-west',
          id: `gw-proxy-${variant}`,
          leaseTtlSeconds: 10,
          build: 'dist',
          logFile: join(logs, `${variant}.log`),
          extraArgs: variant === 'quiet' ? ['--quiet'] : [],
        },
        ctx.signal,
      );
      ctx.defer(() => spawned.stop());
      cli[variant] = `${spawned.url}${PATH}`;
    }

    const urls: Partial<Record<Server, string>> = { direct: `${backend.url}${PATH}`, gateway: cli.logging };
    const nginx = ensureNginx({ install: ctx.mode === 'full', log: (l) => ctx.log(l) });
    let nginxVersion: string | undefined;
    if (nginx.available) {
      const running = await startNginxBaseline(nginx.binary, nginx.version, { backend: backend.address });
      ctx.defer(() => running.close());
      urls.nginx = `${running.url}${PATH}`;
      nginxVersion = running.version;
    } else {
      notes.push(`nginx baseline skipped: ${nginx.reason}`);
    }
    const targets = (Object.keys(urls) as Server[]).sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b));
    let bodyBytes = 0;
    for (const t of targets) {
      const res = await fetch(urls[t]!);
      const body = await res.text();
      if (res.status !== 200 || !body.includes('widget')) throw new Error(`${t} answered ${res.status}: ${body.slice(0, 200)}`);
      bodyBytes = body.length;
    }

    const saturated = { connections: ctx.pick(32, 16), durationSeconds: ctx.pick(3, 0.5) };
    const moderate = { connections: 8, durationSeconds: ctx.pick(3, 0.5), rate: ctx.pick(1000, 500) };
    const warmUp = ctx.pick(1, 0);
    for (const t of warmUp > 0 ? targets : []) await ctx.load.run({ ...saturated, durationSeconds: warmUp, url: urls[t]! }, ctx.signal);

    const measure = async (spec: Omit<LoadSpec, 'url'>, what: string) => {
      ctx.log(`${what}: ${ctx.rounds} rounds of ${targets.join(', ')}, alternated`);
      const runs = await alternate(targets, ctx.rounds, (t) => ctx.load.run({ ...spec, url: urls[t]! }, ctx.signal), ctx.signal);
      for (const t of targets) assertClean(`${what}, ${t}`, runs[t]);
      return runs;
    };
    const sat = await measure(saturated, 'saturation');
    const mod = await measure(moderate, 'moderate load');
    ctx.log(`logging: ${ctx.rounds} rounds of the CLI-started gateway with its request log line and with --quiet, alternated`);
    const cliVariants = Object.keys(cli) as CliGateway[];
    for (const v of warmUp > 0 ? cliVariants : []) await ctx.load.run({ ...saturated, durationSeconds: warmUp, url: cli[v] }, ctx.signal);
    const logged = await alternate(cliVariants, ctx.rounds, (v) => ctx.load.run({ ...saturated, url: cli[v] }, ctx.signal), ctx.signal);
    for (const v of cliVariants) assertClean(`logging, ${v}`, logged[v]);

    // Multi-core: the gateway as users start it with --workers (default flags otherwise) vs nginx with as many workers.
    const multi: Partial<Record<MultiCore, string>> = {};
    let multiRuns: Record<string, LoadResult[]> | undefined;
    if (nginx.available) {
      const spawned = await spawnReadyGateway(
        {
          etcd: endpoints,
          environment: env,
          region: 'eu-west',
          id: 'gw-proxy-workers',
          leaseTtlSeconds: 10,
          build: 'dist',
          logFile: join(logs, 'workers.log'),
          extraArgs: ['--workers', String(WORKERS)],
        },
        ctx.signal,
      );
      ctx.defer(() => spawned.stop());
      multi.gateway = `${spawned.url}${PATH}`;
      const running = await startNginxBaseline(nginx.binary, nginx.version, { backend: backend.address, workers: WORKERS });
      ctx.defer(() => running.close());
      multi.nginx = `${running.url}${PATH}`;
      const multiTargets = Object.keys(multi) as MultiCore[];
      for (const t of multiTargets) {
        const res = await fetch(multi[t]!);
        if (res.status !== 200) throw new Error(`${t} with ${WORKERS} workers answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
        await res.arrayBuffer();
      }
      ctx.log(`${WORKERS} workers: ${ctx.rounds} rounds of waymark gateway --workers ${WORKERS} and nginx worker_processes ${WORKERS}, alternated`);
      for (const t of warmUp > 0 ? multiTargets : []) await ctx.load.run({ ...saturated, durationSeconds: warmUp, url: multi[t]! }, ctx.signal);
      multiRuns = await alternate(multiTargets, ctx.rounds, (t) => ctx.load.run({ ...saturated, url: multi[t]! }, ctx.signal), ctx.signal);
      for (const t of multiTargets) assertClean(`${WORKERS} workers, ${t}`, multiRuns[t]);
    }

    const rps = (t: Server) => sat[t].map((r: LoadResult) => r.rps);
    const metrics: Metric[] = targets.map((t) => roundsMetric(`saturated: ${t}`, 'req/s', rps(t)));
    metrics.push(roundsMetric('saturated: ratio gateway/direct', 'ratio', ratios(rps('gateway'), rps('direct'))));
    if (urls.nginx) {
      metrics.push(
        roundsMetric('saturated: ratio nginx/direct', 'ratio', ratios(rps('nginx'), rps('direct'))),
        roundsMetric('saturated: ratio gateway/nginx', 'ratio', ratios(rps('gateway'), rps('nginx')), atLeast(0.6, '≥ 0.6× nginx')),
      );
    }
    const cliRps = (v: CliGateway) => logged[v].map((r: LoadResult) => r.rps);
    metrics.push(
      roundsMetric('saturated: CLI gateway, request log on (default)', 'req/s', cliRps('logging')),
      roundsMetric('saturated: CLI gateway, --quiet', 'req/s', cliRps('quiet')),
      roundsMetric('saturated: ratio request log on/off', 'ratio', ratios(cliRps('logging'), cliRps('quiet')), atLeast(0.85, '≥ 0.85×')),
    );
    if (multiRuns) {
      const multiRps = (t: MultiCore) => multiRuns[t].map((r: LoadResult) => r.rps);
      metrics.push(
        roundsMetric(`saturated, ${WORKERS} workers: CLI gateway --workers ${WORKERS}`, 'req/s', multiRps('gateway')),
        roundsMetric(`saturated, ${WORKERS} workers: nginx`, 'req/s', multiRps('nginx')),
        roundsMetric(`saturated, ${WORKERS} workers: ratio gateway/nginx`, 'ratio', ratios(multiRps('gateway'), multiRps('nginx')), atLeast(0.6, '≥ 0.6× nginx')),
      );
    }
    for (const t of targets) {
      metrics.push(roundsMetric(`saturated: ${t} p50`, 'ms', sat[t].map((r) => r.latencyMs.p50)), roundsMetric(`saturated: ${t} p99`, 'ms', sat[t].map((r) => r.latencyMs.p99)));
    }
    const p = (t: Server, q: 'p50' | 'p99') => mod[t].map((r) => r.latencyMs[q]);
    for (const t of targets) metrics.push(roundsMetric(`moderate: ${t} p50`, 'ms', p(t, 'p50')), roundsMetric(`moderate: ${t} p99`, 'ms', p(t, 'p99')));
    for (const t of targets.filter((x) => x !== 'direct')) {
      metrics.push(
        roundsMetric(`moderate: ${t} added p50 over direct`, 'ms', differences(p(t, 'p50'), p('direct', 'p50'))),
        roundsMetric(`moderate: ${t} added p99 over direct`, 'ms', differences(p(t, 'p99'), p('direct', 'p99')), t === 'gateway' ? atMost(2, '< 2 ms') : undefined),
      );
    }
    return {
      setup: [
        `GET ${PATH}, a ${bodyBytes}-byte JSON answer from a node:http backend in its own process; gateway: \`waymark gateway\` built (dist/), default flags, its own process, request log to a file; ` +
          (nginxVersion ? `nginx ${nginxVersion} (1 worker, upstream keepalive 64, access log buffered 64 KiB / 1 s to a file)` : 'no nginx'),
        'logging on/off: that gateway (default flags) vs another started with --quiet',
        `${WORKERS} workers: \`waymark gateway --workers ${WORKERS}\` (default flags otherwise: request log on) vs nginx worker_processes ${WORKERS}, same backend`,
        `saturation: ${ctx.load.describe(saturated)}; moderate: ${ctx.load.describe(moderate)}; each from another process${warmUp > 0 ? `, after a ${warmUp} s warm-up of each target` : ''}`,
      ],
      metrics,
      notes,
      details: { saturated: sat, moderate: mod, logging: logged, ...(multiRuns ? { workers: multiRuns } : {}) },
    };
  },
};

const ORDER: readonly Server[] = ['direct', 'gateway', 'nginx'];
