import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import {
  InvalidTopologyError,
  NoHealthyGatewayError,
  TopologyExpiredError,
  TopologyUnavailableError,
  WaymarkClient,
  type BackoffEvent,
  type WaymarkClientOptions,
} from '../../client-sdk/index.js';
import { craftedScene, CraftedServer, Published } from '../support/crafted-gateway.js';
import { freePort } from '../support/ports.js';
import { topologyDoc } from '../support/topology-doc.js';
import { waitFor } from '../support/wait.js';

const DOC = 'docs/client-protocol.md';

/** Each rule of docs/client-protocol.md: its identifier and its text. */
function rules(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of readFileSync(DOC, 'utf8').matchAll(/\*\*\[(CP-[A-Z0-9-]+)\]\*\*([^]*?)(?=\n\s*\n|\n- |\n\d+\. )/g)) {
    out.set(m[1]!, m[2]!.replace(/\s+/g, ' ').trim());
  }
  return out;
}

type Scene = Awaited<ReturnType<typeof scene>>;
const cleanups: (() => Promise<void> | void)[] = [];

/** Crafted gateways (one per region) serving one Published document on loopback. */
function scene(regions: { name: string; jurisdiction?: string }[], extra: Partial<Parameters<typeof topologyDoc>[0]> = {}) {
  return craftedScene(cleanups, regions, extra);
}

function client(options: WaymarkClientOptions): WaymarkClient {
  const c = new WaymarkClient({ probeLatency: false, ...options });
  cleanups.push(() => c.close());
  return c;
}

function rejections(c: WaymarkClient): InvalidTopologyError[] {
  const out: InvalidTopologyError[] = [];
  c.on('rejected', (e) => out.push(e));
  return out;
}

const topologyRequests = (s: CraftedServer) => s.requests.filter((r) => r.url.startsWith('/.well-known/topology'));
const TWO = [{ name: 'eu-west' }, { name: 'eu-central' }];

