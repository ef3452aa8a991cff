import { expect } from 'chai';
import { createLogger } from '../../telemetry/index.js';
import { applyYaml } from '../support/admin-api.js';
import { spawnGateway, startBackend, writeTopology, type SpawnedGateway, type TestBackend } from '../support/gateway.js';
import { regionYaml } from '../support/manifests.js';
import { spawnRegistry, type SpawnedRegistry } from '../support/registry-process.js';
import { region, service, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

type LogLine = Record<string, unknown>;

/** The JSON lines of a process's output (other lines, such as the registry's stdout banner, skipped). */
function jsonLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const SECRET = 'Bearer wmk_this-must-never-be-logged';

describe('logs: structured JSON lines from the gateway and registry CLIs', function () {
  const ctx = useEtcd();

  it('createLogger writes JSON with level names and ISO times, and redacts authorization and tokens', () => {
    const written: string[] = [];
    const logger = createLogger({ name: 'test', destination: { write: (s: string) => written.push(s) } });
    logger.info({ event: 'x', headers: { authorization: SECRET, accept: '*/*' }, token: 'wmk_secret', nested: { authorization: SECRET } }, 'hello');
    const line = JSON.parse(written[0]) as LogLine;
    expect(line).to.include({ level: 'info', name: 'test', event: 'x', msg: 'hello' });
    expect(Number.isNaN(Date.parse(String(line.time)))).to.equal(false);
    expect(written[0]).not.to.include('wmk_');
    expect(line.headers).to.deep.equal({ authorization: '[redacted]', accept: '*/*' });
  });

  describe('waymark gateway', () => {
    let gw: SpawnedGateway;
    let backend: TestBackend;

    before(async function () {
      this.timeout(30_000);
      backend = await startBackend('hr-eu');
      const env = uniqueEnv('logs');
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west')],
        services: [service('hr', ['eu-west'], { deployments: [{ region: 'eu-west', upstreams: [`${backend.url}/hr`] }] })],
      });
      gw = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-logs' });
      await waitFor(async () => (await fetch(`${gw.url}/readyz`)).ok, { what: 'the gateway to be ready' });
    });
    after(async () => {
      gw?.kill('SIGKILL');
      await gw?.exited;
      await backend?.close();
    });

    it('logs each request with its request id and traceparent (the ones sent upstream), never the Authorization header', async () => {
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const res = await fetch(`${gw.url}/hr/v1/people?x=1`, { headers: { 'x-request-id': 'req-logs-1', traceparent, authorization: SECRET } });
      expect(res.status).to.equal(200);
      expect((await fetch(`${gw.url}/.well-known/topology`)).status).to.equal(200);

      const lines = await waitFor(() => {
        const all = jsonLines(gw.output());
        const logged = (path: string) => all.some((l) => l.event === 'request' && l.path === path);
        return logged('/hr/v1/people') && logged('/.well-known/topology') ? all : undefined;
      }, { what: 'the request lines' });
      for (const l of lines) expect(l).to.have.property('level').that.is.a('string');
      const proxied = lines.find((l) => l.requestId === 'req-logs-1')!;
      expect(proxied).to.include({ event: 'request', traceparent, method: 'GET', path: '/hr/v1/people', service: 'hr', status: 200, upstream: true, gateway: 'gw-logs', region: 'eu-west' });
      expect(proxied.durationMs).to.be.a('number');
      // The upstream got the very ids that were logged.
      const got = backend.received.find((r) => r.headers['x-request-id'] === 'req-logs-1')!;
      expect(got.headers.traceparent).to.equal(traceparent);

      const discovery = lines.find((l) => l.event === 'request' && l.path === '/.well-known/topology')!;
      expect(discovery.requestId).to.be.a('string').with.length.greaterThan(8);
      expect(discovery.traceparent).to.match(TRACEPARENT);
      expect(gw.output()).not.to.include('wmk_this-must-never-be-logged');
      expect(lines.some((l) => l.event === 'registered')).to.equal(true);
    });

    it('writes every buffered request line before exiting on SIGTERM', async function () {
      this.timeout(30_000);
      const env = uniqueEnv('logs-drain');
      await writeTopology(ctx.conn, ctx.layout, env, {
        regions: [region('eu-west')],
        services: [service('hr', ['eu-west'], { deployments: [{ region: 'eu-west', upstreams: [`${backend.url}/hr`] }] })],
      });
      const drained = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-logs-drain' });
      try {
        await waitFor(async () => (await fetch(`${drained.url}/readyz`)).ok, { what: 'the gateway to be ready' });
        const ids = Array.from({ length: 25 }, (_, i) => `req-drain-${i}`);
        for (const id of ids) expect((await fetch(`${drained.url}/hr/v1/people`, { headers: { 'x-request-id': id } })).status).to.equal(200);
        // Right after the last answer: lines are still in the buffer (written every 64 KiB or 100 ms).
        drained.kill('SIGTERM');
        expect(await drained.exited).to.deep.equal({ code: 0, signal: null });
        const logged = new Set(jsonLines(drained.output()).map((l) => l.requestId));
        expect(ids.filter((id) => !logged.has(id))).to.deep.equal([]);
        expect(jsonLines(drained.output()).at(-1)).to.include({ event: 'exit' });
      } finally {
        drained.kill('SIGKILL');
        await drained.exited;
      }
    });
  });

  describe('waymark registry', () => {
    let registry: SpawnedRegistry;

    before(async function () {
      this.timeout(30_000);
      registry = await spawnRegistry({ etcd: ctx.etcd.endpoints });
    });
    after(async () => {
      await registry?.stop();
    });

    it('logs each request with request id, traceparent, route and principal, never the token', async () => {
      const res = await fetch(`${registry.url}/v1/environments`, { headers: { authorization: `Bearer ${registry.adminToken}`, 'x-request-id': 'req-registry-1' } });
      expect(res.status).to.equal(200);
      expect(res.headers.get('x-request-id')).to.equal('req-registry-1');
      expect((await fetch(`${registry.url}/v1/environments`, { headers: { authorization: SECRET } })).status).to.equal(401);

      const lines = await waitFor(() => {
        const all = jsonLines(registry.output()).filter((l) => l.event === 'request' && l.path === '/v1/environments');
        return all.length >= 2 ? all : undefined;
      }, { what: 'two request lines' });
      expect(lines[0]).to.include({ requestId: 'req-registry-1', route: '/v1/environments', status: 200, principal: 'test-admin', level: 'info', name: 'registry' });
      expect(lines[0].traceparent).to.match(TRACEPARENT);
      expect(lines[1]).to.include({ status: 401, code: 'UNAUTHORIZED' });
      expect(registry.output()).not.to.include(registry.adminToken);
      expect(registry.output()).not.to.include('wmk_this-must-never-be-logged');
      expect(jsonLines(registry.output()).some((l) => l.event === 'listening')).to.equal(true);
    });

    it('streams each audit record as one JSON line', async () => {
      const env = uniqueEnv('logs');
      const res = await applyYaml(registry.url, registry.adminToken, env, regionYaml('eu-west', 'EU'));
      expect(res.status).to.equal(200);
      const line = await waitFor(() => jsonLines(registry.output()).find((l) => l.event === 'audit' && l.environment === env), { what: 'the audit line' });
      expect(line.record).to.deep.include({ id: 1, operation: 'apply', revision: res.body.revision, by: { name: 'test-admin', role: 'admin' } });
      expect(line.msg).to.equal(`audit ${env} #1: apply by test-admin (admin) at revision ${res.body.revision}`);
    });
  });
});
