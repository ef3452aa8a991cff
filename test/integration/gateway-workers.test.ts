import { expect } from 'chai';
import type { GatewayReport, TopologyDocument } from '../../openapi/index.js';
import { parseExposition, sumSamples, type MetricSample } from '../../telemetry/index.js';
import { spawnGateway, startBackend, writeTopology, type SpawnedGateway, type TestBackend } from '../support/gateway.js';
import { childPids, isRunning } from '../support/processes.js';
import { getOnNewConnection } from '../support/raw-http.js';
import { region, serviceWith, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

const WORKERS = 2;

describe('waymark gateway --workers 2 (real etcd, real processes)', function () {
  this.timeout(90_000);
  const ctx = useEtcd();
  const cleanup: Array<() => Promise<void>> = [];
  const spawned: SpawnedGateway[] = [];
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') for (const g of spawned) process.stderr.write(g.output());
    while (cleanup.length) await cleanup.pop()!();
  });

  interface Scene {
    env: string;
    backend: TestBackend;
    gateway: SpawnedGateway;
    /** The worker pids when the gateway was ready. */
    workers: number[];
  }

  async function scene(): Promise<Scene> {
    const env = uniqueEnv('workers');
    const backend = await startBackend('catalog');
    cleanup.push(() => backend.close());
    await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west')], services: [serviceWith('catalog', { 'eu-west': [backend.url] })] });
    const gateway = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-multi', leaseTtlSeconds: 30, extraArgs: ['--workers', String(WORKERS)] });
    spawned.push(gateway);
    cleanup.push(async () => {
      const pids = workerPids(gateway);
      gateway.kill('SIGKILL');
      await gateway.exited;
      // Workers exit when the primary's IPC channel closes; never leave one behind.
      await waitFor(() => pids.every((pid) => !isRunning(pid)), { what: 'the workers to exit', timeoutMs: 10_000 });
    });
    // The primary says `listening` once every worker listens.
    await waitFor(() => gateway.output().split('\n').some((l) => l.includes('"worker":"primary"') && l.includes('"event":"listening"')), {
      what: `${WORKERS} workers to listen`,
      timeoutMs: 30_000,
    });
    expect(workerPids(gateway)).to.have.length(WORKERS);
    // Connections go to the workers in turn: a run of answers that all list the gateway covers every worker.
    await waitFor(
      async () => {
        for (let i = 0; i < WORKERS * 3; i++) {
          const res = await getOnNewConnection(`${gateway.url}/.well-known/topology`);
          if (res.status !== 200 || !(JSON.parse(res.body) as TopologyDocument).regions.some((r) => r.gateways.some((g) => g.id === 'gw-multi'))) return false;
        }
        return true;
      },
      { what: 'every worker to list the gateway', timeoutMs: 20_000 },
    );
    return { env, backend, gateway, workers: workerPids(gateway) };
  }

  /** The gateway's worker processes (the primary's children running the CLI, not tsx's esbuild). */
  function workerPids(gateway: SpawnedGateway): number[] {
    return childPids(gateway.pid, 'cli/waymark.ts');
  }

  async function scrape(url: string): Promise<MetricSample[]> {
    const res = await getOnNewConnection(`${url}/metrics`);
    expect(res.status, res.body).to.equal(200);
    return parseExposition(res.body);
  }

  const proxied = (samples: MetricSample[]) => sumSamples(samples, 'waymark_gateway_requests_total', (l) => l.route === 'proxy' && l.status === '200');

  async function registrationKeys(env: string): Promise<string[]> {
    const key = ctx.layout.gateway(env, 'eu-west', 'gw-multi');
    const keys = await ctx.conn.client.getAll().prefix(key.slice(0, key.lastIndexOf('/') + 1)).keys();
    return keys.filter((k) => k === key);
  }

  it('serves the topology and proxies from every worker, under one registration, with /metrics totals for the whole gateway', async () => {
    const { env, gateway } = await scene();
    expect(await registrationKeys(env)).to.have.length(1);
    const report = JSON.parse((await ctx.conn.client.get(ctx.layout.report(env, 'eu-west', 'gw-multi')).string())!) as GatewayReport;
    expect(report.id).to.equal('gw-multi');

    const sent = 20;
    for (let i = 0; i < sent; i++) {
      const res = await getOnNewConnection(`${gateway.url}/catalog/v1/items/${i}`);
      expect(res.status, res.body).to.equal(200);
      expect((JSON.parse(res.body) as { backend: string }).backend).to.equal('catalog');
    }
    // A response can reach the client a moment before its worker counts it: poll.
    let samples: MetricSample[] = [];
    await waitFor(
      async () => {
        samples = await scrape(gateway.url);
        return proxied(samples) === sent;
      },
      { what: `/metrics to count the ${sent} proxied requests`, timeoutMs: 10_000 },
    );
    // Whichever worker answers the scrape, the totals are the gateway's.
    for (let i = 0; i < 4; i++) expect(proxied(await scrape(gateway.url))).to.equal(sent);
    expect(sumSamples(samples, 'waymark_gateway_workers')).to.equal(WORKERS);
    const perWorker = samples.filter((s) => s.name === 'waymark_gateway_worker_requests_total' && s.value > 0);
    expect(new Set(perWorker.map((s) => s.labels.pid)).size, 'workers that answered requests').to.equal(WORKERS);
    expect(sumSamples(samples, 'waymark_gateway_registered')).to.equal(1);
    expect(await registrationKeys(env)).to.have.length(1);
  });

  it('an etcd change reaches every worker, and the report says the oldest revision served', async () => {
    const { env, backend, gateway } = await scene();
    const revision = await writeTopology(ctx.conn, ctx.layout, env, {
      services: [serviceWith('catalog', { 'eu-west': [backend.url] }), serviceWith('orders', { 'eu-west': [backend.url] })],
    });
    // Connections go to the workers in turn: a run of answers all at the new revision covers every worker.
    await waitFor(
      async () => {
        for (let i = 0; i < WORKERS * 3; i++) {
          const res = await getOnNewConnection(`${gateway.url}/.well-known/topology`);
          if (Number(res.headers['x-waymark-revision']) < revision) return false;
        }
        return true;
      },
      { what: `every worker to serve revision ${revision}`, timeoutMs: 15_000 },
    );
    await waitFor(
      async () => {
        const report = JSON.parse((await ctx.conn.client.get(ctx.layout.report(env, 'eu-west', 'gw-multi')).string()) ?? '{}') as Partial<GatewayReport>;
        return (report.appliedRevision ?? 0) >= revision;
      },
      { what: 'the report to reach the revision', timeoutMs: 10_000 },
    );
  });

  it('replaces a worker killed with SIGKILL, keeps answering meanwhile, and its counters stay in the totals', async () => {
    const { gateway, workers } = await scene();
    for (let i = 0; i < 10; i++) expect((await getOnNewConnection(`${gateway.url}/catalog/v1/x`)).status).to.equal(200);
    await waitFor(async () => proxied(await scrape(gateway.url)) === 10, { what: 'the 10 requests to be counted', timeoutMs: 10_000 });

    const [victim] = workers;
    process.kill(victim, 'SIGKILL');
    // The other worker answers while the victim is replaced. A connection the primary handed to
    // the victim as it died is lost (as with any process that dies): each try has its own deadline.
    let answered = 0;
    await waitFor(
      async () => {
        if (isRunning(victim)) return false;
        const ok = (await getOnNewConnection(`${gateway.url}/catalog/v1/x`, {}, 2_000)).status === 200;
        if (ok) answered++;
        return ok;
      },
      { what: 'an answer with one worker down', timeoutMs: 15_000 },
    );
    await waitFor(
      () => {
        const now = workerPids(gateway);
        return now.length === WORKERS && !now.includes(victim);
      },
      { what: 'the worker to be replaced', timeoutMs: 20_000 },
    );
    // Every worker answers again, and the scrape finds both.
    await waitFor(async () => sumSamples(await scrape(gateway.url), 'waymark_gateway_workers') === WORKERS, { what: 'both workers in /metrics', timeoutMs: 20_000 });
    // The killed worker's requests (as last scraped) stay in the totals: the counter never goes back.
    let samples: MetricSample[] = [];
    await waitFor(
      async () => {
        samples = await scrape(gateway.url);
        return proxied(samples) === 10 + answered;
      },
      { what: `/metrics to count ${10 + answered} proxied requests`, timeoutMs: 10_000 },
    );
    expect(sumSamples(samples, 'waymark_gateway_worker_restarts_total')).to.equal(1);
    expect(gateway.output()).to.include('"event":"workerExited"');
  });

  it('on SIGTERM deregisters, finishes in-flight requests and long-polls, and exits 0 with every worker', async () => {
    const { env, backend, gateway, workers } = await scene();
    // Held until a revision past the newest any worker serves (a worker behind would answer at once).
    let revision = 0;
    for (let i = 0; i < WORKERS * 3; i++) {
      revision = Math.max(revision, Number((await getOnNewConnection(`${gateway.url}/.well-known/topology`)).headers['x-waymark-revision']));
    }
    const slow = getOnNewConnection(`${gateway.url}/catalog/v1/slow?ms=1500`);
    const held = getOnNewConnection(`${gateway.url}/.well-known/topology?wait=${revision}&timeout=60`, {}, 70_000);
    await waitFor(() => backend.received.some((r) => r.url.includes('/slow')), { what: 'the slow request to reach the backend', timeoutMs: 10_000 });
    await waitFor(async () => sumSamples(await scrape(gateway.url), 'waymark_gateway_longpolls_held') === 1, { what: 'the long-poll to be held', timeoutMs: 10_000 });

    gateway.kill('SIGTERM');
    await waitFor(async () => (await registrationKeys(env)).length === 0, { what: 'the registration to go', timeoutMs: 5_000 });
    expect((await slow).status).to.equal(200);
    expect([200, 304]).to.include((await held).status);
    const exit = await gateway.exited;
    expect(exit.code, gateway.output()).to.equal(0);
    await waitFor(() => workers.every((pid) => !isRunning(pid)), { what: 'no worker left behind', timeoutMs: 5_000 });
    expect(await ctx.conn.client.get(ctx.layout.report(env, 'eu-west', 'gw-multi')).string()).to.equal(null);
    expect(gateway.output()).to.include('"event":"draining"');
  });
});
