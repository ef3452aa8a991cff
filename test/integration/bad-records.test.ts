import { expect } from 'chai';
import { checkDocument } from '../../client-sdk/document.js';
import type { EnvironmentStatus, EnvironmentView, GatewayReport, TopologyDocument } from '../../openapi/index.js';
import { adminCall, applyYaml } from '../support/admin-api.js';
import { runWaymark } from '../support/cli.js';
import { loggedOutput, spawnGateway, type SpawnedGateway } from '../support/gateway.js';
import { regionYaml, serviceYaml, yamlDocuments } from '../support/manifests.js';
import { spawnRegistry, type SpawnedRegistry } from '../support/registry-process.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/**
 * Issue 13: one malformed record written straight to etcd made every gateway of the environment
 * exit, and the registry exit when its view was opened. For each kind of bad value: a gateway
 * (a process, so an exit shows) and a registry serve through it, report it, and applies go on.
 */
describe('one bad record per kind, written straight to etcd (real etcd, gateway and registry processes)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  let registry: SpawnedRegistry;
  let gateway: SpawnedGateway | undefined;
  let gatewayExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  before(async function () {
    this.timeout(30_000);
    registry = await spawnRegistry({ etcd: ctx.etcd.endpoints });
  });
  after(async () => {
    await registry?.stop();
  });
  afterEach(async () => {
    if (gateway && !gatewayExit) {
      gateway.kill('SIGTERM');
      await gateway.exited;
    }
    gateway = undefined;
    gatewayExit = undefined;
  });

  const manifests = (extra = '') =>
    yamlDocuments(
      regionYaml('eu-west', 'EU'),
      regionYaml('us-east', 'US'),
      serviceYaml('catalog', { deployments: { 'eu-west': ['http://127.0.0.1:1/catalog'] } }),
      serviceYaml('hr', { placement: 'pinned', jurisdictions: ['EU'], deployments: { 'eu-west': ['http://127.0.0.1:1/hr'] } }),
      ...(extra ? [extra] : []),
    );

  async function environment(): Promise<string> {
    const env = uniqueEnv('bad');
    const applied = await applyYaml(registry.url, registry.adminToken, env, manifests());
    expect(applied.status, JSON.stringify(applied.body)).to.equal(200);
    gateway = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-1' });
    void gateway.exited.then((e) => {
      gatewayExit = e;
    });
    await waitFor(async () => (await documentOf()).regions.some((r) => r.gateways.some((g) => g.id === 'gw-1')), { what: 'the gateway to list itself' });
    return env;
  }

  async function documentOf(): Promise<TopologyDocument> {
    const res = await fetch(`${gateway!.url}/.well-known/topology`, { signal: AbortSignal.timeout(2000) });
    expect(res.status).to.equal(200);
    // Every document the gateway publishes passes the SDK's check.
    return checkDocument(await res.json(), gateway!.url);
  }

  async function invalidGauge(kind: string): Promise<number> {
    const text = await (await fetch(`${gateway!.url}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const m = new RegExp(`^waymark_gateway_invalid_records\\{[^}]*kind="${kind}"[^}]*\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : -1;
  }

  async function gatewayReport(env: string): Promise<GatewayReport | undefined> {
    const text = await ctx.conn.call((c) => c.get(ctx.layout.report(env, 'eu-west', 'gw-1')).string());
    return text ? (JSON.parse(text) as GatewayReport) : undefined;
  }

  const view = (env: string) => adminCall<EnvironmentView>(registry.url, 'GET', `/v1/environments/${env}/view`, { token: registry.adminToken });
  const status = (env: string) => adminCall<EnvironmentStatus>(registry.url, 'GET', `/v1/environments/${env}/status`, { token: registry.adminToken });

  function expectUp(): void {
    expect(gatewayExit, `the gateway exited: ${gateway?.output().slice(-2000)}`).to.equal(undefined);
    expect(registry.output()).not.to.match(/TypeError|uncaught/i);
  }

  interface Case {
    what: string;
    /** The key written, relative to the environment (`services/catalog`), or absolute for reports. */
    key: (env: string) => string;
    value: string;
    /** Record kind of the gauge, when the gateway reads the key. */
    gauge?: 'region' | 'service' | 'gateway' | 'commit';
    /** Checks the gateway still serves the last valid version. */
    kept?: (doc: TopologyDocument) => void;
    /** Replaces or removes the bad key: an apply where the kind allows. */
    fix: (env: string) => Promise<void>;
  }

  const putRaw = (key: string, value: string) => ctx.conn.call((c) => c.put(key).value(value).exec());
  const replaceByApply = async (env: string) => {
    const res = await applyYaml(registry.url, registry.adminToken, env, manifests(serviceYaml('fixed', { deployments: { 'eu-west': ['http://127.0.0.1:1/fixed'] } })));
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
  };
  const catalogKept = (doc: TopologyDocument) => expect(doc.services.find((s) => s.name === 'catalog')).to.include({ basePath: '/catalog/v1', placement: 'regional' });
  const euWestKept = (doc: TopologyDocument) => expect(doc.regions.find((r) => r.name === 'eu-west')).to.include({ jurisdiction: 'EU', provider: 'cloud-a' });
  const service = (env: string, name = 'catalog') => ctx.layout.service(env, name);

  const cases: Case[] = [
    { what: 'service: deployments [null]', key: service, value: JSON.stringify({ name: 'catalog', basePath: '/catalog/v1', placement: 'regional', deployments: [null] }), gauge: 'service', kept: catalogKept, fix: replaceByApply },
    { what: 'service: a deployment without upstreams', key: service, value: JSON.stringify({ name: 'catalog', basePath: '/catalog/v1', placement: 'regional', deployments: [{ region: 'eu-west' }] }), gauge: 'service', kept: catalogKept, fix: replaceByApply },
    { what: 'service: placement "<script>"', key: service, value: JSON.stringify({ name: 'catalog', basePath: '/catalog/v1', placement: '<script>', deployments: [] }), gauge: 'service', kept: catalogKept, fix: replaceByApply },
    {
      what: 'service: a new key {"deployments":[null]} (no last valid version), pruned by an apply',
      key: (env) => service(env, 'zz'),
      value: '{"deployments":[null]}',
      gauge: 'service',
      kept: (doc) => expect(doc.services.map((s) => s.name)).to.deep.equal(['catalog', 'hr']),
      fix: async (env) => {
        const res = await applyYaml(registry.url, registry.adminToken, env, manifests(), '?prune=true');
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body.deleted).to.deep.include({ kind: 'Service', name: 'zz' });
      },
    },
    { what: 'region: location "<script>" with CR/LF', key: (env) => ctx.layout.region(env, 'eu-west'), value: JSON.stringify({ name: 'eu-west', jurisdiction: 'EU', location: '<script>\r\n' }), gauge: 'region', kept: euWestKept, fix: replaceByApply },
    {
      what: 'gateway registration: status "evil", a javascript: URL',
      key: (env) => ctx.layout.gateway(env, 'eu-west', 'evil'),
      value: JSON.stringify({ id: 'evil', region: 'eu-west', url: 'javascript:alert(1)', status: 'evil', startedAt: new Date().toISOString() }),
      gauge: 'gateway',
      kept: (doc) => expect(doc.regions.flatMap((r) => r.gateways.map((g) => g.id))).to.deep.equal(['gw-1']),
      fix: async (env) => {
        await ctx.conn.call((c) => c.delete().key(ctx.layout.gateway(env, 'eu-west', 'evil')).exec());
      },
    },
    {
      what: 'gateway status report: appliedRevision "x"',
      key: (env) => ctx.layout.report(env, 'eu-west', 'gw-9'),
      value: JSON.stringify({ id: 'gw-9', region: 'eu-west', appliedRevision: 'x', stale: 'no' }),
      fix: async (env) => {
        await ctx.conn.call((c) => c.delete().key(ctx.layout.report(env, 'eu-west', 'gw-9')).exec());
      },
    },
    { what: 'commit record: {"id": 1}', key: (env) => ctx.layout.commit(env), value: '{"id":1}', gauge: 'commit', fix: replaceByApply },
    { what: 'not JSON', key: service, value: '{"name": "catalog", deployments', gauge: 'service', kept: catalogKept, fix: replaceByApply },
    { what: 'a JSON array', key: (env) => ctx.layout.region(env, 'eu-west'), value: '[1,2,3]', gauge: 'region', kept: euWestKept, fix: replaceByApply },
    { what: 'null', key: service, value: 'null', gauge: 'service', kept: catalogKept, fix: replaceByApply },
    { what: 'a huge string', key: service, value: JSON.stringify('x'.repeat(1_000_000)), gauge: 'service', kept: catalogKept, fix: replaceByApply },
    { what: 'a name that does not match its key', key: service, value: JSON.stringify({ name: 'hr', basePath: '/evil', placement: 'global', deployments: [] }), gauge: 'service', kept: catalogKept, fix: replaceByApply },
  ];

  for (const c of cases) {
    it(`${c.what}: the gateway stays up and serves the last valid version, both report it, applies go on`, async () => {
      const env = await environment();
      const key = c.key(env);
      const before = await documentOf();
      await putRaw(key, c.value);

      if (c.gauge) {
        await waitFor(async () => (await invalidGauge(c.gauge!)) === 1, { what: `waymark_gateway_invalid_records{kind="${c.gauge}"} 1` });
        await waitFor(async () => (await gatewayReport(env))?.invalidRecords?.some((r) => r.key === key), { what: "the gateway's report to list the key" });
        const doc = await documentOf();
        c.kept?.(doc);
        expect(doc.revision).to.equal(before.revision);
      }
      expectUp();

      // The registry: view and status answer 200 and name the key.
      const seen = await waitFor(
        async () => {
          const [v, s] = await Promise.all([view(env), status(env)]);
          expect(v.status).to.equal(200);
          expect(s.status).to.equal(200);
          const listed = [...(v.body.invalidRecords ?? []), ...(s.body.invalidRecords ?? []), ...s.body.gateways.flatMap((g) => g.invalidRecords ?? [])];
          return listed.find((r) => r.key === key);
        },
        { what: 'the registry to list the invalid record' },
      );
      expect(seen.reason).to.be.a('string').and.not.equal('');
      expectUp();

      // An apply that does not touch the key (nor the region it may be) is not blocked by it.
      const unrelated = await applyYaml(registry.url, registry.adminToken, env, serviceYaml('other', { deployments: { 'us-east': ['http://127.0.0.1:1/other'] } }));
      expect(unrelated.status, JSON.stringify(unrelated.body)).to.equal(200);
      await waitFor(async () => (await documentOf()).services.some((s) => s.name === 'other'), { what: 'the gateway to serve the unrelated apply' });

      // Replacing (or removing) the bad key clears it everywhere.
      await c.fix(env);
      if (c.gauge) await waitFor(async () => (await invalidGauge(c.gauge!)) === 0, { what: 'the invalid record to be cleared' });
      await waitFor(
        async () => {
          const v = await view(env);
          const s = await status(env);
          return !(v.body.invalidRecords ?? []).some((r) => r.key === key) && !(s.body.invalidRecords ?? []).some((r) => r.key === key);
        },
        { what: 'the registry to drop the invalid record' },
      );
      await documentOf();
      expectUp();
    });
  }

  it('the registry checks each record with the core validator before writing: 422, nothing written', async () => {
    const env = uniqueEnv('bad');
    const yaml = 'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: eu-west }\nspec: { jurisdiction: EU, location: "Dublin\\r\\n<script>" }\n';
    const res = await adminCall<{ code: string; details: Array<{ resource?: string; message: string }> }>(registry.url, 'POST', `/v1/environments/${env}/apply`, {
      token: registry.adminToken,
      body: yaml,
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(422);
    expect(res.body.code).to.equal('VALIDATION_FAILED');
    expect(res.body.details[0]).to.deep.include({ resource: 'Region/eu-west', field: 'spec.location', file: '(request body)', line: 4 });
    expect(res.body.details[0]!.message).to.include('location: must not contain control characters').and.include('nothing was written');
    const written = await ctx.conn.call((c) => c.getAll().prefix(ctx.layout.environment(env)).keys());
    expect(written).to.deep.equal([]);
  });

  it('an apply into a region whose record is invalid says which key and why; replacing the region fixes it', async () => {
    const env = await environment();
    const key = ctx.layout.region(env, 'eu-west');
    await putRaw(key, '[1,2,3]');
    const into = serviceYaml('new', { deployments: { 'eu-west': ['http://127.0.0.1:1/new'] } });
    const refused = await waitFor(async () => {
      const res = await applyYaml(registry.url, registry.adminToken, env, into);
      return res.status === 422 ? res : undefined;
    }, { what: 'the apply to be refused' });
    expect(refused.body.details!.map((d) => d.message).join('\n')).to.include(`region eu-west is stored with an invalid value (${key}: must be an object): apply a Region document for it to replace it`);
    const fixed = await applyYaml(registry.url, registry.adminToken, env, yamlDocuments(regionYaml('eu-west', 'EU'), into));
    expect(fixed.status, JSON.stringify(fixed.body)).to.equal(200);
    await waitFor(async () => (await documentOf()).services.some((s) => s.name === 'new'), { what: 'the gateway to serve the new service' });
    expectUp();
  });

  it('`waymark status` says "1 invalid record" with the key and the reason', async () => {
    const env = await environment();
    const key = ctx.layout.service(env, 'zz');
    await putRaw(key, JSON.stringify({ name: 'zz', basePath: '/zz', placement: 'regional', deployments: [null] }));
    await waitFor(async () => (await gatewayReport(env))?.invalidRecords?.some((r) => r.key === key), { what: "the gateway's report to list the key" });
    const { code, stdout, stderr } = await runWaymark(['status', '-e', env], { WAYMARK_REGISTRY: registry.url, WAYMARK_TOKEN: registry.adminToken });
    // Exit 4: the invalid-records alarm (README, Exit codes).
    expect(code, stderr).to.equal(4);
    expect(stdout).to.include('1 invalid record skipped').and.include(`${key} (deployments[0]: must be an object)`);
    // The skipped key's revision is not lag: the gateway applied everything it could.
    expect(stdout).to.match(/eu-west\s+gw-1\s+\S+\s+up\s+healthy\s+\d+\s+0\s/);
    expectUp();
  });

  it('logs an invalid record once, with its key and reason, not on every re-read', async () => {
    const env = await environment();
    const key = ctx.layout.service(env, 'zz');
    await putRaw(key, JSON.stringify({ name: 'zz', basePath: '/zz', placement: 'regional', deployments: [null] }));
    await waitFor(async () => (await invalidGauge('service')) === 1, { what: 'the record to be skipped' });
    // Unrelated writes make the gateway rebuild its document.
    for (let i = 0; i < 3; i++) {
      const res = await applyYaml(registry.url, registry.adminToken, env, manifests(serviceYaml(`s${i}`, { deployments: { 'eu-west': ['http://127.0.0.1:1/x'] } })));
      expect(res.status).to.equal(200);
    }
    await waitFor(async () => (await documentOf()).services.some((s) => s.name === 's2'), { what: 'the last apply to be served' });
    const output = await loggedOutput(gateway!);
    const lines = output.split('\n').filter((l) => l.includes(key));
    expect(lines, output).to.have.length(1);
    expect(lines[0]).to.include('deployments[0]: must be an object');
    expectUp();
  });
});
