import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Health, InternalTopology, TopologyDocument } from '../../openapi/index.js';
import { startBackend, startGateway, writeTopology } from '../support/gateway.js';
import { region, service, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

async function get(url: string): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
}

describe('gateway during etcd outages (real etcd, stopped and restarted)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const cleanup: Array<() => Promise<void>> = [];
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'waymark-gw-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()!();
    // Leave etcd running for the next test, whatever happened.
    await ctx.etcd.members[0].restart();
  });

  async function setup(): Promise<{ env: string }> {
    const env = uniqueEnv('outage');
    const hr = await startBackend('hr');
    cleanup.push(() => hr.close());
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU')],
      services: [{ ...service('hr', ['eu-west']), deployments: [{ region: 'eu-west', upstreams: [hr.url] }] }],
    });
    return { env };
  }

  it('keeps serving the last snapshot as stale and keeps proxying while etcd is down, then resyncs forward', async () => {
    const { env } = await setup();
    const g = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-1' });
    cleanup.push(() => g.close());
    const before = g.gateway.revision;
    const stale: Date[] = [];
    g.gateway.on('stale', (since) => stale.push(since));

    await ctx.etcd.members[0].kill();
    await waitFor(() => g.gateway.stale, { what: 'the gateway to notice etcd is down' });
    const doc = await get(`${g.url}/.well-known/topology`);
    expect(doc.status).to.equal(200);
    const body = doc.body as TopologyDocument;
    expect(body.stale).to.equal(true);
    expect(body.staleSince).to.equal(stale[0].toISOString());
    expect(body.revision).to.equal(before);
    expect(body.services.map((s) => s.name)).to.deep.equal(['hr']);
    expect(doc.headers.get('warning')).to.equal(null);
    expect(doc.headers.get('x-waymark-stale-since')).to.equal(stale[0].toUTCString());
    // Caches must revalidate a stale document, and may serve it only when the gateway fails.
    expect(doc.headers.get('cache-control')).to.match(/^public, no-cache, stale-if-error=\d+$/);
    expect(doc.headers.get('x-waymark-revision')).to.equal(String(before));
    const ready = await get(`${g.url}/readyz`);
    expect(ready.status).to.equal(200);
    expect(ready.body as Health).to.include({ status: 'stale', stale: true });
    const proxied = await get(`${g.url}/hr/v1/x`);
    expect(proxied.status).to.equal(200);

    await ctx.etcd.members[0].restart();
    const next = await writeTopology(ctx.conn, ctx.layout, env, {
      services: [{ ...service('crm', ['eu-west']), deployments: [{ region: 'eu-west', upstreams: ['http://127.0.0.1:1'] }] }],
    });
    await waitFor(() => !g.gateway.stale && g.gateway.revision >= next, { what: 'resync after the restart', timeoutMs: 20_000 });
    const after = (await get(`${g.url}/.well-known/topology`)).body as TopologyDocument;
    expect(after.stale).to.equal(false);
    expect(after.staleSince).to.equal(undefined);
    expect(after.revision).to.be.greaterThan(before);
    expect(after.services.map((s) => s.name)).to.deep.equal(['crm', 'hr']);
    // The lease may have expired during the outage: the gateway registers again.
    await waitFor(async () => ((await get(`${g.url}/.well-known/topology`)).body as TopologyDocument).regions[0].gateways.length === 1, {
      what: 're-registration',
      timeoutMs: 15_000,
    });
  });

  it('writes its snapshot file atomically and cold-starts from it while etcd is down, registering once etcd is back', async () => {
    const { env } = await setup();
    const file = join(dir, `${env}.json`);
    const first = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-a', snapshotFile: file });
    await waitFor(() => existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as InternalTopology).revision === first.gateway.revision, {
      what: 'the snapshot file',
    });
    await first.close();
    const saved = JSON.parse(readFileSync(file, 'utf8')) as InternalTopology;
    expect(saved.environment).to.equal(env);
    expect(saved.services[0].deployments[0].upstreams[0]).to.match(/^http:\/\/127\.0\.0\.1:/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);

    await ctx.etcd.members[0].kill();
    const cold = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-b', snapshotFile: file }, { ready: false });
    cleanup.push(() => cold.close());
    const doc = await get(`${cold.url}/.well-known/topology`);
    expect(doc.status).to.equal(200);
    expect((doc.body as TopologyDocument).stale).to.equal(true);
    expect((doc.body as TopologyDocument).revision).to.equal(saved.revision);
    expect((doc.body as TopologyDocument).services.map((s) => s.name)).to.deep.equal(['hr']);
    expect((await get(`${cold.url}/hr/v1/x`)).status).to.equal(200);
    const ready = await get(`${cold.url}/readyz`);
    expect(ready.body as Health).to.include({ status: 'stale', registration: 'registering' });
    expect(cold.gateway.report.registration).to.equal('registering');

    await ctx.etcd.members[0].restart();
    await cold.gateway.ready(AbortSignal.timeout(20_000));
    const fresh = (await get(`${cold.url}/.well-known/topology`)).body as TopologyDocument;
    expect(fresh.stale).to.equal(false);
    expect(fresh.revision).to.be.at.least(saved.revision);
    expect(fresh.regions[0].gateways.map((x) => x.id)).to.deep.equal(['gw-b']);
    expect(((await get(`${cold.url}/readyz`)).body as Health).registration).to.equal('registered');
  });

  it('cold-starts from a hostile snapshot: bad records are quarantined, never fatal, and etcd\'s revision wins once it answers', async () => {
    const { env } = await setup();
    const hr = await startBackend('hr');
    cleanup.push(() => hr.close());
    const file = join(dir, `${env}-hostile.json`);
    const now = new Date().toISOString();
    const good = { ...service('hr', ['eu-west']), deployments: [{ region: 'eu-west', upstreams: [hr.url] }] };
    const hostile: InternalTopology = {
      environment: env,
      revision: Number.MAX_SAFE_INTEGER,
      regions: [region('eu-west', 'EU'), region('..', 'EU')],
      services: [
        good,
        { ...good, name: 'nulls', basePath: '/nulls/v1', deployments: null as unknown as typeof good.deployments },
        (({ basePath: _, ...rest }) => ({ ...rest, name: 'nobase' }))(good) as typeof good,
        { ...good, name: '../etc', basePath: '/up/v1' },
      ],
      gateways: [
        { id: 'gw-etcd', region: 'eu-west', url: new URL(ctx.etcd.endpoints[0]!).origin, status: 'up', startedAt: now },
        { id: 'gw-up', region: 'eu-west', url: 'http://127.0.0.1:9', status: 'up', startedAt: now },
      ],
    };
    writeFileSync(file, JSON.stringify(hostile));
    const warnings: string[] = [];
    await ctx.etcd.members[0].kill();
    const cold = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-cold', snapshotFile: file }, { ready: false });
    cleanup.push(() => cold.close());
    cold.gateway.on('warning', (err) => warnings.push(err.message));
    const doc = (await get(`${cold.url}/.well-known/topology`)).body as TopologyDocument;
    expect(doc.stale).to.equal(true);
    expect(doc.services.map((x) => x.name)).to.deep.equal(['hr']);
    expect(doc.regions.map((r) => r.name)).to.deep.equal(['eu-west']);
    expect(doc.regions[0]!.gateways.map((g) => g.id)).to.deep.equal(['gw-up']);
    expect((await get(`${cold.url}/hr/v1/x`)).status).to.equal(200);

    await ctx.etcd.members[0].restart();
    await cold.gateway.ready(AbortSignal.timeout(20_000));
    const etcdRevision = Number((await ctx.conn.client.get('x').exec()).header.revision);
    const fresh = await waitFor(
      async () => {
        const d = (await get(`${cold.url}/.well-known/topology`)).body as TopologyDocument;
        return d.stale === false && d.regions[0]!.gateways.some((g) => g.id === 'gw-cold') ? d : undefined;
      },
      { what: 'the document from etcd' },
    );
    expect(fresh.revision, 'the revision comes from etcd, not the snapshot').to.be.at.most(etcdRevision + 10);
    expect(fresh.regions[0]!.gateways.map((g) => g.id)).to.deep.equal(['gw-cold']);
  });
});
