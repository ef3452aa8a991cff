import { expect } from 'chai';
import type { TopologyDocument } from '../../openapi/index.js';
import { WaymarkClient } from '../../client-sdk/index.js';
import { TOPOLOGY_LIMITS } from '../../topology/index.js';
import { startHttpStub } from '../support/http-stub.js';
import { topologyDoc } from '../support/topology-doc.js';
import { useScene, writeTopology } from '../support/gateway.js';
import { region, serviceWith, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** The gateway and the SDK apply the same caps (TOPOLOGY_LIMITS): over them, the last good document stays. */
describe('gateway, SDK and topology limits (real etcd)', function () {
  this.timeout(120_000);
  const ctx = useEtcd();
  const scene = useScene(ctx);

  it('does not publish a snapshot over the caps: the last good document stays served, with a warning', async () => {
    const env = uniqueEnv('limits');
    const hr = await scene.backend('hr');
    await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west', 'EU')], services: [serviceWith('hr', { 'eu-west': [hr.url] })] });
    const gw = await scene.gateway(env, 'eu-west', 'gw-1');
    const warnings: string[] = [];
    gw.gateway.on('warning', (err) => warnings.push(`${(err as { code?: string }).code}: ${err.message}`));
    const good = (await (await fetch(`${gw.url}/.well-known/topology`)).json()) as TopologyDocument;
    // One gateway more than a region may list, registered straight in etcd (as a fleet, or a hostile writer, would).
    const now = new Date().toISOString();
    const n = TOPOLOGY_LIMITS.maxGatewaysPerRegion;
    for (let i = 0; i < n; i += 64) {
      await ctx.conn.call((c) => {
        const ops = Array.from({ length: Math.min(64, n - i) }, (_, j) =>
          c.put(ctx.layout.gateway(env, 'eu-west', `fleet-${i + j}`)).value(JSON.stringify({ id: `fleet-${i + j}`, region: 'eu-west', url: `http://10.1.${(i + j) >> 8}.${(i + j) & 255}:8080`, status: 'up', startedAt: now })),
        );
        return Promise.all(ops);
      });
    }
    await waitFor(() => warnings.some((w) => w.startsWith('TOPOLOGY_TOO_LARGE') && w.includes(`${n + 1} gateways in region eu-west, over the limit of ${n} per region`)), {
      timeoutMs: 30_000,
      what: 'the TOPOLOGY_TOO_LARGE warning',
    });
    // The last document within the caps (fleets register one by one) stays served.
    const etcdRevision = Number((await ctx.conn.client.get(ctx.layout.gateway(env, 'eu-west', 'gw-1')).exec()).header.revision);
    const served = (await (await fetch(`${gw.url}/.well-known/topology`)).json()) as TopologyDocument;
    expect(served.revision).to.be.above(good.revision).and.below(etcdRevision);
    expect(served.regions[0]!.gateways.length).to.equal(n);
  });

  it('the SDK rejects a document over the caps and keeps routing on the last good one', async () => {
    let base = '';
    const doc = (revision: number, regions: number) =>
      topologyDoc({ revision, regions: Array.from({ length: regions }, (_, i) => ({ name: `r${i}`, gateways: [{ url: base }] })), services: [{ name: 'hr', regions: ['r0'] }] });
    const gateway = await startHttpStub((url, res) => {
      if (url.pathname !== '/.well-known/topology') return res.end('{"ok":true}');
      res.setHeader('content-type', 'application/json');
      if (!url.searchParams.has('wait')) return res.end(JSON.stringify(doc(1, 2)));
      if (url.searchParams.get('wait') === '1') return res.end(JSON.stringify(doc(2, TOPOLOGY_LIMITS.maxRegions + 1)));
      // Later long-polls are held until the test ends.
    });
    scene.defer(() => gateway.close());
    base = gateway.url;
    const client = new WaymarkClient({ bootstrap: [gateway.url], region: 'r0', probeLatency: false });
    scene.defer(() => client.close());
    const rejected: Error[] = [];
    client.on('rejected', (err) => rejected.push(err));
    await client.ready();
    await waitFor(() => rejected.length > 0, { what: 'the document over the caps to be rejected' });
    expect(rejected.map((e) => e.message).join('\n')).to.contain('1001 regions, over the limit of 1000');
    expect(client.topology()?.revision).to.equal(1);
    expect((await client.request('hr', { url: '/x' })).status).to.equal(200);
  });
});