/** One executable check per rule identifier of the document. */
const checks: Record<string, () => Promise<void>> = {
  async 'CP-BOOTSTRAP'() {
    const { servers } = await scene(TWO);
    const dead = `http://127.0.0.1:${await freePort()}`;
    const c = client({ bootstrap: [dead, servers[1]!.url, servers[0]!.url] });
    await c.ready();
    expect(c.topology()?.revision).to.equal(10);
    expect(topologyRequests(servers[1]!)[0]?.url).to.equal('/.well-known/topology');
    const none = client({ bootstrap: [dead] });
    const err = await none.ready().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TopologyUnavailableError);
    expect((err as Error).message).to.include(dead);
    expect(await none.request('catalog', { url: '/x' }).catch((e: unknown) => e)).to.be.instanceOf(TopologyUnavailableError);
  },

  async 'CP-BOOTSTRAP-DEADLINE'() {
    const { servers } = await scene(TWO);
    servers[0]!.behaviour = 'blackhole';
    const c = client({ bootstrap: [servers[0]!.url, servers[1]!.url], discoveryTimeoutMs: 300 });
    await c.ready();
    expect(topologyRequests(servers[0]!)).to.have.length(1);
    expect(topologyRequests(servers[1]!).length).to.be.at.least(1);
  },

  async 'CP-VALIDATE'() {
    const { servers, doc } = await scene(TWO);
    const hostile = structuredClone(doc);
    hostile.regions[0]!.gateways[0]!.url = 'file:///etc/passwd';
    servers[0]!.topologyBody = JSON.stringify(hostile);
    const c = client({ bootstrap: [servers[0]!.url, servers[1]!.url] });
    const rejected = rejections(c);
    await c.ready();
    expect(c.topology()?.regions[0]!.gateways[0]!.url).to.equal(doc.regions[0]!.gateways[0]!.url);
    expect(rejected.map((e) => e.reason)).to.include('malformed');
    expect(rejected[0]!.message).to.match(/url/);
  },

  async 'CP-ENVIRONMENT'() {
    const { servers, doc } = await scene(TWO);
    servers[0]!.topologyBody = JSON.stringify({ ...doc, environment: 'dev' });
    const c = client({ bootstrap: [servers[0]!.url, servers[1]!.url], environment: 'prod' });
    const rejected = rejections(c);
    await c.ready();
    expect(c.topology()?.environment).to.equal('prod');
    expect(rejected.map((e) => e.reason)).to.deep.equal(['environment']);
  },

  async 'CP-ROLLBACK'() {
    const { servers, doc } = await scene(TWO);
    const c = client({ bootstrap: [servers[0]!.url], region: 'eu-west' });
    const rejected = rejections(c);
    await c.ready();
    servers[1]!.topologyBody = JSON.stringify({ ...doc, revision: 5 });
    await servers[0]!.kill(); // discovery moves to eu-central, which lags
    await waitFor(() => rejected.some((e) => e.reason === 'rollback'), { what: 'the rollback to be rejected' });
    expect(c.topology()?.revision).to.equal(10);
  },

  async 'CP-LONGPOLL'() {
    const { servers, published, doc } = await scene(TWO);
    const c = client({ bootstrap: [servers[0]!.url], region: 'eu-west' });
    await c.ready();
    await waitFor(() => topologyRequests(servers[0]!).some((r) => /[?&]wait=10&timeout=\d/.test(r.url)), { what: 'a long-poll on revision 10' });
    const asked = topologyRequests(servers[0]!).length;
    published.publish({ ...doc, revision: 11 });
    await waitFor(() => c.topology()?.revision === 11, { what: 'revision 11 through the long-poll' });
    // The long-poll answered with the new document, and the next one waits on it.
    await waitFor(() => topologyRequests(servers[0]!).slice(asked).some((r) => /[?&]wait=11&/.test(r.url)), { what: 'a long-poll on revision 11' });
  },

  async 'CP-CONDITIONAL'() {
    const { servers } = await scene(TWO);
    const c = client({ bootstrap: [servers[0]!.url], region: 'eu-west' });
    await c.ready();
    await waitFor(() => topologyRequests(servers[0]!).length >= 2, { what: 'a second fetch' });
    const [first, second] = topologyRequests(servers[0]!);
    expect(first!.headers['if-none-match']).to.equal(undefined);
    expect(second!.headers['if-none-match']).to.equal('"10"');
  },

  async 'CP-POLL-FALLBACK'() {
    const { servers, doc } = await scene(TWO, { refresh: { intervalSeconds: 1, jitterSeconds: 0 } });
    // Answers every fetch at once with the same document: it does not hold long-polls.
    servers[0]!.topologyBody = JSON.stringify(doc);
    // The poll floor (minRefreshIntervalSeconds, 5 s by default) lowered to the document's 1 s, so three polls come quickly.
    const c = client({ bootstrap: [servers[0]!.url], region: 'eu-west', longPollSeconds: 5, minRefreshIntervalSeconds: 1 });
    await c.ready();
    await waitFor(() => topologyRequests(servers[0]!).length >= 5, { what: 'polls', timeoutMs: 30_000 });
    const polls = topologyRequests(servers[0]!).slice(2, 5);
    for (const p of polls) expect(p.url).to.equal('/.well-known/topology');
    expect(topologyRequests(servers[0]!).slice(1, 2)[0]!.url).to.match(/wait=10/);
  },

  async 'CP-BACKOFF'() {
    const { servers } = await scene(TWO);
    servers[0]!.refuseLongPolls = 3;
    const c = client({ bootstrap: [servers[0]!.url], region: 'eu-west', longPollSeconds: 5 });
    const backoffs: BackoffEvent[] = [];
    c.on('backoff', (e) => backoffs.push(e));
    await c.ready();
    // The refusal's Retry-After (3 s) is a floor under the backoff's own jittered delay.
    await waitFor(() => backoffs.some((e) => e.kind === 'long-poll' && e.status === 503), { what: 'a backoff after the refused long-poll', timeoutMs: 15_000 });
    const refused = backoffs.find((e) => e.kind === 'long-poll' && e.status === 503)!;
    expect(refused.retryAfterMs).to.equal(3000);
    expect(refused.delayMs).to.be.at.least(3000);
    expect(c.stats().longPollsRefused).to.be.at.least(1);
  },

  async 'CP-REVISION-HEADER'() {
    const { servers, published, doc } = await scene(TWO);
    servers[1]!.topologyBody = JSON.stringify(doc); // discovery's gateway does not hold long-polls: only the header can tell
    const c = client({ bootstrap: [servers[1]!.url], region: 'eu-west', refreshIntervalSeconds: 600 });
    await c.ready();
    // The gateway of eu-west now serves revision 12 and says so on every answer.
    published.doc = { ...doc, revision: 12 };
    servers[1]!.topologyBody = JSON.stringify(published.doc);
    await c.request('catalog', { url: '/items/1' });
    await waitFor(() => c.topology()?.revision === 12, { what: 'a refresh on X-Waymark-Revision 12' });
  },

  async 'CP-ORDER'() {
    const { servers } = await scene(
      [{ name: 'eu-west' }, { name: 'eu-central' }, { name: 'ap-south', jurisdiction: 'APAC' }, { name: 'us-east', jurisdiction: 'US' }],
      { services: [{ name: 'catalog', failover: ['us-east', 'eu-central'] }] },
    );
    const c = client({ bootstrap: [servers[0]!.url], region: 'ap-south' });
    await c.ready();
    expect(c.resolve('catalog').candidates.map((x) => x.gateway.region)).to.deep.equal(['ap-south', 'us-east', 'eu-central', 'eu-west']);
    // A draining gateway is never a candidate.
    const draining = topologyDoc({
      revision: 20,
      regions: [
        { name: 'eu-west', gateways: [{ id: 'a', url: servers[0]!.url, status: 'draining' }, { id: 'b', url: servers[1]!.url }] },
      ],
      services: [{ name: 'catalog' }],
    });
    servers[0]!.topologyBody = JSON.stringify(draining);
    const d = client({ bootstrap: [servers[0]!.url] });
    await d.ready();
    expect(d.resolve('catalog').candidates.map((x) => x.gateway.id)).to.deep.equal(['b']);
  },

  async 'CP-PINNED'() {
    const { servers } = await scene([{ name: 'eu-west' }, { name: 'us-east', jurisdiction: 'US' }], {
      services: [{ name: 'hr', placement: 'pinned', jurisdictions: ['EU'], regions: ['eu-west'], failover: [] }],
    });
    const c = client({ bootstrap: [servers[1]!.url], region: 'us-east' });
    await c.ready();
    expect(c.resolve('hr').candidates.map((x) => x.gateway.region)).to.deep.equal(['eu-west']);
    servers[0]!.behaviour = 'status-503';
    const err = await c.request('hr', { url: '/employees' }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NoHealthyGatewayError);
    expect(servers[1]!.serviceCalls()).to.equal(0);
  },

  async 'CP-URL'() {
    const { servers } = await scene(TWO);
    const c = client({ bootstrap: [servers[0]!.url], region: 'eu-central' });
    await c.ready();
    const res = await c.request<{ served: string; url: string }>('catalog', { url: '/items/42', params: { x: 1 } });
    expect(res.data).to.include({ served: 'eu-central', url: '/catalog/v1/items/42?x=1' });
    const seen = servers[1]!.requests.find((r) => r.url.startsWith('/catalog'))!;
    expect(seen.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
    expect(seen.headers['traceparent']).to.match(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(await c.request('catalog', { url: 'http://elsewhere.example/x' }).catch((e: unknown) => (e as { code?: string }).code)).to.equal('INVALID_REQUEST');
  },

  async 'CP-FAILOVER'() {
    const { servers } = await scene(TWO);
    const c = client({ bootstrap: [servers[1]!.url], region: 'eu-west' });
    await c.ready();
    servers[0]!.behaviour = 'status-503';
    const res = await c.request<{ served: string }>('catalog', { url: '/items/1' });
    expect(res.data.served).to.equal('eu-central');
    const d = client({ bootstrap: [servers[1]!.url], region: 'eu-west' });
    await d.ready();
    const before = servers[1]!.serviceCalls();
    const err = await d.request('catalog', { method: 'POST', url: '/orders', data: 'x' }).catch((e: unknown) => e);
    expect((err as NoHealthyGatewayError).attempts.map((a) => a.status)).to.deep.equal([503]);
    expect(servers[1]!.serviceCalls()).to.equal(before);
  },

  async 'CP-EJECT'() {
    const { servers } = await scene(TWO);
    const c = client({ bootstrap: [servers[1]!.url], region: 'eu-west', ejectionBaseMs: 60_000 });
    await c.ready();
    servers[0]!.behaviour = 'status-503';
    await c.request('catalog', { url: '/items/1' });
    const west = servers[0]!.serviceCalls();
    for (let i = 0; i < 5; i += 1) expect((await c.request<{ served: string }>('catalog', { url: '/items/1' })).data.served).to.equal('eu-central');
    expect(servers[0]!.serviceCalls()).to.equal(west);
  },

  async 'CP-BUDGET'() {
    const regions = [{ name: 'eu-west' }, { name: 'eu-central' }, { name: 'eu-north' }, { name: 'eu-south' }, { name: 'eu-east' }, { name: 'eu-far' }];
    const { servers } = await scene(regions);
    for (const s of servers) s.behaviour = 'status-503';
    const c = client({ bootstrap: [servers[0]!.url], region: 'eu-west' });
    await c.ready();
    const err = (await c.request('catalog', { url: '/items/1' }).catch((e: unknown) => e)) as NoHealthyGatewayError;
    expect(err.attempts).to.have.length(4); // maxAttempts, though 6 gateways could be tried
    const none = client({ bootstrap: [servers[0]!.url], region: 'eu-west', retryBudgetRatio: 0, retryBudgetMinPerSecond: 0 });
    await none.ready();
    const spent = (await none.request('catalog', { url: '/items/1' }).catch((e: unknown) => e)) as NoHealthyGatewayError;
    expect(spent.attempts).to.have.length(1);
    expect(spent.message).to.include('retry budget');
  },

  async 'CP-MAXSTALE'() {
    const { servers } = await scene(TWO, { maxStaleSeconds: 1 });
    const c = client({ bootstrap: [servers[0]!.url], region: 'eu-west', discoveryRetryDelayMs: 50, discoveryMaxRetryDelayMs: 100, discoveryTimeoutMs: 300 });
    await c.ready();
    const expired: TopologyExpiredError[] = [];
    c.on('expired', (e) => expired.push(e));
    // No gateway answers: one is gone, the other accepts and never answers (it keeps its port, so it can come back).
    servers[1]!.behaviour = 'blackhole';
    await servers[0]!.kill();
    await waitFor(() => expired.length > 0, { what: 'the expired event', timeoutMs: 15_000 });
    const err = await c.request('catalog', { url: '/items/1' }).catch((e: unknown) => e);
    expect(err, String(err)).to.be.instanceOf(TopologyExpiredError);
    expect((err as TopologyExpiredError).code).to.equal('TOPOLOGY_EXPIRED');
    // A gateway answering again makes the topology usable again.
    servers[1]!.behaviour = 'ok';
    await waitFor(async () => (await c.request<{ served: string }>('catalog', { url: '/items/1' }).catch(() => undefined))?.data.served === 'eu-central', {
      what: 'calls to succeed again once a gateway answers',
      timeoutMs: 15_000,
    });
  },

  async 'CP-STALE-DOCUMENT'() {
    const { servers } = await scene(TWO, { stale: true, staleSince: new Date(Date.now() - 600_000).toISOString(), maxStaleSeconds: 300 });
    const c = client({ bootstrap: [servers[0]!.url], region: 'eu-west' });
    await c.ready();
    expect(await c.request('catalog', { url: '/items/1' }).catch((e: unknown) => e)).to.be.instanceOf(TopologyExpiredError);
  },

  async 'CP-421'() {
    const { servers } = await scene([{ name: 'eu-west' }, { name: 'eu-central' }, { name: 'eu-north' }]);
    const [west, central, north] = servers as [CraftedServer, CraftedServer, CraftedServer];
    const c = client({ bootstrap: [central.url], region: 'eu-west' });
    await c.ready();
    west.behaviour = 'misdirect';
    west.alternate = north.url;
    const res = await c.request<{ served: string; url: string }>('catalog', { method: 'POST', url: '/orders', data: 'x' });
    expect(res.data).to.include({ served: 'eu-north', url: '/catalog/v1/orders' });
    const stranger = await CraftedServer.start('stranger', new Published(c.topology()!));
    cleanups.push(() => stranger.kill());
    west.alternate = stranger.url;
    const next = await c.request<{ served: string }>('catalog', { method: 'POST', url: '/orders', data: 'x' });
    expect(next.data.served).to.equal('eu-central');
    expect(stranger.serviceCalls()).to.equal(0);
  },
};

describe(`the client protocol (${DOC}) against the SDK`, function () {
  this.timeout(30_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('has one executable check per rule of the document, and none for a rule that is gone', () => {
    const ids = [...rules().keys()].sort();
    expect(ids.length).to.be.at.least(15);
    expect(ids).to.deep.equal(Object.keys(checks).sort());
  });

  for (const [id, text] of rules()) {
    it(`[${id}] ${text.length > 110 ? `${text.slice(0, 110)}…` : text}`, async () => {
      const check = checks[id];
      if (!check) throw new Error(`no check for ${id}`);
      await check();
    });
  }
});
