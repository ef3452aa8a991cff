import { expect } from 'chai';
import { request, type IncomingHttpHeaders } from 'node:http';
import type { ApiError } from '../../openapi/index.js';
import { parseExposition, sumSamples } from '../../telemetry/index.js';
import { adminCall } from '../support/admin-api.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { spawnGateway, useScene, writeTopology, type StartedGateway } from '../support/gateway.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { region, serviceWith, useEtcd } from '../support/store.js';
import type { GatewayOptions } from '../../gateway/index.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json<T>(): T;
}

/** One exchange on its own connection; the path is sent exactly as given (node checks only for control characters). */
function http(base: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path, method: options.method ?? 'GET', headers: options.headers, agent: false, timeout: options.timeoutMs ?? 10_000 },
      (res) => {
        let text = '';
        res.setEncoding('latin1');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path} within ${options.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * The gateway's side of the upstream policy and of issue 12's other findings: refusal at connect
 * time on the resolved address (records written straight to etcd skip the registry's checks),
 * loop detection, header injection through 421 Link and gateway records, and path normalization.
 */
describe('gateway upstream guard, loops, header safety and paths (real etcd, gateways, registry)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  let reg: TestRegistry;
  const scene = useScene(ctx);
  before(async () => {
    reg = await startRegistry({ endpoints: ctx.etcd.endpoints });
  });
  after(async () => {
    await reg?.close();
  });
  const backend = (name: string) => scene.backend(name);
  const gateway = (env: string, regionName: string, id: string, extra: Partial<GatewayOptions> = {}) => scene.gateway(env, regionName, id, extra);
  const svc = serviceWith;
  async function refusedCount(g: StartedGateway): Promise<number> {
    const text = await (await fetch(`${g.url}/metrics`)).text();
    return sumSamples(parseExposition(text), 'waymark_gateway_upstream_errors_total', (l) => l.reason === 'refused');
  }

  describe('connect-time refusal of records written straight to etcd', () => {
    it("answers 502 UPSTREAM_REFUSED for etcd's own URL: an anonymous POST /v3/kv/range reads nothing", async () => {
      const env = uniqueEnv('guard');
      const etcdUrl = ctx.etcd.endpoints[0];
      const etcdPort = new URL(etcdUrl).port;
      await ctx.conn.client.put(ctx.layout.environmentSpec(env)).value(JSON.stringify({ name: env, variables: { dbPassword: 'hunter2' } })).exec();
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west', 'EU')],
        services: [
          svc('kv', { 'eu-west': [etcdUrl] }, { basePath: '/v3' }),
          svc('kvbyname', { 'eu-west': [`http://localhost:${etcdPort}`] }, { basePath: '/byname' }),
        ],
      });
      const g = await gateway(env, 'eu-west', 'gw-1');
      const before = await refusedCount(g);
      const body = JSON.stringify({ key: Buffer.from('/').toString('base64'), range_end: Buffer.from('\0').toString('base64') });
      const read = await http(g.url, '/v3/kv/range', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      expect(read.status, read.text.slice(0, 300)).to.equal(502);
      expect(read.json<ApiError>().code).to.equal('UPSTREAM_REFUSED');
      // The body links the gateway's own URL (loopback too), never etcd's address.
      expect(read.text).not.to.include(`:${etcdPort}`);
      expect(read.text).not.to.include(new URL(etcdUrl).host);
      expect(read.text).not.to.include(Buffer.from('hunter2').toString('base64').slice(0, 8));
      const put = await http(g.url, '/v3/kv/put', {
        method: 'POST',
        body: JSON.stringify({ key: Buffer.from(ctx.layout.service(env, 'kv')).toString('base64'), value: Buffer.from('{}').toString('base64') }),
      });
      expect(put.status).to.equal(502);
      expect(JSON.parse((await ctx.conn.client.get(ctx.layout.service(env, 'kv')).string())!)).to.have.property('basePath', '/v3');
      // localhost resolves to etcd's address: refused on the resolved address, by the gateway's lookup.
      const byName = await http(g.url, '/byname/v3/kv/range', { method: 'POST', body });
      expect(byName.status).to.equal(502);
      expect(byName.json<ApiError>().code).to.equal('UPSTREAM_REFUSED');
      expect(byName.text).not.to.include(etcdPort);
      expect(await refusedCount(g)).to.be.at.least(before + 3);
    });

    it('refuses link-local metadata addresses at once, in any spelling, without connecting', async () => {
      const env = uniqueEnv('guard');
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west', 'EU')],
        services: [
          svc('meta', { 'eu-west': ['http://169.254.169.254'] }),
          svc('meta6', { 'eu-west': ['http://[::ffff:169.254.169.254]'] }),
          svc('metadec', { 'eu-west': ['http://2852039166'] }),
        ],
      });
      const g = await gateway(env, 'eu-west', 'gw-1', { upstreamConnectTimeoutMs: 5000 });
      for (const path of ['/meta/v1/latest/meta-data/', '/meta6/v1/latest/', '/metadec/v1/latest/']) {
        const started = Date.now();
        const res = await http(g.url, path);
        expect(res.status, path).to.equal(502);
        expect(res.json<ApiError>().code, path).to.equal('UPSTREAM_REFUSED');
        expect(res.text).not.to.include('169.254');
        expect(Date.now() - started, 'no connect attempt').to.be.below(1000);
      }
    });

    it("refuses the gateway's own address and other registered gateways' (no loop, no relay)", async () => {
      const env = uniqueEnv('guard');
      await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west', 'EU'), region('us-east', 'US')] });
      const eu = await gateway(env, 'eu-west', 'gw-eu');
      const us = await gateway(env, 'us-east', 'gw-us');
      let hops = 0;
      const count = () => hops++;
      eu.gateway.on('request', count);
      us.gateway.on('request', count);
      await writeTopology(ctx.conn, ctx.layout, env, {
        services: [svc('self', { 'eu-west': [eu.url] }), svc('peer', { 'eu-west': [us.url] })],
      });
      await waitFor(() => eu.gateway.document?.services.length === 2 && eu.gateway.document.regions.every((r) => r.gateways.length === 1), {
        what: 'both services and gateways in the document',
      });
      for (const path of ['/self/v1/x', '/peer/v1/x']) {
        hops = 0;
        const res = await http(eu.url, path, { timeoutMs: 5000 });
        expect(res.status, `${path}: ${res.text.slice(0, 200)}`).to.equal(502);
        expect(res.json<ApiError>().code).to.equal('UPSTREAM_REFUSED');
        expect(hops, `${path}: requests the gateways saw`).to.equal(1);
      }
    });

    /** Sets the environment's policy to allow only 10.0.0.0/8 (an admin's PUT), then returns the gateway's first 502 once it applies it. */
    async function refuseLoopback(env: string, gatewayUrl: string) {
      const set = await adminCall(reg.url, 'PUT', `/v1/environments/${env}/upstream-policy`, {
        token: reg.adminToken,
        body: JSON.stringify({ allow: ['10.0.0.0/8'] }),
        type: 'application/json',
      });
      expect(set.status).to.equal(200);
      return waitFor(
        async () => {
          const r = await http(gatewayUrl, '/api/v1/x');
          return r.status === 502 ? r : undefined;
        },
        { what: 'the policy to reach the gateway', timeoutMs: 5000 },
      );
    }

    it("enforces the environment's policy set by an admin, as soon as it changes", async () => {
      const env = uniqueEnv('guard');
      const b = await backend('plain');
      await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west', 'EU')], services: [svc('api', { 'eu-west': [b.url] })] });
      const g = await gateway(env, 'eu-west', 'gw-1');
      expect((await http(g.url, '/api/v1/x')).status).to.equal(200);
      const refused = await refuseLoopback(env, g.url);
      expect(refused.json<ApiError>().code).to.equal('UPSTREAM_REFUSED');
      expect(refused.text).not.to.include(new URL(b.url).port);
      const received = b.received.length;
      expect((await adminCall(reg.url, 'DELETE', `/v1/environments/${env}/upstream-policy`, { token: reg.adminToken })).status).to.equal(200);
      await waitFor(async () => (await http(g.url, '/api/v1/x')).status === 200, { what: 'the default policy back', timeoutMs: 5000 });
      expect(b.received.length).to.equal(received + 1);
    });

    it('a policy change reaches pooled connections too: an upstream by name, connected before, is refused on its kept-alive socket', async () => {
      const env = uniqueEnv('guard');
      const b = await backend('plain');
      // By name, the URL check cannot decide: only the connection's address can.
      const byName = b.url.replace('127.0.0.1', 'localhost');
      await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west', 'EU')], services: [svc('api', { 'eu-west': [byName] })] });
      const g = await gateway(env, 'eu-west', 'gw-1');
      expect((await http(g.url, '/api/v1/x')).status).to.equal(200);
      const refused = await refuseLoopback(env, g.url);
      expect(refused.json<ApiError>().code).to.equal('UPSTREAM_REFUSED');
      const reached = b.received.length;
      for (let i = 0; i < 3; i++) expect((await http(g.url, '/api/v1/x')).status).to.equal(502);
      // Nothing more reached the backend once the gateway had the policy, pooled socket or not.
      expect(b.received.length).to.equal(reached);
    });
  });

  describe('loops', () => {
    it('answers 508 LOOP_DETECTED on the first hop back to itself (through a relay the guard cannot know)', async () => {
      const env = uniqueEnv('loop');
      await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west', 'EU')] });
      const g = await gateway(env, 'eu-west', 'gw-1', { upstreamTimeoutMs: 3000 });
      const relay = await startFaultProxy({ target: g.gateway.address!.address + ':' + g.gateway.address!.port });
      scene.defer(() => relay.close());
      await writeTopology(ctx.conn, ctx.layout, env, { services: [svc('echo', { 'eu-west': [relay.url] })] });
      await waitFor(() => g.gateway.document?.services.length === 1, { what: 'the service' });
      let hops = 0;
      g.gateway.on('request', () => hops++);
      let res: Reply | Error;
      try {
        res = await http(g.url, '/echo/v1/x', { timeoutMs: 5000 });
      } catch (err) {
        res = err as Error;
      }
      const seen = hops;
      expect(res instanceof Error ? res.message : `${res.status} ${res.text.slice(0, 200)}`, `after ${seen} requests`).to.match(/^508 /);
      expect((res as Reply).json<ApiError>().code).to.equal('LOOP_DETECTED');
      expect(seen - 1, 'internal hops').to.be.at.most(2);
    });

    it('answers 508 within 2 hops when two gateways of different environments point at each other', async () => {
      const a = uniqueEnv('loop');
      const b = uniqueEnv('loop');
      await writeTopology(ctx.conn, ctx.layout, a, { regions: [region('eu-west', 'EU')] });
      await writeTopology(ctx.conn, ctx.layout, b, { regions: [region('eu-west', 'EU')] });
      const ga = await gateway(a, 'eu-west', 'gw-eu', { upstreamTimeoutMs: 3000 });
      const gb = await gateway(b, 'eu-west', 'gw-eu', { upstreamTimeoutMs: 3000 });
      // Written straight to etcd: the registry refuses both (registered gateway addresses).
      await writeTopology(ctx.conn, ctx.layout, a, { services: [svc('ping', { 'eu-west': [gb.url] })] });
      await writeTopology(ctx.conn, ctx.layout, b, { services: [svc('ping', { 'eu-west': [ga.url] })] });
      await waitFor(() => ga.gateway.document?.services.length === 1 && gb.gateway.document?.services.length === 1, { what: 'both services' });
      let hops = 0;
      ga.gateway.on('request', () => hops++);
      gb.gateway.on('request', () => hops++);
      let res: Reply | Error;
      try {
        res = await http(ga.url, '/ping/v1/x', { timeoutMs: 5000 });
      } catch (err) {
        res = err as Error;
      }
      const seen = hops;
      expect(res instanceof Error ? res.message : `${res.status} ${res.text.slice(0, 200)}`, `after ${seen} requests`).to.match(/^508 /);
      expect(seen - 1, 'internal hops').to.be.at.most(2);
    });
  });

  describe('header safety', () => {
    it('421 Link: a crafted query stays inside one percent-encoded link per alternate', async () => {
      const env = uniqueEnv('link');
      const us = await backend('us');
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west', 'EU'), region('us-east', 'US')],
        services: [svc('crm', { 'us-east': [us.url] })],
      });
      const eu = await gateway(env, 'eu-west', 'gw-eu');
      const usGw = await gateway(env, 'us-east', 'gw-us');
      await waitFor(() => eu.gateway.document?.regions.find((r) => r.name === 'us-east')?.gateways.length, { what: 'gw-us in the topology' });
      // No spaces: a request target cannot carry them, so an attacker needs none.
      const crafted = '/crm/v1/x?a=1>;rel="alternate";title="x",<http://evil.example/steal>;rel="alternate",<http://evil.example/?';
      const res = await http(eu.url, crafted);
      expect(res.status).to.equal(421);
      const link = String(res.headers.link);
      const targets = [...link.matchAll(/<([^>]*)>/g)].map((m) => m[1]);
      expect(targets, link).to.have.length(2); // one alternate, and the service description
      expect(targets[0].startsWith(`${usGw.url}/crm/v1/x?a=1`), targets[0]).to.equal(true);
      expect(targets[0]).to.include('%3E');
      expect(targets[0]).to.include('%22');
      expect(link).not.to.match(/<http:\/\/evil/);
      const body = res.json<ApiError>();
      expect(body._links?.['alternate-1'].href).to.equal(targets[0]);
      expect(Object.keys(body._links ?? {}).filter((k) => k.startsWith('alternate'))).to.have.length(1);
    });

    it('a gateway record whose URL holds CR/LF (written straight to etcd) never reaches a header; the gateway stays up', async () => {
      const env = uniqueEnv('crlf');
      const us = await backend('us');
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west', 'EU'), region('us-east', 'US')],
        services: [svc('crm', { 'us-east': [us.url] })],
      });
      const eu = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-eu' });
      scene.defer(async () => {
        eu.kill('SIGKILL');
        await eu.exited;
      });
      const record = (id: string, url: string) => JSON.stringify({ id, region: 'us-east', url, status: 'up', startedAt: new Date().toISOString() });
      await ctx.conn.client.put(ctx.layout.gateway(env, 'us-east', 'gw-evil')).value(record('gw-evil', 'http://127.0.0.1:9/\r\nSet-Cookie: session=stolen')).exec();
      // A valid record written after it: once it is served, the bad one was seen too (watch events are ordered).
      await ctx.conn.client.put(ctx.layout.gateway(env, 'us-east', 'gw-ok')).value(record('gw-ok', 'http://127.0.0.1:10')).exec();
      await waitFor(async () => (await (await fetch(`${eu.url}/.well-known/topology`)).text()).includes('gw-ok'), { what: 'gw-ok in the document' });
      let res: Reply | Error;
      try {
        res = await http(eu.url, '/crm/v1/x');
      } catch (err) {
        res = err as Error;
      }
      expect(res instanceof Error ? res.message : res.status).to.be.oneOf([421, 500]);
      const reply = res as Reply;
      expect(reply.headers['set-cookie']).to.equal(undefined);
      expect(JSON.stringify(reply.headers)).not.to.include('stolen');
      const health = await fetch(`${eu.url}/healthz`);
      expect(health.status).to.equal(200);
      const doc = await (await fetch(`${eu.url}/.well-known/topology`)).text();
      expect(doc).not.to.include('stolen');
    });
  });

  describe('path normalization', () => {
    it('refuses ;-parameter, double-encoded and overlong dot segments with 400, reaching no backend; decodes unreserved escapes before matching', async () => {
      const env = uniqueEnv('path');
      const hr = await backend('hr');
      await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west', 'EU')], services: [svc('hr', { 'eu-west': [hr.url] })] });
      const g = await gateway(env, 'eu-west', 'gw-1');
      for (const path of [
        '/hr/v1/..;/admin',
        '/hr/v1/..;jsessionid=1/admin',
        '/hr/v1/.;/admin',
        '/hr/v1/%2e%2e;/admin',
        '/hr/v1/..%3b/admin',
        '/hr/v1/..%3B/admin',
        '/hr/v1/%252e%252e/admin',
        '/hr/v1/a%252fb',
        '/hr/v1/%c0%ae%c0%ae/admin',
        '/hr/v1/%e0%80%ae%e0%80%ae/admin',
        '/hr/v1/%ef%bc%8e%ef%bc%8e/admin',
        '/hr/v1/%2e%2e/admin',
        '/hr/v1/a%00b',
        '/hr/v1/a\\..\\admin',
      ]) {
        const res = await http(g.url, path);
        expect(res.status, path).to.equal(400);
        expect(res.json<ApiError>().code, path).to.equal('BAD_REQUEST');
      }
      expect(hr.received, hr.received.map((r) => r.url).join(' ')).to.have.length(0);
      const escaped = await http(g.url, '/h%72/v1/%7Euser/x%41');
      expect(escaped.status).to.equal(200);
      expect(escaped.json<{ url: string }>().url).to.equal('/hr/v1/~user/xA');
    });
  });
});
