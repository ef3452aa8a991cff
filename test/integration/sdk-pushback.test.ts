import { expect } from 'chai';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WAYMARK_CLIENT_DEFAULTS, WaymarkClient, type BackoffEvent } from '../../client-sdk/index.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { spawnGateway, useScene, writeTopology, type StartedGateway } from '../support/gateway.js';
import { getTopology, holdLongPolls } from '../support/long-polls.js';
import { region, serviceWith, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** How long a client is watched while every long-poll slot is taken, ms (the figure of issue 21). */
const WINDOW_MS = 10_000;

/** Discovery requests (anything under /.well-known/topology) a gateway has answered so far. */
function countDiscovery(g: StartedGateway): { readonly count: number } {
  const state = { count: 0 };
  g.gateway.on('request', (r) => {
    if (r.path?.startsWith('/.well-known/topology')) state.count++;
  });
  return state;
}

/** Resolves after `ms`, doing `work` every `everyMs` meanwhile (the window is the point of the test, not a wait for something). */
async function during(ms: number, everyMs: number, work: () => Promise<void>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await work();
    await new Promise((r) => setTimeout(r, Math.min(everyMs, Math.max(0, end - Date.now()))));
  }
}

describe('SDK under pushback: refused long-polls and zero refresh hints (issue 21)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const scene = useScene(ctx);
  const clients: WaymarkClient[] = [];
  const client = (options: ConstructorParameters<typeof WaymarkClient>[0]) => {
    const c = new WaymarkClient({ probeLatency: false, ...options });
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
  });

  it('makes at most a handful of discovery requests in 10 s when every long-poll slot is held, and still serves calls', async function () {
    // The window, then up to one Retry-After (8–23 s) before the client long-polls again.
    this.timeout(90_000);
    const env = uniqueEnv('pushback');
    const backend = await scene.backend('eu-west');
    const revision = await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west')],
      services: [serviceWith('catalog', { 'eu-west': [backend.url] })],
    });
    const g = await scene.gateway(env, 'eu-west', 'gw-1', { maxLongPolls: 2 });
    await waitFor(() => g.gateway.revision >= revision, { what: 'the gateway to serve the topology' });
    const held = holdLongPolls(g.url, g.gateway.revision, 2);
    scene.defer(async () => held.close());
    await waitFor(() => g.gateway.heldLongPolls === 2, { what: 'both long-poll slots to be held' });

    const discovery = countDiscovery(g);
    const c = client({ bootstrap: [g.url] });
    const backoffs: BackoffEvent[] = [];
    c.on('backoff', (e) => backoffs.push(e));
    await c.ready();
    let calls = 0;
    await during(WINDOW_MS, 500, async () => {
      const res = await c.request('catalog', { url: '/items' });
      expect(res.status).to.equal(200);
      calls++;
    });
    console.log(`      every slot held: ${discovery.count} discovery requests in ${WINDOW_MS / 1000} s, ${calls} calls served, ${backoffs.length} backoff(s)`);
    expect(discovery.count, `discovery requests in ${WINDOW_MS} ms with every slot held`).to.be.at.most(5);
    expect(calls).to.be.at.least(5);
    expect(backend.received.length).to.equal(calls);
    expect(backoffs.length).to.be.at.least(1);
    expect(backoffs[0]).to.include({ reason: 'long-poll-refused', gateway: g.url, status: 503 });
    expect(backoffs[0]!.delayMs).to.be.at.least(1000);
    const stats = c.stats();
    expect(stats.discoveryRequests).to.equal(discovery.count);
    expect(stats.refusals).to.be.at.least(1);
    expect(stats.backoffs).to.equal(backoffs.length);
    expect(stats.longPollsRefused).to.be.at.least(1);

    // Once a slot is free, the client long-polls again and sees a change at once.
    held.close();
    await waitFor(() => g.gateway.heldLongPolls === 1, { timeoutMs: 45_000, intervalMs: 100, what: 'the client to long-poll again once slots are free' });
    const next = await writeTopology(ctx.conn, ctx.layout, env, { services: [serviceWith('catalog', { 'eu-west': [backend.url] }, { basePath: '/catalog/v2' })] });
    await waitFor(() => (c.topology()?.revision ?? 0) >= next, { timeoutMs: 10_000, what: 'the client to see the change through its long-poll' });
  });

  it('does not poll faster than the minimum interval when a document says 0 s and the gateway answers ?wait= at once', async () => {
    const env = uniqueEnv('zero-hint');
    const revision = await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west')], services: [serviceWith('catalog', { 'eu-west': ['http://127.0.0.1:1'] })] });
    const g = await scene.gateway(env, 'eu-west', 'gw-1');
    await waitFor(() => g.gateway.revision >= revision, { what: 'the gateway to serve the topology' });
    const real = JSON.parse((await getTopology(g.url, '')).body) as TopologyDocument;
    // A gateway (crafted) that hints no interval and answers every request, long-polls included, at once.
    const doc: TopologyDocument = { ...real, refresh: { intervalSeconds: 0, jitterSeconds: 0 } };
    const state = { requests: 0 };
    const server = createServer((_req, res) => {
      state.requests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(doc));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    scene.defer(() => new Promise((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const c = client({ bootstrap: [url], environment: env });
    await c.ready();
    const before = state.requests;
    await during(WINDOW_MS, WINDOW_MS, async () => undefined);
    const made = state.requests - before;
    console.log(`      refresh hint 0 s, ?wait= answered at once: ${made} requests in ${WINDOW_MS / 1000} s`);
    const floorMs = WAYMARK_CLIENT_DEFAULTS.minRefreshIntervalSeconds * 1000;
    // The first long-poll (answered at once, so the client polls instead), then one poll per floor at most.
    expect(made, `requests in ${WINDOW_MS} ms to a gateway that answers at once, hint 0 s`).to.be.at.most(Math.ceil(WINDOW_MS / floorMs) + 1);
    expect(c.stats().discoveryRequests).to.be.at.least(made);
  });

  it('keeps backing off refused long-polls while plain GETs succeed (only a long-poll success resets it)', async () => {
    const env = uniqueEnv('no-reset');
    const revision = await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west')], services: [serviceWith('catalog', { 'eu-west': ['http://127.0.0.1:1'] })] });
    const g = await scene.gateway(env, 'eu-west', 'gw-1');
    await waitFor(() => g.gateway.revision >= revision, { what: 'the gateway to serve the topology' });
    const body = (await getTopology(g.url, '')).body;
    const served = (JSON.parse(body) as TopologyDocument).revision;
    // A crafted gateway: plain GETs served, every long-poll refused with 429 and no Retry-After,
    // saying a newer revision, so the client makes a plain GET (a success) after each refusal.
    const state = { plain: 0, longPolls: 0 };
    const server = createServer((req, res) => {
      if (req.url?.includes('wait=')) {
        state.longPolls++;
        res.writeHead(429, { 'content-type': 'application/json', 'x-waymark-revision': String(served + 1) });
        res.end(JSON.stringify({ code: 'TOO_MANY_LONG_POLLS_FROM_CLIENT', message: 'refused' }));
        return;
      }
      state.plain++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    scene.defer(() => new Promise((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const c = client({ bootstrap: [url], environment: env, discoveryRetryDelayMs: 100, discoveryMaxRetryDelayMs: 60_000, discoveryBackoffJitter: 0 });
    const backoffs: BackoffEvent[] = [];
    c.on('backoff', (e) => backoffs.push(e));
    await c.ready();
    await waitFor(() => backoffs.length >= 5, { timeoutMs: 20_000, what: 'five refused long-polls' });
    expect(backoffs.slice(0, 5).map((e) => [e.reason, e.kind, e.attempt, e.status])).to.deep.equal(
      [1, 2, 3, 4, 5].map((n) => ['long-poll-refused', 'long-poll', n, 429]),
    );
    // Without jitter the delays are the ceilings: 100 ms × 1.6ⁿ⁻¹.
    expect(backoffs.slice(0, 5).map((e) => e.delayMs)).to.deep.equal([100, 160, 256, 410, 655]);
    expect(state.plain).to.be.at.least(5);
  });
});

describe('gateway long-poll limits: global and per client address (issue 21)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const scene = useScene(ctx);

  const ready = async (extra: Parameters<typeof scene.gateway>[3] = {}) => {
    const env = uniqueEnv('lp-limit');
    const revision = await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west')], services: [serviceWith('catalog', { 'eu-west': ['http://127.0.0.1:1'] })] });
    const g = await scene.gateway(env, 'eu-west', 'gw-1', extra);
    await waitFor(() => g.gateway.revision >= revision, { what: 'the gateway to serve the topology' });
    return g;
  };
  const retryAfter = (headers: Record<string, string | string[] | undefined>) => Number(headers['retry-after']);

  it('refuses a 5th long-poll from one address with 429 and Retry-After while another address still gets a slot', async () => {
    const g = await ready();
    const rev = g.gateway.revision;
    const four = holdLongPolls(g.url, rev, 4, { localAddress: '127.0.0.1' });
    scene.defer(async () => four.close());
    await waitFor(() => g.gateway.heldLongPolls === 4, { what: 'four long-polls held' });
    const fifth = await getTopology(g.url, `?wait=${rev}&timeout=2`, { localAddress: '127.0.0.1' });
    expect(fifth.status, 'the 5th long-poll from 127.0.0.1').to.equal(429);
    expect(JSON.parse(fifth.body)).to.include({ code: 'TOO_MANY_LONG_POLLS_FROM_CLIENT' });
    expect(retryAfter(fifth.headers)).to.be.within(1, 120);
    const other = holdLongPolls(g.url, rev, 1, { localAddress: '127.0.0.2' });
    scene.defer(async () => other.close());
    await waitFor(() => g.gateway.heldLongPolls === 5, { what: 'the long-poll from 127.0.0.2 to be held' });
    // A plain GET from the full address is still served.
    expect((await getTopology(g.url, '', { localAddress: '127.0.0.1' })).status).to.equal(200);
    const metrics = await (await fetch(`${g.url}/metrics`)).text();
    expect(metrics).to.match(/waymark_gateway_longpolls_refused_total\{reason="client"[^}]*\} 1/);
  });

  it('spreads Retry-After of refusals (503 when every slot is held) so refused clients do not return in lockstep', async () => {
    const g = await ready({ maxLongPolls: 1 });
    const rev = g.gateway.revision;
    const held = holdLongPolls(g.url, rev, 1);
    scene.defer(async () => held.close());
    await waitFor(() => g.gateway.heldLongPolls === 1, { what: 'the only slot held' });
    const seen = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const answer = await getTopology(g.url, `?wait=${rev}&timeout=2`);
      expect(answer.status).to.equal(503);
      expect(JSON.parse(answer.body)).to.include({ code: 'TOO_MANY_LONG_POLLS' });
      seen.add(retryAfter(answer.headers));
    }
    expect(seen.size, `Retry-After values: ${[...seen].join(', ')}`).to.be.at.least(3);
  });

  it('takes the client address from a trusted proxy header only when told to', async () => {
    const g = await ready({ clientAddressHeader: 'x-forwarded-for', maxLongPollsPerClient: 1 });
    const rev = g.gateway.revision;
    const a = holdLongPolls(g.url, rev, 1, { headers: { 'x-forwarded-for': '198.51.100.7, 10.0.0.1' } });
    scene.defer(async () => a.close());
    await waitFor(() => g.gateway.heldLongPolls === 1, { what: 'the first client held' });
    // Same socket address, another forwarded client: held. The proxy's last hop names the client.
    const b = holdLongPolls(g.url, rev, 1, { headers: { 'x-forwarded-for': '10.0.0.2' } });
    scene.defer(async () => b.close());
    await waitFor(() => g.gateway.heldLongPolls === 2, { what: 'the second forwarded client held' });
    const again = await getTopology(g.url, `?wait=${rev}&timeout=2`, { headers: { 'x-forwarded-for': '10.0.0.1' } });
    expect(again.status).to.equal(429);
  });

  it('takes both limits from the command line (waymark gateway --max-long-polls 2 --max-long-polls-per-client 1)', async () => {
    const env = uniqueEnv('lp-cli');
    const revision = await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west')], services: [serviceWith('catalog', { 'eu-west': ['http://127.0.0.1:1'] })] });
    const child = await spawnGateway({
      etcd: ctx.etcd.endpoints,
      environment: env,
      region: 'eu-west',
      id: 'gw-cli',
      extraArgs: ['--max-long-polls', '2', '--max-long-polls-per-client', '1', '--quiet'],
    });
    scene.defer(async () => {
      child.kill('SIGKILL');
      await child.exited;
    });
    // Served once the gateway lists itself (its registration moves the revision past the apply's).
    const served = await waitFor(
      async () => {
        const doc = JSON.parse((await getTopology(child.url, '')).body) as TopologyDocument;
        return doc.revision >= revision && doc.regions.some((r) => r.gateways.some((g) => g.id === 'gw-cli')) ? doc.revision : undefined;
      },
      { what: 'the gateway to serve the topology listing itself' },
    );
    const held = holdLongPolls(child.url, served, 1, { localAddress: '127.0.0.1' });
    scene.defer(async () => held.close());
    const heldGauge = async () => /waymark_gateway_longpolls_held\{[^}]*\} (\d+)/.exec(await (await fetch(`${child.url}/metrics`)).text())?.[1];
    await waitFor(async () => (await heldGauge()) === '1', { what: 'the first long-poll held' });
    expect((await getTopology(child.url, `?wait=${served}&timeout=2`, { localAddress: '127.0.0.1' })).status).to.equal(429);
    const second = holdLongPolls(child.url, served, 1, { localAddress: '127.0.0.2' });
    scene.defer(async () => second.close());
    await waitFor(async () => (await heldGauge()) === '2', { what: 'the long-poll of another address held' });
    expect((await getTopology(child.url, `?wait=${served}&timeout=2`, { localAddress: '127.0.0.3' })).status).to.equal(503);
  });
});
