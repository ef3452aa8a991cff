import { expect } from 'chai';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import type { ApiError, ServiceRoute, TopologyDocument } from '../../openapi/index.js';
import type { GatewayOptions, RequestInfo } from '../../gateway/index.js';
import { readEnvironment } from '../../store/index.js';
import { startGateway, useScene, writeTopology, type TestBackend } from '../support/gateway.js';
import { region, serviceWith, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  json<T>(): T;
}

/** A raw HTTP exchange (no keep-alive, no decoding), so headers and bytes are seen as sent. */
function http(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path, method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: <T>() => JSON.parse(body.toString()) as T });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Sends raw bytes and returns the raw answer (for requests node's client would refuse to send). */
function raw(base: string, bytes: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(bytes));
    let out = '';
    socket.on('data', (d) => (out += d.toString()));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
  });
}

describe('gateway (real etcd, real backends)', function () {
  this.timeout(30_000);
  const ctx = useEtcd();
  const scene = useScene(ctx);
  const backend = (name: string) => scene.backend(name);
  const gateway = (env: string, regionName: string, id: string, extra: Partial<GatewayOptions> = {}) => scene.gateway(env, regionName, id, extra);
  const svc = serviceWith;

  /** eu-west (EU) and us-east (US), with one service `hr` deployed in eu-west. */
  async function basicEnv(): Promise<{ env: string; eu: TestBackend }> {
    const env = uniqueEnv('gw');
    const eu = await backend('hr-eu');
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU'), region('us-east', 'US')],
      services: [svc('hr', { 'eu-west': [eu.url] })],
    });
    return { env, eu };
  }

  describe('the well-known document', () => {
    it('serves the document with a strong ETag, 304, Cache-Control, Link, gzip and brotli, HEAD', async () => {
      const { env, eu } = await basicEnv();
      const g = await gateway(env, 'eu-west', 'gw-1', { cacheMaxAgeSeconds: 7, staleWhileRevalidateSeconds: 31, maxStaleSeconds: 600 });
      await waitFor(() => g.gateway.document?.regions.find((r) => r.name === 'eu-west')?.gateways.length, { what: 'self-registration in the document' });

      const res = await http(g.url, '/.well-known/topology');
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      const doc = res.json<TopologyDocument>();
      expect(doc.environment).to.equal(env);
      expect(doc.stale).to.equal(false);
      expect(doc.maxStaleSeconds).to.equal(600);
      expect(doc.refresh).to.deep.equal({ intervalSeconds: 30, jitterSeconds: 5 });
      expect([res.headers['x-waymark-gateway'], res.headers['x-waymark-region']]).to.deep.equal(['gw-1', 'eu-west']);
      expect(doc.services.map((s) => s.name)).to.deep.equal(['hr']);
      expect(doc.regions.find((r) => r.name === 'eu-west')!.gateways).to.deep.equal([{ id: 'gw-1', url: g.url, status: 'up' }]);
      expect(res.body.toString()).not.to.include(new URL(eu.url).host); // no upstreams
      expect(JSON.stringify(doc)).not.to.include('upstream');
      expect(res.headers['x-waymark-revision']).to.equal(String(doc.revision));
      expect(res.headers.etag).to.match(new RegExp(`^"${doc.revision}-[A-Za-z0-9_-]+"$`));
      expect(res.headers['cache-control']).to.equal('public, max-age=7, stale-while-revalidate=31, stale-if-error=600');
      expect(res.headers.vary).to.equal('Accept-Encoding');
      expect(res.headers.link).to.include(`<${g.url}/.well-known/topology>; rel="self"`);
      expect(res.headers.link).to.include(`<${g.url}/.well-known/api-catalog>; rel="api-catalog"`);
      expect(res.headers.link).not.to.include('rel="collection"');
      expect(res.headers.warning).to.equal(undefined);
      expect(res.headers['x-waymark-stale-since']).to.equal(undefined);
      expect(res.headers['access-control-allow-origin']).to.equal('*');
      expect(res.headers['access-control-expose-headers']).to.include('ETag').and.include('X-Waymark-Revision');
      expect(doc._links.self.href).to.equal('/.well-known/topology');

      const again = await http(g.url, '/.well-known/topology', { headers: { 'if-none-match': res.headers.etag! } });
      expect(again.status).to.equal(304);
      expect(again.body.length).to.equal(0);
      expect(again.headers.etag).to.equal(res.headers.etag);
      expect(again.headers['x-waymark-revision']).to.equal(String(doc.revision));
      const other = await http(g.url, '/.well-known/topology', { headers: { 'if-none-match': '"1-nope"' } });
      expect(other.status).to.equal(200);
      // If-None-Match is a list compared per entity tag, never a substring.
      const bogus = await http(g.url, '/.well-known/topology', { headers: { 'if-none-match': `${res.headers.etag!.slice(0, -1)}-bogus"` } });
      expect(bogus.status).to.equal(200);
      const listed = await http(g.url, '/.well-known/topology', { headers: { 'if-none-match': `"x", W/${res.headers.etag}` } });
      expect(listed.status).to.equal(304);
      // The identity ETag does not validate the br variant: the client gets the br bytes.
      const crossCoding = await http(g.url, '/.well-known/topology', { headers: { 'if-none-match': res.headers.etag!, 'accept-encoding': 'br' } });
      expect(crossCoding.status).to.equal(200);
      expect(crossCoding.headers['content-encoding']).to.equal('br');

      const preflight = await http(g.url, '/.well-known/topology', {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'if-none-match' },
      });
      expect(preflight.status).to.equal(204);
      expect(preflight.headers['access-control-allow-origin']).to.equal('*');
      expect(preflight.headers['access-control-allow-methods']).to.include('GET');
      expect(preflight.headers['access-control-allow-headers']).to.match(/If-None-Match/i);

      const gz = await http(g.url, '/.well-known/topology', { headers: { 'accept-encoding': 'gzip' } });
      expect(gz.headers['content-encoding']).to.equal('gzip');
      expect(gunzipSync(gz.body).equals(res.body)).to.equal(true);
      expect(gz.headers.etag).not.to.equal(res.headers.etag);
      const br = await http(g.url, '/.well-known/topology', { headers: { 'accept-encoding': 'gzip, deflate, br' } });
      expect(br.headers['content-encoding']).to.equal('br');
      expect(brotliDecompressSync(br.body).equals(res.body)).to.equal(true);
      const refused = await http(g.url, '/.well-known/topology', { headers: { 'accept-encoding': 'br;q=0, gzip;q=0' } });
      expect(refused.headers['content-encoding']).to.equal(undefined);
      // A cached gzip variant revalidates too.
      expect((await http(g.url, '/.well-known/topology', { headers: { 'accept-encoding': 'gzip', 'if-none-match': gz.headers.etag! } })).status).to.equal(304);

      const head = await http(g.url, '/.well-known/topology', { method: 'HEAD' });
      expect(head.status).to.equal(200);
      expect(head.body.length).to.equal(0);
      expect(head.headers['content-length']).to.equal(String(res.body.length));
      expect(head.headers.etag).to.equal(res.headers.etag);
      const post = await http(g.url, '/.well-known/topology', { method: 'POST' });
      expect(post.status).to.equal(405);
      expect(post.headers['access-control-allow-origin']).to.equal('*');
    });

    it('long-polls: wakes on a change, answers 304 on timeout (200 without a validator), never storable, and bounds held requests', async () => {
      const { env } = await basicEnv();
      const g = await gateway(env, 'eu-west', 'gw-1', { maxLongPolls: 1 });
      const rev = g.gateway.revision;
      const etag = (await http(g.url, '/.well-known/topology')).headers.etag!;
      const timedOut = await http(g.url, `/.well-known/topology?wait=${rev}&timeout=0.2`, { headers: { 'if-none-match': etag } });
      expect(timedOut.status).to.equal(304);
      expect(timedOut.headers['x-waymark-revision']).to.equal(String(rev));
      expect(timedOut.headers['cache-control']).to.equal('no-store');
      // A 304 needs a validator to refer to (RFC 9110 §15.4.5): without one the timeout answers the document.
      const unconditional = await http(g.url, `/.well-known/topology?wait=${rev}&timeout=0.2`);
      expect(unconditional.status).to.equal(200);
      expect(unconditional.json<TopologyDocument>().revision).to.equal(rev);
      expect(unconditional.headers['cache-control']).to.equal('no-store');
      const immediate = await http(g.url, `/.well-known/topology?wait=${rev - 1}&timeout=5`);
      expect(immediate.status).to.equal(200);
      expect(immediate.headers['cache-control']).to.equal('no-store');

      const started = Date.now();
      const held = http(g.url, `/.well-known/topology?wait=${rev}&timeout=20`);
      await waitFor(() => g.gateway.heldLongPolls === 1, { what: 'the long-poll to be held' });
      const full = await http(g.url, `/.well-known/topology?wait=${rev}&timeout=20`);
      expect(full.status).to.equal(503);
      expect(full.headers['retry-after']).to.match(/^\d+$/);
      expect(full.json<ApiError>().code).to.equal('TOO_MANY_LONG_POLLS');
      const newRev = await writeTopology(ctx.conn, ctx.layout, env, { services: [svc('payroll', { 'eu-west': ['http://127.0.0.1:1'] })] });
      const woke = await held;
      expect(Date.now() - started).to.be.below(10_000);
      expect(woke.status).to.equal(200);
      const doc = woke.json<TopologyDocument>();
      expect(doc.revision).to.equal(newRev);
      expect(doc.services.map((s) => s.name)).to.deep.equal(['hr', 'payroll']);
      expect((await http(g.url, '/.well-known/topology?wait=abc')).status).to.equal(400);
    });

    it('carries manifest changes into the document, never going back in revision, and reports the applied revision', async () => {
      const { env } = await basicEnv();
      const g = await gateway(env, 'eu-west', 'gw-1');
      const revisions: number[] = [];
      g.gateway.on('topology', (doc) => revisions.push(doc.revision));
      const r1 = await writeTopology(ctx.conn, ctx.layout, env, { services: [svc('crm', { 'us-east': ['http://127.0.0.1:1'] })] });
      await waitFor(() => g.gateway.revision >= r1, { what: 'the change' });
      const r2 = await writeTopology(ctx.conn, ctx.layout, env, { deleteServices: ['hr'] });
      await waitFor(() => g.gateway.revision >= r2, { what: 'the deletion' });
      const doc = (await http(g.url, '/.well-known/topology')).json<TopologyDocument>();
      expect(doc.revision).to.equal(r2);
      expect(doc.services.map((s) => s.name)).to.deep.equal(['crm']);
      expect(doc.services[0].regions).to.deep.equal(['us-east']);
      expect(revisions).to.deep.equal([...revisions].sort((a, b) => a - b));
      const report = await waitFor(
        async () => {
          const v = await ctx.conn.client.get(ctx.layout.report(env, 'eu-west', 'gw-1')).json() as { appliedRevision: number; registration: string } | null;
          return v && v.appliedRevision === r2 ? v : undefined;
        },
        { what: 'the report of the applied revision' },
      );
      expect(report.registration).to.equal('registered');
    });

    it('leads a client that knows only the well-known URL and a service name to the backend, by links alone', async () => {
      const env = uniqueEnv('walk');
      const hrEu = await backend('walk-eu');
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west', 'EU'), region('us-east', 'US')],
        services: [svc('hr', { 'eu-west': [hrEu.url] }, { placement: 'pinned', jurisdictions: ['EU'] })],
      });
      const west = await gateway(env, 'eu-west', 'gw-w');
      const east = await gateway(env, 'us-east', 'gw-e');
      await waitFor(() => east.gateway.document?.regions.every((r) => r.gateways.length === 1), { what: 'both gateways registered' });

      // A generic HAL walk: start at the US gateway's well-known URL, resolve every href against where it was found.
      const start = new URL('/.well-known/topology', east.url);
      const doc = (await (await fetch(start)).json()) as TopologyDocument;
      const template = new URL(doc._links.service.href.replace('{name}', 'hr'), start);
      const route = (await (await fetch(template)).json()) as ServiceRoute;
      const entry = new URL(route._links.entrypoints[0]!.href, template);
      expect(entry.origin).to.equal(new URL(west.url).origin);
      const res = await fetch(new URL('employees/7', `${entry.href}/`));
      expect(res.status).to.equal(200);
      expect(hrEu.received.at(-1)?.url).to.equal('/hr/v1/employees/7');
      // Pinned to the EU: no entry point on the US gateway, in the document or in the route.
      const hr = doc.services.find((x) => x.name === 'hr')!;
      expect(hr._links!.entrypoints.map((e) => e.name)).to.deep.equal(['gw-w']);
      expect(route._links.entrypoints.map((e) => e.region)).to.deep.equal(['eu-west']);
    });

    it('serves the same bytes and ETag for the same revision on every gateway of an environment', async () => {
      const { env } = await basicEnv();
      const a = await gateway(env, 'eu-west', 'gw-a');
      const b = await gateway(env, 'eu-west', 'gw-b');
      await waitFor(
        () => a.gateway.document?.regions[0]?.gateways.length === 2 && a.gateway.revision === b.gateway.revision,
        { what: 'both gateways at one revision with both registrations' },
      );
      const [ra, rb] = [await http(a.url, '/.well-known/topology'), await http(b.url, '/.well-known/topology')];
      expect(ra.headers['x-waymark-revision']).to.equal(rb.headers['x-waymark-revision']);
      expect(ra.body.equals(rb.body)).to.equal(true);
      expect(ra.headers.etag).to.equal(rb.headers.etag);
      // Revalidation across gateways (failover, a cache in front of a pool) costs a 304.
      expect((await http(b.url, '/.well-known/topology', { headers: { 'if-none-match': ra.headers.etag! } })).status).to.equal(304);
      expect(ra.headers['x-waymark-gateway']).to.equal('gw-a');
      expect(rb.headers['x-waymark-gateway']).to.equal('gw-b');
    });

    it('serves service routes, the services collection, the API catalog, health, and JSON 404s', async () => {
      const env = uniqueEnv('gw');
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west', 'EU'), region('eu-central', 'EU'), region('us-east', 'US')],
        services: [svc('hr', { 'eu-west': ['http://127.0.0.1:1'], 'eu-central': ['http://127.0.0.1:1'], 'us-east': ['http://127.0.0.1:1'] }, { failover: ['us-east'] })],
      });
      const west = await gateway(env, 'eu-west', 'gw-w');
      await gateway(env, 'eu-central', 'gw-c');
      await gateway(env, 'us-east', 'gw-u');
      await waitFor(() => west.gateway.document?.regions.every((r) => r.gateways.length === 1), { what: 'three gateways registered' });

      const route = (await http(west.url, '/.well-known/topology/services/hr')).json<ServiceRoute>();
      expect(route.from).to.equal('eu-west');
      expect(route.service.name).to.equal('hr');
      expect(route.gateways.map((x) => x.id)).to.deep.equal(['gw-w', 'gw-u', 'gw-c']);
      const fromUs = await http(west.url, '/.well-known/topology/services/hr?from=us-east');
      expect(fromUs.json<ServiceRoute>().gateways.map((x) => x.id)).to.deep.equal(['gw-u', 'gw-c', 'gw-w']);
      expect(fromUs.headers.etag).to.be.a('string');
      expect((await http(west.url, '/.well-known/topology/services/nope')).status).to.equal(404);
      expect((await http(west.url, '/.well-known/topology/services/hr?from=Bad!')).status).to.equal(400);
      const mars = await http(west.url, '/.well-known/topology/services/hr?from=mars');
      expect(mars.status).to.equal(400);
      expect(mars.json<ApiError>().message).to.include('eu-central, eu-west, us-east');
      // Each resource is the context of its own links (RFC 8288 §3.2).
      expect(fromUs.headers.link).to.include(`<${west.url}/.well-known/topology/services/hr?from=us-east>; rel="self"`);

      const list = (await http(west.url, '/.well-known/topology/services')).json<{ services: Array<{ name: string }> }>();
      expect(list.services.map((s) => s.name)).to.deep.equal(['hr']);

      const catalog = await http(west.url, '/.well-known/api-catalog');
      expect(catalog.status).to.equal(200);
      expect(catalog.headers.link).to.include(`<${west.url}/.well-known/api-catalog>; rel="self"`);
      expect(catalog.headers['access-control-allow-origin']).to.equal('*');
      expect(catalog.headers['content-type']).to.match(/^application\/linkset\+json/);
      const linkset = catalog.json<{ linkset: Array<{ anchor: string; item?: Array<{ href: string }> }> }>();
      expect(linkset.linkset[0].item![0].href).to.equal(`${west.url}/.well-known/topology`);
      expect((await http(west.url, '/.well-known/api-catalog', { method: 'HEAD' })).status).to.equal(200);

      const unknown = await http(west.url, '/.well-known/nothing-here');
      expect(unknown.status).to.equal(404);
      expect(unknown.headers['content-type']).to.match(/^application\/json/);
      expect(unknown.json<ApiError>()._links?.topology.href).to.equal(`${west.url}/.well-known/topology`);
      expect(unknown.headers['x-waymark-revision']).to.equal(String(west.gateway.revision));

      expect((await http(west.url, '/healthz')).json<{ status: string }>().status).to.equal('ok');
      const ready = await http(west.url, '/readyz');
      expect(ready.status).to.equal(200);
      expect(ready.json()).to.include({ status: 'ok', stale: false, registration: 'registered' });
    });
  });

  describe('the proxy', () => {
    it('proxies to the region\'s upstream with forwarding headers, stripping hop-by-hop headers both ways', async () => {
      const { env, eu } = await basicEnv();
      const g = await gateway(env, 'eu-west', 'gw-1');
      const seen: RequestInfo[] = [];
      g.gateway.on('request', (info) => seen.push(info));
      const res = await http(g.url, '/hr/v1/employees?x=1', {
        headers: {
          host: 'public.example',
          connection: 'keep-alive, x-secret',
          'x-secret': 'hop',
          'proxy-authorization': 'Basic Zm9v',
          'x-forwarded-for': '203.0.113.9',
          traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
          'x-custom': 'kept',
        },
      });
      expect(res.status).to.equal(200);
      const echo = res.json<{ backend: string; url: string; headers: IncomingHttpHeaders }>();
      expect(echo.backend).to.equal('hr-eu');
      expect(echo.url).to.equal('/hr/v1/employees?x=1');
      expect(echo.headers.host).to.equal(new URL(eu.url).host);
      expect(echo.headers['x-forwarded-host']).to.equal('public.example');
      expect(echo.headers['x-forwarded-proto']).to.equal('http');
      expect(echo.headers['x-forwarded-for']).to.equal('203.0.113.9, 127.0.0.1');
      expect(echo.headers.forwarded).to.equal('for=127.0.0.1;host="public.example";proto=http;by=_gw-1');
      expect(echo.headers.via).to.equal('1.1 gw-1');
      expect(echo.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
      expect(echo.headers.traceparent).to.equal('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
      expect(echo.headers['x-custom']).to.equal('kept');
      expect(echo.headers['x-secret']).to.equal(undefined);
      expect(echo.headers['proxy-authorization']).to.equal(undefined);
      expect(res.headers['x-waymark-region']).to.equal('eu-west');
      expect(res.headers['x-waymark-gateway']).to.equal('gw-1');
      expect(res.headers['x-waymark-revision']).to.equal(String(g.gateway.revision));
      expect(res.headers['x-request-id']).to.equal(echo.headers['x-request-id']);
      expect(res.headers.via).to.equal('1.1 gw-1');
      expect(res.headers['x-hop']).to.equal(undefined);
      expect(res.headers['x-backend']).to.equal('hr-eu');
      await waitFor(() => seen.length === 1, { what: 'the request event' });
      expect(seen[0]).to.include({ method: 'GET', path: '/hr/v1/employees', service: 'hr', status: 200, upstream: true });
      expect(seen[0].durationMs).to.be.a('number').and.to.be.at.least(0);

      const withId = await http(g.url, '/hr/v1/x', { headers: { 'x-request-id': 'req-42' } });
      const echo2 = withId.json<{ headers: IncomingHttpHeaders }>();
      expect(echo2.headers['x-request-id']).to.equal('req-42');
      expect(echo2.headers.traceparent).to.match(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(withId.headers['x-request-id']).to.equal('req-42');
    });

    it('streams bodies both ways', async () => {
      const { env } = await basicEnv();
      const g = await gateway(env, 'eu-west', 'gw-1');
      const url = new URL(g.url);
      const arrivals = await new Promise<number[]>((resolve, reject) => {
        const started = Date.now();
        const times: number[] = [];
        request({ host: url.hostname, port: url.port, path: '/hr/v1/stream?chunks=3&delayMs=300', agent: false }, (res) => {
          res.on('data', () => times.push(Date.now() - started));
          res.on('end', () => resolve(times));
        })
          .on('error', reject)
          .end();
      });
      expect(arrivals.length).to.be.at.least(2);
      expect(arrivals[0]).to.be.below(arrivals[arrivals.length - 1] - 300);

      const body = Buffer.alloc(3 * 1024 * 1024, 'x');
      const echoed = await new Promise<string>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: '/hr/v1/upload', method: 'POST', agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        });
        req.on('error', reject);
        // Chunked, written in parts: the gateway must stream it on.
        for (let i = 0; i < 3; i++) req.write(body.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
        req.end();
      });
      const parsed = JSON.parse(echoed) as { body: string; headers: IncomingHttpHeaders };
      expect(parsed.body.length).to.equal(body.length);
      expect(parsed.headers['transfer-encoding']).to.equal('chunked');
    });

    it('tries another upstream of the region on connect failure, then answers 502 or 504 in JSON', async () => {
      const env = uniqueEnv('gw');
      const live = await backend('live');
      const dead = await backend('dead');
      await dead.close();
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west', 'EU')],
        services: [
          svc('hr', { 'eu-west': [dead.url, live.url] }),
          svc('gone', { 'eu-west': [dead.url] }),
          svc('slow', { 'eu-west': [live.url] }),
        ],
      });
      const g = await gateway(env, 'eu-west', 'gw-1', { upstreamTimeoutMs: 300 });
      for (let i = 0; i < 4; i++) {
        const res = await http(g.url, '/hr/v1/x');
        expect(res.status).to.equal(200);
        expect(res.json<{ backend: string }>().backend).to.equal('live');
      }
      const bad = await http(g.url, '/gone/v1/x');
      expect(bad.status).to.equal(502);
      const err = bad.json<ApiError>();
      expect(err.code).to.equal('UPSTREAM_UNAVAILABLE');
      expect(err.message).not.to.include(dead.url);
      expect(bad.headers['x-waymark-revision']).to.be.a('string');
      const slow = await http(g.url, '/slow/v1/slow?ms=2000');
      expect(slow.status).to.equal(504);
      expect(slow.json<ApiError>().code).to.equal('UPSTREAM_TIMEOUT');
    });

    it('sends a global service with no upstream here to the nearest region by failover order', async () => {
      const env = uniqueEnv('gw');
      const us = await backend('search-us');
      const ap = await backend('search-ap');
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west', 'EU'), region('us-east', 'US'), region('ap-south', 'APAC')],
        services: [svc('search', { 'ap-south': [ap.url], 'us-east': [us.url] }, { placement: 'global', failover: ['us-east'] })],
      });
      const g = await gateway(env, 'eu-west', 'gw-1');
      const res = await http(g.url, '/search/v1/q');
      expect(res.status).to.equal(200);
      expect(res.json<{ backend: string }>().backend).to.equal('search-us');
    });

    it('matches the longest base path at segment boundaries, and answers 404 with a link when nothing matches', async () => {
      const env = uniqueEnv('gw');
      const a = await backend('api');
      const b = await backend('api-admin');
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west', 'EU')],
        services: [svc('api', { 'eu-west': [a.url] }, { basePath: '/api' }), svc('admin', { 'eu-west': [b.url] }, { basePath: '/api/admin' })],
      });
      const g = await gateway(env, 'eu-west', 'gw-1');
      expect((await http(g.url, '/api/admin/users')).json<{ backend: string }>().backend).to.equal('api-admin');
      expect((await http(g.url, '/api/administrators')).json<{ backend: string }>().backend).to.equal('api');
      expect((await http(g.url, '/api')).json<{ backend: string }>().backend).to.equal('api');
      const none = await http(g.url, '/apix/1');
      expect(none.status).to.equal(404);
      expect(none.json<ApiError>().code).to.equal('NOT_FOUND');
      expect(none.json<ApiError>()._links?.topology.href).to.equal(`${g.url}/.well-known/topology`);
    });

    it('refuses traversal and encoded dot segments, routes absolute-form targets by path alone, and ignores Host tricks', async () => {
      const { env, eu } = await basicEnv();
      const g = await gateway(env, 'eu-west', 'gw-1');
      for (const path of ['/hr/v1/../../x', '/hr/v1/%2e%2e/%2E%2e/x', '/hr/v1/.%2e/x', '/hr/v1/a%2f..%2f..%2fx', '/hr/v1/..\\..\\x', '/hr/v1/%zz', '/hr/v1/./x']) {
        const res = await http(g.url, path);
        expect(res.status, path).to.equal(400);
        expect(res.json<ApiError>().code, path).to.equal('BAD_REQUEST');
      }
      // Absolute form must be accepted (RFC 9112 §3.2.2), but its authority chooses nothing: the path routes.
      const absolute = await raw(g.url, 'GET http://169.254.169.254/latest/meta-data HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n');
      expect(absolute).to.match(/^HTTP\/1\.1 404/);
      const wellKnown = await raw(g.url, `GET ${g.url}/.well-known/topology HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n`);
      expect(wellKnown).to.match(/^HTTP\/1\.1 200/);
      const credentials = await raw(g.url, 'GET http://user:pw@gw.example/hr/v1/x HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n');
      expect(credentials).to.match(/^HTTP\/1\.1 400/);
      const star = await raw(g.url, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(star).to.match(/^HTTP\/1\.1 400/);
      expect(eu.received).to.have.length(0);
      const viaAbsolute = await raw(g.url, 'GET HTTP://169.254.169.254/hr/v1/abs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect(viaAbsolute).to.match(/^HTTP\/1\.1 200/);
      expect(eu.received.at(-1)?.url).to.equal('/hr/v1/abs');
      expect(eu.received.at(-1)?.headers['x-forwarded-host']).to.equal('169.254.169.254');
      // The Host header chooses nothing: the request still goes to the registered upstream.
      const tricked = await http(g.url, '/hr/v1/x', { headers: { host: '169.254.169.254' } });
      expect(tricked.json<{ backend: string }>().backend).to.equal('hr-eu');
      // Duplicate slashes are normalised, not refused.
      const doubled = await http(g.url, '//hr//v1/x');
      expect(doubled.json<{ url: string }>().url).to.equal('/hr/v1/x');
    });

    it('limits body size (413), header size (431), and survives malformed requests', async () => {
      const { env, eu } = await basicEnv();
      const g = await gateway(env, 'eu-west', 'gw-1', { maxBodyBytes: 1024, maxHeaderBytes: 2048 });
      const big = await http(g.url, '/hr/v1/x', { method: 'POST', body: 'x'.repeat(2000) });
      expect(big.status).to.equal(413);
      expect(big.json<ApiError>().code).to.equal('PAYLOAD_TOO_LARGE');
      const chunked = await raw(
        g.url,
        `POST /hr/v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${'800\r\n' + 'y'.repeat(0x800) + '\r\n'}0\r\n\r\n`,
      );
      expect(chunked).to.match(/^HTTP\/1\.1 413/);
      const headers = await http(g.url, '/hr/v1/x', { headers: { 'x-big': 'z'.repeat(4000) } });
      expect(headers.status).to.equal(431);
      const garbage = await raw(g.url, 'NOT HTTP AT ALL\r\n\r\n');
      expect(garbage).to.match(/^HTTP\/1\.1 400/);
      const smuggle = await raw(g.url, 'POST /hr/v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
      expect(smuggle).to.match(/^HTTP\/1\.1 400/);
      expect((await http(g.url, '/healthz')).status).to.equal(200);
      expect(eu.received.every((r) => r.body.length <= 1024)).to.equal(true);
    });
  });

  describe('gateways of other regions', () => {
    /** eu-west (EU) and us-east (US); `crm` served in us-east only, `vault` pinned to US. */
    async function twoRegions(): Promise<{ env: string; us: TestBackend }> {
      const env = uniqueEnv('gw');
      const us = await backend('us');
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west', 'EU'), region('us-east', 'US')],
        services: [
          svc('crm', { 'us-east': [us.url] }),
          // Deployed in eu-west too, by mistake: pinning must still keep it out of the EU gateway.
          svc('vault', { 'us-east': [us.url], 'eu-west': [us.url] }, { placement: 'pinned', jurisdictions: ['US'] }),
        ],
      });
      return { env, us };
    }

    it('answers 421 with Link alternates naming the gateways that serve the service', async () => {
      const { env, us } = await twoRegions();
      const eu = await gateway(env, 'eu-west', 'gw-eu');
      const usGw = await gateway(env, 'us-east', 'gw-us');
      await waitFor(() => eu.gateway.document?.regions.find((r) => r.name === 'us-east')?.gateways.length, { what: 'gw-us in the topology' });
      const res = await http(eu.url, '/crm/v1/customers?id=3');
      expect(res.status).to.equal(421);
      expect(res.headers.link).to.include(`<${usGw.url}/crm/v1/customers?id=3>; rel="alternate"`);
      expect(res.headers.link).to.include(`<${eu.url}/.well-known/topology/openapi.json>; rel="service-desc"; type="application/json"`);
      const body = res.json<ApiError>();
      expect(body.code).to.equal('MISDIRECTED_REQUEST');
      expect(body._links?.['alternate-1'].href).to.equal(`${usGw.url}/crm/v1/customers?id=3`);
      expect(body._links?.topology.href).to.equal(`${eu.url}/.well-known/topology`);
      expect(res.headers['x-waymark-revision']).to.be.a('string');
      expect(us.received).to.have.length(0);
      expect((await http(usGw.url, '/crm/v1/customers')).status).to.equal(200);
    });

    it('with --dispatch forwards non-pinned services to a gateway that serves them, never pinned ones', async () => {
      const { env, us } = await twoRegions();
      const eu = await gateway(env, 'eu-west', 'gw-eu', { dispatch: true });
      await gateway(env, 'us-east', 'gw-us');
      await waitFor(() => eu.gateway.document?.regions.find((r) => r.name === 'us-east')?.gateways.length, { what: 'gw-us in the topology' });
      const res = await http(eu.url, '/crm/v1/customers');
      expect(res.status).to.equal(200);
      const echo = res.json<{ backend: string; headers: IncomingHttpHeaders }>();
      expect(echo.backend).to.equal('us');
      expect(echo.headers.via).to.equal('1.1 gw-eu, 1.1 gw-us');
      expect(echo.headers['x-waymark-dispatched-by']).to.equal(undefined);
      expect(res.headers['x-waymark-gateway']).to.equal('gw-eu');

      const before = us.received.length;
      const pinned = await http(eu.url, '/vault/v1/secrets');
      expect(pinned.status).to.equal(421);
      expect(us.received.length).to.equal(before);
    });

    it('never proxies a pinned service outside its jurisdictions, naming alternates inside them', async () => {
      const { env, us } = await twoRegions();
      const eu = await gateway(env, 'eu-west', 'gw-eu');
      const usGw = await gateway(env, 'us-east', 'gw-us');
      await waitFor(() => eu.gateway.document?.regions.every((r) => r.gateways.length === 1), { what: 'both gateways registered' });
      const res = await http(eu.url, '/vault/v1/secrets');
      expect(res.status).to.equal(421);
      expect(res.json<ApiError>().message).to.include('pinned');
      expect(res.headers.link).to.include(`<${usGw.url}/vault/v1/secrets>; rel="alternate"`);
      expect(res.headers.link).not.to.include(eu.url + '/vault');
      expect(us.received).to.have.length(0);
      expect((await http(usGw.url, '/vault/v1/secrets')).json<{ backend: string }>().backend).to.equal('us');
    });
  });

  describe('lifecycle', () => {
    it('on close revokes its registration first, drains in-flight requests, then stops', async () => {
      const { env } = await basicEnv();
      const g = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-1', leaseTtlSeconds: 30 });
      const key = ctx.layout.gateway(env, 'eu-west', 'gw-1');
      expect(await ctx.conn.client.get(key).string()).to.be.a('string');
      const inFlight = http(g.url, '/hr/v1/slow?ms=600');
      await new Promise((r) => setTimeout(r, 100));
      const closing = g.close();
      await waitFor(async () => (await ctx.conn.client.get(key).string()) === null, { what: 'the registration to go', timeoutMs: 2000 });
      const res = await inFlight;
      expect(res.status).to.equal(200);
      await closing;
      expect(g.gateway.state).to.equal('closed');
      const read = await readEnvironment(ctx.conn, ctx.layout, env);
      expect(read.snapshot.gateways.size).to.equal(0);
      expect(await ctx.conn.client.get(ctx.layout.report(env, 'eu-west', 'gw-1')).string()).to.equal(null);
    });
  });
});
