import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
});
