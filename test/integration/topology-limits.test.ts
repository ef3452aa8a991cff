import { expect } from 'chai';
import type { TopologyDocument } from '../../openapi/index.js';
import { TOPOLOGY_LIMITS } from '../../topology/index.js';
import { useScene, writeTopology } from '../support/gateway.js';
import { region, serviceWith, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** The gateway applies the SDK's caps (TOPOLOGY_LIMITS) to what it would publish. */
describe('gateway and topology limits (real etcd)', function () {
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
});
