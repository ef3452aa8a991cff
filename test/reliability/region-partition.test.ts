import { expect } from 'chai';
import { WaymarkClient } from '../../client-sdk/index.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startBackend, startGateway, writeTopology, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { region, service, useEtcd } from '../support/store.js';
import { startTraffic, type Traffic } from '../support/traffic.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

function listed(doc: TopologyDocument | undefined, id: string): boolean {
  return doc?.regions.some((r) => r.gateways.some((g) => g.id === id)) ?? false;
}

/**
 * eu-west is cut off from etcd (its gateway reaches etcd through a fault proxy that resets every
 * connection), not from its backends or its clients. `catalog` runs in eu-west and eu-central,
 * eu-west first; the SDK client sits in us-east, where catalog is not deployed.
 */
describe('partition of a region from etcd', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const env = uniqueEnv('partition');
  let proxy: FaultProxy | undefined;
  const backends: TestBackend[] = [];
  const gateways: Record<string, StartedGateway> = {};
  let client: WaymarkClient | undefined;
  let traffic: Traffic | undefined;
  after(async () => {
    await traffic?.stop();
    await client?.close();
    for (const g of Object.values(gateways)) await g.close();
    await proxy?.close();
    for (const b of backends) await b.close();
  });

  it('keeps the cut-off region serving stale and proxying, routes other regions around it, and resyncs on heal', async () => {
    backends.push(await startBackend('eu-west'), await startBackend('eu-central'));
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU'), region('eu-central', 'EU'), region('us-east', 'US')],
      services: [
        {
          name: 'catalog',
          basePath: '/catalog/v1',
          placement: 'regional',
          failover: ['eu-west', 'eu-central'],
          deployments: [
            { region: 'eu-west', upstreams: [backends[0]!.url] },
            { region: 'eu-central', upstreams: [backends[1]!.url] },
          ],
        },
      ],
    });
    proxy = await startFaultProxy({ target: new URL(ctx.etcd.endpoints[0]!).host });
    gateways['eu-west'] = await startGateway({ etcd: [proxy.url], environment: env, region: 'eu-west', id: 'ew-gw' });
    gateways['eu-central'] = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-central', id: 'ec-gw' });
    gateways['us-east'] = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'us-east', id: 'us-gw' });
    const others = [gateways['eu-central'], gateways['us-east']];
    client = new WaymarkClient({ bootstrap: [gateways['us-east'].url], region: 'us-east', environment: env, probeLatency: false, connectTimeoutMs: 500 });
    await client.ready();
    await waitFor(() => listed(client!.topology(), 'ew-gw') && listed(client!.topology(), 'ec-gw'), { what: 'every gateway in the client topology' });
    traffic = startTraffic(client, { service: 'catalog', workers: 2, pauseMs: 10, maxDurationMs: 45_000 });
    await waitFor(() => (traffic!.stats().servedBy['ew-gw'] ?? 0) >= 20, { what: 'traffic through eu-west' });
    const ew = gateways['eu-west'];
    const lastBefore = ew.gateway.revision;

    proxy.cut();
    const cutAt = Date.now();
    await waitFor(() => ew.gateway.stale, { what: 'eu-west to notice the partition', timeoutMs: 5000 });
    const staleMs = Date.now() - cutAt;
    const res = await fetch(`${ew.url}/.well-known/topology`);
    const doc = (await res.json()) as TopologyDocument;
    expect(doc.stale).to.equal(true);
    expect(doc.revision).to.equal(lastBefore);
    expect(res.headers.get('x-waymark-stale-since')).to.match(/GMT$/);
    expect(doc.services.map((s) => s.name)).to.deep.equal(['catalog']);
    const direct = await fetch(`${ew.url}/catalog/v1/direct`);
    expect(((await direct.json()) as { backend: string }).backend).to.equal('eu-west');

    // Its lease cannot be kept alive: it leaves the other regions' documents, then the client's.
    await waitFor(() => others.every((g) => !listed(g.gateway.document, 'ew-gw')), { what: 'the lease to expire', timeoutMs: 10_000 });
    const vanishedMs = Date.now() - cutAt;
    await waitFor(() => !listed(client!.topology(), 'ew-gw'), { what: 'the client to drop eu-west' });
    const droppedAt = Date.now();
    await waitFor(() => (traffic!.servedSince(droppedAt)['ec-gw'] ?? 0) >= 20, { what: 'traffic to move to eu-central' });
    expect(traffic.servedSince(droppedAt)['ew-gw'] ?? 0, 'calls still sent to eu-west after it left the topology').to.equal(0);
    // A change while partitioned: the others take it, eu-west cannot.
    const during = await writeTopology(ctx.conn, ctx.layout, env, { services: [service('during', ['eu-central'])] });
    await waitFor(() => others.every((g) => g.gateway.revision >= during), { what: 'the others to take a change' });
    expect(ew.gateway.revision).to.equal(lastBefore);
    expect((await fetch(`${ew.url}/catalog/v1/still`)).status).to.equal(200);

    proxy.heal();
    const healedAt = Date.now();
    await waitFor(() => !ew.gateway.stale && ew.gateway.revision >= during && ew.gateway.registrationState === 'registered', {
      what: 'eu-west to resync and register again',
      timeoutMs: 20_000,
    });
    const resyncMs = Date.now() - healedAt;
    await waitFor(() => others.every((g) => listed(g.gateway.document, 'ew-gw')) && listed(client!.topology(), 'ew-gw'), {
      what: 'eu-west back in every topology',
      timeoutMs: 10_000,
    });
    const backMs = Date.now() - healedAt;
    const backAt = Date.now();
    await waitFor(() => (traffic!.servedSince(backAt)['ew-gw'] ?? 0) >= 20, { what: 'traffic to return to eu-west' });
    expect(ew.gateway.document!.services.map((s) => s.name)).to.deep.equal(['catalog', 'during']);

    const stats = await traffic.stop();
    expect(stats.failures.map((f) => f.error)).to.deep.equal([]);
    console.log(
      `      partition: eu-west stale after ${staleMs} ms, gone from other regions' documents after ${vanishedMs} ms (lease TTL 2 s), ` +
        `${stats.calls} SDK calls from us-east, ${stats.failures.length} failed; heal: fresh after ${resyncMs} ms, back in every topology after ${backMs} ms`,
    );
  });
});
