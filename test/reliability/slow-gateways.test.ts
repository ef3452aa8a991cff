import { expect } from 'chai';
import { WaymarkClient, type EjectionEvent } from '../../client-sdk/index.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startBackend, startGateway, writeTopology, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { region, useEtcd } from '../support/store.js';
import { startTraffic } from '../support/traffic.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

const ATTEMPT_TIMEOUT_MS = 1000;
const SLOW_MS = 5000;

/**
 * eu-west has three gateways, in the order the SDK tries them: `eu-a` is reached through a fault
 * proxy in black-hole mode (connections accepted, nothing answered), `eu-b` through one that
 * delays every answer by 5 s, `eu-c` directly. The SDK's attempt timeout and ejection must keep
 * client latency bounded and move traffic to eu-c.
 */
describe('black-holed and slow gateways', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const proxies: FaultProxy[] = [];
  const gateways: StartedGateway[] = [];
  let backend: TestBackend | undefined;
  let client: WaymarkClient | undefined;
  after(async () => {
    await client?.close();
    for (const g of gateways) await g.close();
    for (const p of proxies) await p.close();
    await backend?.close();
  });

  it('keeps the SDK\'s p99 bounded by its attempt timeout and moves traffic to the healthy gateway', async () => {
    const env = uniqueEnv('slow');
    backend = await startBackend('eu');
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU')],
      services: [{ name: 'catalog', basePath: '/catalog/v1', placement: 'regional', deployments: [{ region: 'eu-west', upstreams: [backend.url] }] }],
    });
    const behindProxy = async (id: string) => {
      const port = await freePort();
      const proxy = await startFaultProxy({ target: `127.0.0.1:${port}` });
      proxies.push(proxy);
      gateways.push(await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id, port, publicUrl: proxy.url }));
      return proxy;
    };
    const hole = await behindProxy('eu-a');
    const slow = await behindProxy('eu-b');
    gateways.push(await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'eu-c' }));
    hole.blackhole();
    slow.delay(SLOW_MS, 'toClient');

    client = new WaymarkClient({
      bootstrap: [gateways[2]!.url],
      region: 'eu-west',
      environment: env,
      probeLatency: false,
      attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
      connectTimeoutMs: 500,
    });
    const ejections: EjectionEvent[] = [];
    client.on('ejected', (e) => ejections.push(e));
    await client.ready();
    await waitFor(() => client!.topology()?.regions[0]?.gateways.length === 3, { what: 'all three gateways in the topology' });
    expect(client.resolve('catalog').candidates.map((c) => c.gateway.id)).to.deep.equal(['eu-a', 'eu-b', 'eu-c']);

    const traffic = startTraffic(client, { service: 'catalog', workers: 4, pauseMs: 5, maxDurationMs: 8000 });
    const stats = await traffic.done();
    expect(stats.failures.map((f) => f.error)).to.deep.equal([]);
    expect(Object.keys(stats.servedBy)).to.deep.equal(['eu-c']);
    // A call meets at most the two bad gateways before eu-c: two attempt timeouts, plus margin.
    expect(stats.maxMs).to.be.below(2 * ATTEMPT_TIMEOUT_MS + 700);
    expect(stats.p50Ms).to.be.below(100);
    const ejected = new Set(ejections.map((e) => `${e.gateway.id} ${e.error}`));
    expect([...ejected].sort()).to.deep.equal(['eu-a ATTEMPT_TIMEOUT', 'eu-b ATTEMPT_TIMEOUT']);
    console.log(
      `      black hole + 5 s gateway: ${stats.calls} GETs, ${stats.failures.length} failed; latency p50 ${stats.p50Ms} ms, p99 ${stats.p99Ms} ms, max ${stats.maxMs} ms ` +
        `(attempt timeout ${ATTEMPT_TIMEOUT_MS} ms); ${ejections.length} ejections; all served by eu-c`,
    );
  });
});
