import { buildDocument } from '../../gateway/document.js';
import { expect } from 'chai';
import type { TopologyDocument } from '../../openapi/index.js';
import { readEnvironment } from '../../store/index.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startGateway, writeTopology, type StartedGateway } from '../support/gateway.js';
import { region, service, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** The parts of a document that come from etcd (not when or by whom it was served). */
function content(doc: Pick<TopologyDocument, 'regions' | 'services'>): string {
  return JSON.stringify({ regions: doc.regions, services: doc.services });
}

/**
 * A gateway's watch falls behind while its etcd connection is black-holed; meanwhile the
 * environment changes (a deletion included) and etcd compacts physically past the watch's resume
 * point. When the connection heals, the watch cannot resume (etcd3 reports a bare cancellation),
 * so the gateway must re-read and carry on.
 */
describe('compaction while a gateway\'s watch is behind', function () {
  this.timeout(30_000);
  const ctx = useEtcd();
  let proxy: FaultProxy | undefined;
  let g: StartedGateway | undefined;
  afterEach(async () => {
    await g?.close();
    await proxy?.close();
  });

  it('re-reads after the heal, serves exactly what a fresh read gives, and keeps watching', async () => {
    const env = uniqueEnv('compact');
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU')],
      services: ['hr', 'crm', 'doomed'].map((n) => service(n, ['eu-west'])),
    });
    proxy = await startFaultProxy({ target: new URL(ctx.etcd.endpoints[0]!).host });
    g = await startGateway({ etcd: [proxy.url], environment: env, region: 'eu-west', id: 'gw-1' });
    const before = g.gateway.revision;

    proxy.blackhole();
    const cutAt = Date.now();
    await waitFor(() => g!.gateway.stale, { what: 'the gateway to notice', timeoutMs: 5000 });
    let last = 0;
    for (let i = 0; i < 5; i++) {
      last = await writeTopology(ctx.conn, ctx.layout, env, { services: [service('hr', ['eu-west'], { basePath: `/hr/v${i + 2}` })] });
    }
    last = await writeTopology(ctx.conn, ctx.layout, env, { deleteServices: ['doomed'], services: [service('payroll', ['eu-west'])] });
    await ctx.conn.client.kv.compact({ revision: String(last), physical: true });
    expect(g.gateway.revision, 'nothing reached the gateway').to.equal(before);
    const served = (await (await fetch(`${g.url}/.well-known/topology`)).json()) as TopologyDocument;
    expect(served.stale).to.equal(true);
    expect(served.services.map((s) => s.name)).to.deep.equal(['crm', 'doomed', 'hr']);

    const healedAt = Date.now();
    proxy.heal();
    await waitFor(() => !g!.gateway.stale && g!.gateway.revision >= last, { what: 'the re-read after compaction', timeoutMs: 15_000 });
    const resyncMs = Date.now() - healedAt;
    const fresh = async () => {
      const read = await readEnvironment(ctx.conn, ctx.layout, env);
      return buildDocument(read.snapshot, { maxStaleSeconds: 300, refreshIntervalSeconds: 30, refreshJitterSeconds: 5 });
    };
    // The lease may have lapsed in the black hole: wait for the registration to settle too.
    await waitFor(async () => content(g!.gateway.document!) === content(await fresh()), { what: 'the document to equal a fresh read', timeoutMs: 10_000 });
    const doc = (await (await fetch(`${g.url}/.well-known/topology`)).json()) as TopologyDocument;
    expect(doc.stale).to.equal(false);
    expect(doc.services.map((s) => s.name)).to.deep.equal(['crm', 'hr', 'payroll']);
    expect(doc.services.find((s) => s.name === 'hr')!.basePath).to.equal('/hr/v6');
    expect(doc.revision).to.be.at.least(last);

    const after = await writeTopology(ctx.conn, ctx.layout, env, { services: [service('after', ['eu-west'])] });
    await waitFor(() => g!.gateway.revision >= after && g!.gateway.document!.services.some((s) => s.name === 'after'), {
      what: 'the watch to carry on after the re-read',
    });
    expect(content(g.gateway.document!)).to.equal(content(await fresh()));
    console.log(`      compaction: black hole ${healedAt - cutAt} ms, 6 writes and a physical compaction meanwhile; fresh again ${resyncMs} ms after the heal`);
  });
});
