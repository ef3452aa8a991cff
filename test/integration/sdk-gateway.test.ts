import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NoHealthyGatewayError, WaymarkClient, type LastResortEvent, type StaleEvent } from '../../client-sdk/index.js';
import type { RequestInfo } from '../../gateway/index.js';
import type { ServiceDefinition, TopologyDocument } from '../../openapi/index.js';
import { spawnGateway, startBackend, startGateway, writeTopology, type SpawnedGateway, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { region, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/**
 * The SDK against real gateways on loopback and a real etcd. eu-west (EU) runs as a child process
 * so it can be SIGKILLed; us-east and us-west (US) run in this process so the test can see every
 * request they receive. The tests share one setup and run in order, as one story.
 */
describe('SDK against real gateways (etcd, loopback)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const env = uniqueEnv('sdk');
  const backends: Record<string, TestBackend> = {};
  const received: Record<string, RequestInfo[]> = { 'us-east': [], 'us-west': [] };
  const inProcess: StartedGateway[] = [];
  let euWest: SpawnedGateway | undefined;
  let euPort = 0;
  let client: WaymarkClient;
  const lastResort: LastResortEvent[] = [];
  let dir: string;
  const regions = ['eu-west', 'us-east', 'us-west'];

  const served = (res: { data: unknown }) => (res.data as { backend: string }).backend;
  const deployments = (names: string[], upstream: (r: string) => string = (r) => backends[r]!.url) =>
    names.map((r) => ({ region: r, upstreams: [upstream(r)] }));

  before(async function () {
    this.timeout(60_000);
    dir = mkdtempSync(join(tmpdir(), 'waymark-sdk-gw-'));
    for (const r of regions) backends[r] = await startBackend(r);
    const services: ServiceDefinition[] = [
      { name: 'catalog', basePath: '/catalog/v1', placement: 'regional', failover: ['us-east'], deployments: deployments(regions) },
      { name: 'hr', basePath: '/hr/v1', placement: 'pinned', jurisdictions: ['EU'], deployments: deployments(['eu-west']) },
      // eu-west's upstream of `flaky` is a closed port: its gateway answers 502.
      {
        name: 'flaky',
        basePath: '/flaky/v1',
        placement: 'regional',
        failover: ['us-east'],
        deployments: deployments(regions, (r) => (r === 'eu-west' ? 'http://127.0.0.1:1' : backends[r]!.url)),
      },
    ];
    await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west', 'EU'), region('us-east', 'US'), region('us-west', 'US')], services });
    euPort = await freePort();
    euWest = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'eu-gw', port: euPort });
    for (const r of ['us-east', 'us-west']) {
      const g = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: r, id: `${r}-gw` });
      g.gateway.on('request', (info) => received[r]!.push(info));
      inProcess.push(g);
    }
    client = new WaymarkClient({
      bootstrap: [inProcess[0]!.url, euWest.url],
      region: 'eu-west',
      environment: env,
      cacheFile: join(dir, 'topology.json'),
      ejectionBaseMs: 500,
      attemptTimeoutMs: 3000,
      connectTimeoutMs: 500,
    });
    client.on('lastResort', (e) => lastResort.push(e));
    await client.ready();
    await waitFor(() => client.topology()?.regions.every((r) => r.gateways.length === 1), { timeoutMs: 15_000, what: 'every gateway in the topology' });
    // Every gateway's own document too: a gateway whose watch never got going would serve its first read.
    for (const url of [euWest.url, ...inProcess.map((g) => g.url)]) {
      await waitFor(
        async () => ((await (await fetch(`${url}/.well-known/topology`)).json()) as TopologyDocument).regions.every((r) => r.gateways.length === 1),
        { timeoutMs: 15_000, what: `every gateway in the document of ${url}` },
      );
    }
  });

  after(async () => {
    await client?.close();
    euWest?.kill('SIGKILL');
    await euWest?.exited;
    for (const g of inProcess) await g.close();
    for (const b of Object.values(backends)) await b.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('routes a call to the gateway of the local region', async () => {
    const held = client.topology()!.revision;
    const res = await client.request('catalog', { method: 'GET', url: '/items/42' });
    expect(served(res)).to.equal('eu-west');
    expect((res.data as { url: string }).url).to.equal('/catalog/v1/items/42');
    // The gateway may already serve a newer revision (a registration in flight); the client then catches up.
    const answered = Number(res.headers['x-waymark-revision']);
    expect(answered).to.be.at.least(held);
    await waitFor(() => client.topology()!.revision >= answered, { what: `the client to reach revision ${answered}` });
  });

  it('picks up a topology change through the long-poll without polling delay', async () => {
    const before = client.topology()!.revision;
    const started = Date.now();
    await writeTopology(ctx.conn, ctx.layout, env, {
      services: [{ name: 'reports', basePath: '/reports', placement: 'regional', deployments: deployments(['us-west']) }],
    });
    await waitFor(() => client.topology()!.revision > before && client.topology()!.services.some((s) => s.name === 'reports'), {
      timeoutMs: 5000,
      intervalMs: 5,
      what: 'the new service',
    });
    expect(Date.now() - started).to.be.lessThan(1000);
    expect(served(await client.request('reports', { url: '/r' }))).to.equal('us-west');
  });

  it('does not retry a POST that reached a gateway (502), but does retry a GET, elsewhere', async () => {
    const before = received['us-east']!.filter((i) => i.service === 'flaky').length;
    const err = await client.request('flaky', { method: 'POST', url: '/orders', data: { n: 1 } }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NoHealthyGatewayError);
    expect((err as NoHealthyGatewayError).attempts.map((a) => [a.region, a.status])).to.deep.equal([['eu-west', 502]]);
    expect(received['us-east']!.filter((i) => i.service === 'flaky').length).to.equal(before);
    const failovers: string[] = [];
    client.on('failover', (e) => failovers.push(`${e.from.region}->${e.to.region}`));
    // The 502 ejected eu-west for `flaky` only: wait for that to end so the GET meets it first.
    await waitFor(async () => {
      const res = await client.request('flaky', { url: '/items' });
      return served(res) === 'us-east' && failovers.includes('eu-west->us-east');
    }, { timeoutMs: 5000, what: 'a GET failing over from eu-west' });
    expect(served(await client.request('catalog', { url: '/still-eu' }))).to.equal('eu-west');
  });

  it('loses no GET when the local gateway is killed mid-stream; traffic moves to the failover region', async () => {
    const servedBy: string[] = [];
    const failures: unknown[] = [];
    let killed = false;
    const worker = async () => {
      for (let i = 0; i < 60; i++) {
        try {
          servedBy.push(served(await client.request('catalog', { url: `/items/${i}` })));
        } catch (err) {
          failures.push(err);
        }
        if (servedBy.length === 40 && !killed) {
          killed = true;
          euWest!.kill('SIGKILL');
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(failures.map((e) => String(e))).to.deep.equal([]);
    expect(servedBy.slice(0, 20).every((s) => s === 'eu-west')).to.equal(true);
    expect(servedBy.slice(-40).every((s) => s === 'us-east'), servedBy.slice(-40).join()).to.equal(true);
    await euWest!.exited;
  });

  it('fails a pinned service whose only region is dead with NoHealthyGatewayError, never crossing jurisdictions', async () => {
    await waitFor(() => !client.topology()!.regions.find((r) => r.name === 'eu-west')!.gateways.length, {
      timeoutMs: 10_000,
      what: 'the dead gateway to leave the topology (lease expiry)',
    });
    for (let i = 0; i < 5; i++) {
      const err = await client.request('hr', { url: `/people/${i}` }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(NoHealthyGatewayError);
      expect((err as NoHealthyGatewayError).attempts.every((a) => a.region === 'eu-west')).to.equal(true);
    }
    // The update that removed eu-west's gateway left hr none: its last gateways were kept as a last resort.
    expect(lastResort.map((e) => [e.service, e.gateways.map((g) => g.region)])).to.deep.include(['hr', ['eu-west']]);
    const hrElsewhere = [...received['us-east']!, ...received['us-west']!].filter((i) => i.service === 'hr' || i.path?.startsWith('/hr'));
    expect(hrElsewhere).to.deep.equal([]);
    expect(backends['us-east']!.received.filter((r) => r.url.startsWith('/hr'))).to.deep.equal([]);
  });

  it('sends traffic back to the local gateway once it is back and its ejection has ended', async () => {
    euWest = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'eu-gw', port: euPort });
    await waitFor(() => client.topology()!.regions.find((r) => r.name === 'eu-west')!.gateways.length === 1, {
      timeoutMs: 15_000,
      what: 'eu-west back in the topology',
    });
    await waitFor(async () => served(await client.request('catalog', { url: '/back' })) === 'eu-west', {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'traffic to return to eu-west',
    });
    expect(served(await client.request('hr', { url: '/people/1' }))).to.equal('eu-west');
  });

  it('starts from its cache file when every gateway is down', async () => {
    const revision = client.topology()!.revision;
    await client.close();
    euWest!.kill('SIGKILL');
    await euWest!.exited;
    for (const g of inProcess.splice(0)) await g.close();
    const cold = new WaymarkClient({ bootstrap: [`http://127.0.0.1:${euPort}`], environment: env, cacheFile: join(dir, 'topology.json'), probeLatency: false });
    try {
      const stale: StaleEvent[] = [];
      cold.on('stale', (e) => stale.push(e));
      await cold.ready();
      expect(cold.topology()?.revision).to.equal(revision);
      expect(stale.map((e) => e.reason)).to.deep.equal(['cache']);
      expect(stale[0]!.failures[0]!.error).to.include('ECONNREFUSED');
      expect(cold.resolve('catalog').candidates.length).to.be.greaterThan(0);
    } finally {
      await cold.close();
    }
  });
});
