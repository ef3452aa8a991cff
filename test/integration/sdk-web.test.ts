import { expect } from 'chai';
import { InvalidOptionsError, NoHealthyGatewayError, WaymarkClient, type WaymarkClientOptions } from '../../client-sdk/browser.js';
import { CraftedServer, Published } from '../support/crafted-gateway.js';
import { freePort } from '../support/ports.js';
import { topologyDoc } from '../support/topology-doc.js';
import { waitFor } from '../support/wait.js';

/** A Web Storage stand-in for Node (the real one is exercised in Chromium by the stack's demo test). */
class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

/**
 * The browser/edge build of the SDK (client-sdk/browser.ts: axios's fetch adapter, localStorage
 * cache), run in Node against crafted gateways on loopback: the same routing and failover.
 */
describe('SDK over fetch (the browser and edge runtime build)', function () {
  this.timeout(30_000);
  const cleanups: (() => Promise<void> | void)[] = [];
  const storage = new MemoryStorage();
  before(() => {
    (globalThis as { localStorage?: MemoryStorage }).localStorage = storage;
  });
  after(() => {
    delete (globalThis as { localStorage?: MemoryStorage }).localStorage;
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function scene() {
    const names = ['eu-west', 'eu-central'];
    const ports = await Promise.all(names.map(() => freePort()));
    const doc = topologyDoc({ revision: 7, regions: names.map((name, i) => ({ name, gateways: [{ id: `${name}-gw`, url: `http://127.0.0.1:${ports[i]}` }] })), services: [{ name: 'catalog' }] });
    const published = new Published(doc);
    const servers = await Promise.all(names.map((n, i) => CraftedServer.start(n, published, ports[i])));
    cleanups.push(async () => {
      published.close();
      for (const s of servers) await s.kill();
    });
    return servers;
  }
  function client(options: WaymarkClientOptions): WaymarkClient {
    const c = new WaymarkClient({ probeLatency: false, ...options });
    cleanups.push(() => c.close());
    return c;
  }

  it('routes to the local region and fails a GET over to the next one when its gateway dies', async () => {
    const [west, central] = await scene();
    const c = client({ bootstrap: [central!.url], region: 'eu-west' });
    await c.ready();
    const first = await c.request<{ served: string; url: string }>('catalog', { url: '/items/1', params: { q: 2 } });
    expect(first.data).to.include({ served: 'eu-west', url: '/catalog/v1/items/1?q=2' });
    expect(west!.requests.find((r) => r.url.startsWith('/catalog'))!.headers['traceparent']).to.match(/^00-/);
    await west!.kill();
    const failovers: string[] = [];
    c.on('failover', (e) => failovers.push(`${e.from.region}->${e.to.region}`));
    const second = await c.request<{ served: string }>('catalog', { url: '/items/1' });
    expect(second.data.served).to.equal('eu-central');
    expect(failovers).to.deep.equal(['eu-west->eu-central']);
  });

  it('does not repeat a POST that may have reached a gateway (fetch cannot tell), unless it is idempotent', async () => {
    const [west] = await scene();
    const c = client({ bootstrap: [west!.url], region: 'eu-west' });
    await c.ready();
    west!.behaviour = 'status-503';
    const err = await c.request('catalog', { method: 'POST', url: '/orders', data: { a: 1 } }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NoHealthyGatewayError);
    const ok = await c.request<{ served: string }>('catalog', { method: 'POST', url: '/orders', data: { a: 1 }, waymark: { idempotent: true } });
    expect(ok.data.served).to.equal('eu-central');
  });

  it('abandons a black-holed gateway at the attempt timeout and fails the GET over; a caller abort cancels without failover', async () => {
    const [west, central] = await scene();
    const c = client({ bootstrap: [central!.url], region: 'eu-west', attemptTimeoutMs: 300 });
    await c.ready();
    west!.behaviour = 'blackhole';
    const failovers: string[] = [];
    c.on('failover', (e) => failovers.push(`${e.from.region}->${e.to.region}: ${e.error}`));
    const res = await c.request<{ served: string }>('catalog', { url: '/slow-or-dead' });
    expect(res.data.served).to.equal('eu-central');
    expect(failovers).to.deep.equal(['eu-west->eu-central: ATTEMPT_TIMEOUT']);

    const held = client({ bootstrap: [central!.url], region: 'eu-west', attemptTimeoutMs: 30_000 });
    await held.ready();
    held.on('failover', (e) => failovers.push(`held: ${e.error}`));
    const controller = new AbortController();
    const call = held.request('catalog', { url: '/held', signal: controller.signal }).catch((e: unknown) => e);
    await waitFor(() => west!.requests.some((r) => r.url === '/catalog/v1/held'), { what: 'the call to reach the black hole' });
    controller.abort();
    expect(((await call) as { code?: string }).code).to.equal('ERR_CANCELED');
    expect(failovers).to.have.length(1);
  });

  it('keeps the last good topology in localStorage (cacheKey) and starts from it when no gateway answers', async () => {
    const [west, central] = await scene();
    const c = client({ bootstrap: [west!.url], region: 'eu-west', cacheKey: 'waymark:test' });
    await c.ready();
    await waitFor(() => storage.getItem('waymark:test'), { what: 'the cache entry' });
    await c.close();
    await west!.kill();
    const offline = client({ bootstrap: [west!.url], region: 'eu-west', cacheKey: 'waymark:test' });
    const stale: string[] = [];
    offline.on('stale', (e) => stale.push(e.reason));
    await offline.ready();
    expect(offline.topology()?.revision).to.equal(7);
    expect(stale).to.deep.equal(['cache']);
    expect((await offline.request<{ served: string }>('catalog', { url: '/x' })).data.served).to.equal('eu-central');
    expect(central).to.not.equal(undefined);
    expect(() => new WaymarkClient({ bootstrap: ['http://127.0.0.1:9'], cacheFile: '/tmp/x.json' })).to.throw(InvalidOptionsError, /cacheKey/);
  });
});
