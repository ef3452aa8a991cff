import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InvalidTopologyError,
  NoHealthyGatewayError,
  TopologyExpiredError,
  TopologyUnavailableError,
  WaymarkClient,
  type WaymarkClientOptions,
} from '../../client-sdk/index.js';
import { CacheFile } from '../../client-sdk/cache-file.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { craftedScene, CraftedServer, Published } from '../support/crafted-gateway.js';
import { freePort } from '../support/ports.js';
import { topologyDoc } from '../support/topology-doc.js';
import { waitFor } from '../support/wait.js';

describe('SDK discovery and routing against crafted servers (loopback)', function () {
  this.timeout(20_000);
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  const setup = (regions: { name: string; jurisdiction?: string }[], extra: Partial<Parameters<typeof topologyDoc>[0]> = {}) => craftedScene(cleanups, regions, extra);

  function client(options: WaymarkClientOptions): WaymarkClient {
    const c = new WaymarkClient({ probeLatency: false, ...options });
    cleanups.push(() => c.close());
    return c;
  }

  it('bootstraps from the first gateway that answers, and routes to the local region', async () => {
    const { servers } = await setup([{ name: 'eu-west' }, { name: 'us-east', jurisdiction: 'US' }]);
    const dead = `http://127.0.0.1:${await freePort()}`;
    const c = client({ bootstrap: [dead, servers[1]!.url], region: 'eu-west' });
    await c.ready();
    expect(c.topology()?.revision).to.equal(10);
    const res = await c.request<{ served: string; url: string }>('catalog', { method: 'GET', url: '/items/42', params: { q: 1 } });
    expect(res.data).to.deep.include({ served: 'eu-west', url: '/catalog/v1/items/42?q=1' });
    const seen = servers[0]!.requests.find((r) => r.url.startsWith('/catalog'))!;
    expect(seen.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
    expect(seen.headers['traceparent']).to.match(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // The caller's config is left as it was; the response's config shows what was sent.
    const config = { url: '/items/43', headers: { 'X-Request-Id': 'caller-id' } };
    const own = await c.request('catalog', config);
    expect(config).to.deep.equal({ url: '/items/43', headers: { 'X-Request-Id': 'caller-id' } });
    expect(own.config.headers['X-Request-Id']).to.equal('caller-id');
    expect(own.config.headers['traceparent']).to.match(/^00-/);
    expect(own.config.baseURL).to.equal(undefined);
    expect(servers[0]!.requests.at(-1)!.headers['x-request-id']).to.equal('caller-id');
  });

  it('fails ready() with TopologyUnavailableError naming each gateway when none answers and there is no cache', async () => {
    const a = `http://127.0.0.1:${await freePort()}`;
    const b = `http://127.0.0.1:${await freePort()}`;
    const c = client({ bootstrap: [a, b] });
    const err = await c.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(TopologyUnavailableError);
    expect((err as TopologyUnavailableError).message).to.include(a).and.include(b).and.include('ECONNREFUSED');
    expect(await c.request('catalog', { url: '/' }).catch((e: unknown) => e)).to.be.instanceOf(TopologyUnavailableError);
  });

  it('rejects hostile documents with clear errors and keeps the last good one', async () => {
    const { servers, published, doc } = await setup([{ name: 'eu-west' }, { name: 'eu-central' }]);
    const [good, hostile] = servers as [CraftedServer, CraftedServer];
    const c = client({ bootstrap: [hostile.url, good.url], region: 'eu-west', environment: 'prod', maxDocumentBytes: 64 * 1024 });
    const rejected: InvalidTopologyError[] = [];
    c.on('rejected', (e) => rejected.push(e));

    const cases: [string, string, RegExp][] = [
      ['malformed JSON', '{"environment":"prod","revision":', /malformed.*not JSON/],
      ['another environment', JSON.stringify({ ...doc, environment: 'staging', revision: 50 }), /environment.*"staging"/],
      ['a huge document', JSON.stringify({ ...doc, revision: 51, padding: 'x'.repeat(100 * 1024) }), /too-large/],
      ['a javascript: gateway URL', JSON.stringify({ ...doc, revision: 52, regions: [{ ...doc.regions[0]!, gateways: [{ id: 'x', url: 'javascript:alert(1)', status: 'up' }] }] }), /gateways\[0\]\.url/],
    ];
    for (const [what, body, message] of cases) {
      rejected.length = 0;
      hostile.topologyBody = body;
      const bootstrapped = client({ bootstrap: [hostile.url, good.url], region: 'eu-west', environment: 'prod', maxDocumentBytes: 64 * 1024 });
      const seen: InvalidTopologyError[] = [];
      bootstrapped.on('rejected', (e) => seen.push(e));
      await bootstrapped.ready();
      expect(bootstrapped.topology()?.revision, what).to.equal(10);
      expect(seen.map((e) => e.message).join('\n'), what).to.match(message);
      expect(seen[0]!.message, what).to.include(hostile.url);
    }

    // A client already running on revision 10 is not moved by any of them, and still routes.
    await c.ready();
    published.publish({ ...doc, revision: 11 });
    await waitFor(() => c.topology()?.revision === 11, { what: 'revision 11 by long-poll' });
    const res = await c.request<{ served: string }>('catalog', { url: '/x' });
    expect(res.data.served).to.equal('eu-west');
  });

  it('rejects a rollback by a lagging gateway and moves discovery to another one', async () => {
    const { servers, published, doc } = await setup([{ name: 'eu-west' }, { name: 'eu-central' }]);
    const [first, lagging] = servers as [CraftedServer, CraftedServer];
    published.publish({ ...doc, revision: 20 });
    const c = client({ bootstrap: [first.url, lagging.url], region: 'eu-west' });
    await c.ready();
    const rejected: InvalidTopologyError[] = [];
    c.on('rejected', (e) => rejected.push(e));
    lagging.topologyBody = JSON.stringify({ ...doc, revision: 15 });
    await first.kill(); // discovery must move to the lagging one, which is refused
    await waitFor(() => rejected.length > 0, { what: 'the rollback to be rejected' });
    expect(rejected[0]!.reason).to.equal('rollback');
    expect(rejected[0]!.message).to.include('revision 15 is older than the revision 20');
    expect(c.topology()?.revision).to.equal(20);
  });

  it('picks up a change through the long-poll at once, not after a polling interval', async () => {
    const { servers, published, doc } = await setup([{ name: 'eu-west' }]);
    const c = client({ bootstrap: [servers[0]!.url], longPollSeconds: 20 });
    await c.ready();
    await waitFor(() => servers[0]!.requests.some((r) => r.url.includes('wait=10')), { what: 'a long-poll to be held' });
    const started = Date.now();
    published.publish({ ...doc, revision: 12, services: [...doc.services, { ...doc.services[0]!, name: 'orders', basePath: '/orders' }] });
    await waitFor(() => c.topology()?.revision === 12, { timeoutMs: 2000, intervalMs: 5, what: 'revision 12' });
    const ms = Date.now() - started;
    expect(ms).to.be.lessThan(500);
    expect(c.resolve('orders').candidates).to.have.length(1);
    const polls = servers[0]!.requests.filter((r) => r.url.startsWith('/.well-known/topology'));
    expect(polls.every((r) => r.url === '/.well-known/topology' || /\?wait=\d+&timeout=[\d.]+$/.test(r.url))).to.equal(true);
  });

  it('refreshes at once when a response shows a newer X-Waymark-Revision', async () => {
    const { servers, published, doc } = await setup([{ name: 'eu-west' }]);
    // This server holds no long-polls (answers them at once), so the client falls back to polling every 30 s.
    servers[0]!.topologyBody = JSON.stringify(doc);
    const c = client({ bootstrap: [servers[0]!.url] });
    await c.ready();
    await waitFor(() => servers[0]!.requests.filter((r) => r.url.startsWith('/.well-known')).length >= 2, { what: 'a second fetch' });
    const newer = { ...doc, revision: 30 };
    servers[0]!.topologyBody = JSON.stringify(newer);
    published.publish(newer); // the header of service calls now says 30
    await c.request('catalog', { url: '/x' });
    await waitFor(() => c.topology()?.revision === 30, { timeoutMs: 2000, what: 'the refresh triggered by the header' });
  });

  it('starts from the cache file when every gateway is down, says it is stale, then expires past maxStaleSeconds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymark-sdk-it-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cacheFile = join(dir, 'topology.json');
    const { servers } = await setup([{ name: 'eu-west' }], { maxStaleSeconds: 2 });
    const first = client({ bootstrap: [servers[0]!.url], cacheFile });
    await first.ready();
    await first.close();
    await servers[0]!.kill();

    const c = client({ bootstrap: [servers[0]!.url], cacheFile, discoveryMaxRetryDelayMs: 200 });
    const stale: string[] = [];
    c.on('stale', (e) => stale.push(e.reason));
    const expired: TopologyExpiredError[] = [];
    c.on('expired', (e) => expired.push(e));
    await c.ready();
    expect(c.topology()?.revision).to.equal(10);
    expect(stale).to.deep.equal(['cache']);
    // Routing goes on, on the cached map: the gateway is down, so the call fails listing the attempt.
    const err = await c.request('catalog', { url: '/x' }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NoHealthyGatewayError);
    expect((err as NoHealthyGatewayError).attempts[0]!.error).to.equal('ECONNREFUSED');
    await waitFor(() => expired.length > 0, { timeoutMs: 5000, what: 'the expired event' });
    const late = await c.request('catalog', { url: '/x' }).catch((e: unknown) => e);
    expect(late).to.be.instanceOf(TopologyExpiredError);
    expect((late as TopologyExpiredError).code).to.equal('TOPOLOGY_EXPIRED');

    // The gateway comes back: the client is fresh again and routes.
    await servers[0]!.listen();
    await waitFor(() => c.request('catalog', { url: '/x' }).then(() => true), { timeoutMs: 8000, what: 'routing to resume' });
  });

  it('emits expired for a cached topology already past maxStaleSeconds, once, even to a listener added after ready()', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymark-sdk-it-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cacheFile = join(dir, 'topology.json');
    const doc = topologyDoc({ revision: 7, regions: [{ name: 'eu-west', gateways: [{ url: `http://127.0.0.1:${await freePort()}` }] }], services: [{ name: 'catalog' }], maxStaleSeconds: 2 });
    await new CacheFile(cacheFile).write({ document: doc, confirmedAt: new Date(Date.now() - 60_000) });
    const c = client({ bootstrap: [`http://127.0.0.1:${await freePort()}`], cacheFile, discoveryMaxRetryDelayMs: 200 });
    await c.ready();
    const expired: TopologyExpiredError[] = [];
    c.on('expired', (e) => expired.push(e));
    for (let i = 0; i < 3; i++) expect(await c.request('catalog', { url: '/x' }).catch((e: unknown) => e)).to.be.instanceOf(TopologyExpiredError);
    expect(expired.map((e) => [e.code, e.revision])).to.deep.equal([['TOPOLOGY_EXPIRED', 7]]);
  });

  it('emits ejected once per ejection while a dead gateway is still tried as the last resort', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const { servers, published, doc } = await setup([{ name: 'eu-west' }]);
    // The service's only region lists the dead gateway: every call tries it, ejected or not.
    published.publish({ ...doc, revision: 11, regions: [{ ...doc.regions[0]!, gateways: [{ id: 'dead', url: dead, status: 'up' }] }] });
    const c = client({ bootstrap: [servers[0]!.url], ejectionBaseMs: 60_000, ejectionMaxMs: 60_000 });
    await c.ready();
    await waitFor(() => c.topology()?.revision === 11, { what: 'the document with the dead gateway' });
    const ejected: string[] = [];
    c.on('ejected', (e) => ejected.push(`${e.gateway.id} ${e.scope} ${e.error}`));
    for (let i = 0; i < 5; i++) expect(await c.request('catalog', { url: '/x' }).catch((e: unknown) => e)).to.be.instanceOf(NoHealthyGatewayError);
    expect(ejected).to.deep.equal(['dead gateway ECONNREFUSED']);
  });

  it('ignores a corrupt cache file (rejected event) and fails ready() when no gateway answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymark-sdk-it-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const cacheFile = join(dir, 'topology.json');
    writeFileSync(cacheFile, '{"confirmedAt":"2026-01-01T00:00:00Z","document":{}}');
    const c = client({ bootstrap: [`http://127.0.0.1:${await freePort()}`], cacheFile });
    const rejected: InvalidTopologyError[] = [];
    c.on('rejected', (e) => rejected.push(e));
    const err = await c.ready().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TopologyUnavailableError);
    expect((err as Error).message).to.include(`cache file ${cacheFile}`);
    expect(rejected[0]?.message).to.include(cacheFile);
  });

  it('abandons a black-holed gateway after the attempt timeout and retries a GET elsewhere, but not a POST', async () => {
    const { servers } = await setup([{ name: 'eu-west' }, { name: 'eu-central' }]);
    const c = client({ bootstrap: [servers[1]!.url], region: 'eu-west', attemptTimeoutMs: 300 });
    await c.ready();
    servers[0]!.behaviour = 'blackhole';
    const started = Date.now();
    const res = await c.request<{ served: string }>('catalog', { url: '/slow-or-dead' });
    expect(res.data.served).to.equal('eu-central');
    expect(Date.now() - started).to.be.lessThan(2000);

    // The black hole is ejected now; make it first again by failing its peer's ejection window out.
    const c2 = client({ bootstrap: [servers[1]!.url], region: 'eu-west', attemptTimeoutMs: 300 });
    await c2.ready();
    const before = servers[1]!.serviceCalls();
    const err = await c2.request('catalog', { method: 'POST', url: '/orders', data: { a: 1 } }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NoHealthyGatewayError);
    expect((err as NoHealthyGatewayError).attempts.map((a) => a.error)).to.deep.equal(['ATTEMPT_TIMEOUT']);
    expect((err as Error).message).to.include('POST reached the gateway and is not idempotent');
    expect(servers[1]!.serviceCalls()).to.equal(before);
    // Marked idempotent, the same POST is retried.
    const c3 = client({ bootstrap: [servers[1]!.url], region: 'eu-west', attemptTimeoutMs: 300 });
    await c3.ready();
    const ok = await c3.request<{ served: string }>('catalog', { method: 'POST', url: '/orders', data: { a: 1 }, waymark: { idempotent: true } });
    expect(ok.data.served).to.equal('eu-central');
  });

  it('retries a POST whose connection was never established, and not one that got a 503', async () => {
    const { servers } = await setup([{ name: 'eu-west' }, { name: 'eu-central' }]);
    const c = client({ bootstrap: [servers[1]!.url], region: 'eu-west' });
    await c.ready();
    servers[0]!.behaviour = 'status-503';
    const err = await c.request('catalog', { method: 'POST', url: '/orders', data: 'x' }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NoHealthyGatewayError);
    expect((err as NoHealthyGatewayError).attempts.map((a) => a.status)).to.deep.equal([503]);
    expect(servers[1]!.serviceCalls()).to.equal(0);

    await servers[0]!.kill();
    const c2 = client({ bootstrap: [servers[1]!.url], region: 'eu-west' });
    await c2.ready();
    const res = await c2.request<{ served: string }>('catalog', { method: 'POST', url: '/orders', data: 'x' });
    expect(res.data.served).to.equal('eu-central');
  });

  it('follows a 421 alternate once when it is a candidate, and never one outside the topology', async () => {
    const { servers } = await setup([{ name: 'eu-west' }, { name: 'eu-central' }, { name: 'eu-north' }]);
    const [west, central, north] = servers as [CraftedServer, CraftedServer, CraftedServer];
    const c = client({ bootstrap: [central.url], region: 'eu-west' });
    await c.ready();
    west.behaviour = 'misdirect';
    west.alternate = north.url;
    const res = await c.request<{ served: string; url: string }>('catalog', { method: 'POST', url: '/orders?x=1', data: 'x' });
    expect(res.data).to.deep.equal({ served: 'eu-north', method: 'POST', url: '/catalog/v1/orders?x=1' });
    expect(central.serviceCalls()).to.equal(0);

    // An alternate outside the topology is ignored: the call goes on to the next candidate instead.
    const stranger = await CraftedServer.start('stranger', new Published(c.topology()!));
    cleanups.push(() => stranger.kill());
    west.alternate = stranger.url;
    const next = await c.request<{ served: string }>('catalog', { method: 'POST', url: '/orders', data: 'x' });
    expect(next.data.served).to.not.equal('stranger');
    expect(stranger.serviceCalls()).to.equal(0);
  });

  it('honours the caller AbortSignal', async () => {
    const { servers } = await setup([{ name: 'eu-west' }]);
    const c = client({ bootstrap: [servers[0]!.url], attemptTimeoutMs: 5000 });
    await c.ready();
    servers[0]!.behaviour = 'blackhole';
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const err = await c.request('catalog', { url: '/x', signal: controller.signal }).catch((e: unknown) => e);
    expect((err as { code?: string }).code).to.equal('ERR_CANCELED');
    expect(Date.now() - started).to.be.lessThan(1000);
  });

  it('keeps the retry budget: a dead region does not double the calls', async () => {
    const { servers } = await setup([{ name: 'eu-west' }, { name: 'eu-central' }]);
    const c = client({
      bootstrap: [servers[1]!.url],
      region: 'eu-west',
      retryBudgetRatio: 0.1,
      retryBudgetMinPerSecond: 0,
      ejectionBaseMs: 0, // no ejection: every call goes to the failing gateway first
    });
    await c.ready();
    servers[0]!.behaviour = 'status-503';
    let ok = 0;
    let refused = 0;
    for (let i = 0; i < 40; i++) {
      try {
        await c.request('catalog', { url: `/x${i}` });
        ok++;
      } catch (err) {
        expect((err as Error).message).to.include('retry budget');
        refused++;
      }
    }
    expect(ok).to.equal(4);
    expect(refused).to.equal(36);
    expect(servers[1]!.serviceCalls()).to.equal(4);
  });
});
