import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../../cli/admin-client.js';
import type { ApiError, ApplyResult, EnvironmentStatus, InternalTopology } from '../../openapi/index.js';
import { ConflictError, readEnvironment, TopologyWatcher } from '../../store/index.js';
import { addToken, hashToken, prepareApply, TokenStore, type OperationContext } from '../../registry/index.js';
import { freePort } from '../support/ports.js';
import { startRegistry, useRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';
import { skipBecause } from '../support/skip.js';

/** YAML manifests: regions, then one regional service per name (upstream from `${<name>Up}` when `vars`). */
function manifests(options: {
  env?: string;
  variables?: Record<string, string>;
  regions?: string[];
  services?: string[];
  vars?: boolean;
  /** Services as large production ones: two regions, two upstreams each, a failover order. */
  rich?: boolean;
  /** Gives this service another upstream, to change exactly one resource. */
  changed?: string;
}): string {
  const docs: string[] = [];
  if (options.env) {
    const vars = Object.entries(options.variables ?? {}).map(([k, v]) => `    ${k}: "${v}"`).join('\n');
    docs.push(`apiVersion: waymark/v1\nkind: Environment\nmetadata: { name: ${options.env} }\nspec:\n  variables:\n${vars || '    {}'}\n`);
  }
  for (const r of options.regions ?? ['eu-west', 'us-east']) {
    docs.push(`apiVersion: waymark/v1\nkind: Region\nmetadata: { name: ${r} }\nspec: { jurisdiction: ${r.startsWith('eu') ? 'EU' : 'US'}, provider: cloud-a }\n`);
  }
  for (const s of options.services ?? []) {
    const up = options.vars ? `\${${s.replace(/-/g, '')}Up}` : `http://10.0.0.1:8080/${s}`;
    const extra = s === options.changed ? ', "http://10.0.0.9:8080"' : '';
    if (options.rich) {
      docs.push(
        `apiVersion: waymark/v1\nkind: Service\nmetadata: { name: ${s} }\nspec:\n  basePath: /${s}/v1\n  placement: regional\n  failover: [eu-west, us-east]\n  deployments:\n` +
          `    - region: eu-west\n      upstreams: ["http://${s}.eu-west.internal.example.com:8080", "http://${s}-b.eu-west.internal.example.com:8080"${extra}]\n` +
          `    - region: us-east\n      upstreams: ["http://${s}.us-east.internal.example.com:8080", "http://${s}-b.us-east.internal.example.com:8080"]\n`,
      );
      continue;
    }
    docs.push(
      `apiVersion: waymark/v1\nkind: Service\nmetadata: { name: ${s} }\nspec:\n  basePath: /${s}/v1\n  placement: regional\n  deployments:\n    - region: eu-west\n      upstreams: ["${up}"]\n`,
    );
  }
  return docs.join('---\n');
}

describe('registry admin API (real etcd)', function () {
  const ctx = useEtcd();
  const reg = useRegistry(ctx);

  async function call<T = unknown>(
    method: string,
    path: string,
    options: { body?: string; type?: string; token?: string | null; headers?: Record<string, string>; url?: string } = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? reg.adminToken : options.token;
    if (token) headers.authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['content-type'] = options.type ?? 'application/yaml';
    const res = await fetch(`${options.url ?? reg.url}${path}`, { method, headers, ...(options.body !== undefined ? { body: options.body } : {}) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
  }
  const apply = (env: string, yaml: string, query = '', options: Parameters<typeof call>[2] = {}) =>
    call<ApplyResult & ApiError>('POST', `/v1/environments/${env}/apply${query}`, { body: yaml, ...options });
  const etcdRevision = async () => Number((await ctx.conn.client.get('/').exec()).header.revision);
  const names = (refs: Array<{ kind: string; name: string }>) => refs.map((r) => `${r.kind}/${r.name}`).sort();

  it('applies, is idempotent, updates with field changes, dry-runs and prunes', async () => {
    const env = uniqueEnv();
    const first = await apply(env, manifests({ services: ['hr', 'crm'] }));
    expect(first.status).to.equal(200);
    expect(first.body).to.include({ environment: env, dryRun: false, changed: true });
    expect(names(first.body.created)).to.deep.equal(['Region/eu-west', 'Region/us-east', 'Service/crm', 'Service/hr']);
    const read = await readEnvironment(ctx.conn, ctx.layout, env);
    expect(read.snapshot.services.get('hr')?.deployments[0].upstreams).to.deep.equal(['http://10.0.0.1:8080/hr']);
    expect(read.snapshot.commit?.by).to.equal('test-admin');

    const before = await etcdRevision();
    const again = await apply(env, manifests({ services: ['hr', 'crm'] }));
    expect(again.body).to.include({ changed: false });
    expect(again.body.summary).to.deep.equal({ created: 0, updated: 0, deleted: 0, unchanged: 4 });
    expect(await etcdRevision(), 'a no-op apply writes nothing').to.equal(before);

    const changed = manifests({ services: ['hr', 'crm'] }).replace('10.0.0.1:8080/hr', '10.0.0.2:8080/hr');
    const dry = await apply(env, changed, '?dryRun=true');
    expect(dry.body).to.include({ dryRun: true, changed: true });
    expect(dry.body.updated).to.deep.equal([
      {
        kind: 'Service',
        name: 'hr',
        changes: [{ field: 'spec.deployments[0].upstreams', from: ['http://10.0.0.1:8080/hr'], to: ['http://10.0.0.2:8080/hr'] }],
      },
    ]);
    expect(await etcdRevision(), 'a dry run writes nothing').to.equal(before);
    const updated = await apply(env, changed);
    expect(updated.body.summary).to.deep.include({ updated: 1, unchanged: 3 });
    expect(updated.body.revision).to.be.greaterThan(before);

    // Without prune, resources not named stay; with prune they go.
    const partial = manifests({ services: ['hr'] }).replace('10.0.0.1:8080/hr', '10.0.0.2:8080/hr');
    const kept = await apply(env, partial);
    expect(kept.body.changed).to.equal(false);
    const pruned = await apply(env, partial, '?prune=true');
    expect(names(pruned.body.deleted)).to.deep.equal(['Service/crm']);
    const after = await readEnvironment(ctx.conn, ctx.layout, env);
    expect([...after.snapshot.services.keys()]).to.deep.equal(['hr']);
  });

  const invalid: Array<[string, string, Partial<{ field: string; resource: string; message: RegExp; line: number }>]> = [
    ['unknown apiVersion', manifests({ services: ['hr'] }).replace('waymark/v1', 'waymark/v9'), { field: 'apiVersion', line: 1 }],
    ['unknown kind', `${manifests({})}---\napiVersion: waymark/v1\nkind: Gateway\nmetadata: { name: g }\nspec: {}\n`, { field: 'kind', message: /unknown kind/ }],
    ['unknown field', manifests({ services: ['hr'] }).replace('placement: regional', 'placement: regional\n  timeout: 5'), { field: 'spec.timeout', resource: 'Service/hr' }],
    ['bad name', manifests({ services: ['Bad_Name'] }), { field: 'metadata.name', message: /not a valid name/ }],
    ['duplicate resource', manifests({ services: ['hr', 'hr'] }), { resource: 'Service/hr', message: /defined twice/ }],
    ['overlapping base paths', manifests({ services: ['hr', 'hr2'] }).replace('/hr2/v1', '/hr/v1/x'), { field: 'spec.basePath', message: /overlaps \/hr\/v1/ }],
    ['undefined region', manifests({ services: ['hr'] }).replace('region: eu-west', 'region: mars'), { field: 'spec.deployments[0].region', message: /mars is not defined/ }],
    ['pinned without jurisdictions', manifests({ services: ['hr'] }).replace('placement: regional', 'placement: pinned'), { field: 'spec.jurisdictions', message: /needs jurisdictions/ }],
    [
      'pinned outside its jurisdictions',
      manifests({ services: ['hr'] }).replace('placement: regional', 'placement: pinned\n  jurisdictions: [US]'),
      { field: 'spec.deployments[0].region', message: /may only run in US/ },
    ],
    ['relative upstream', manifests({ services: ['hr'] }).replace('http://10.0.0.1:8080/hr', '10.0.0.1:8080'), { field: 'spec.deployments[0].upstreams[0]', message: /not an absolute URL/ }],
    [
      'docs link outside its base path',
      manifests({ services: ['hr'] }).replace('placement: regional', 'placement: regional\n  docs: /crm/v1/docs'),
      { field: 'spec.docs', message: /absolute http\(s\) URL or a path under the base path \/hr\/v1/ },
    ],
    [
      'variable in an openapi link',
      manifests({ services: ['hr'] }).replace('placement: regional', 'placement: regional\n  openapi: "https://${docsHost}/hr.json"'),
      { field: 'spec.openapi', message: /\$\{docsHost\} in spec\.openapi: variables may only be used in spec\.deployments\[\]\.upstreams/ },
    ],
    ['unresolved variable', manifests({ services: ['hr'], vars: true }), { field: 'spec.deployments[0].upstreams[0]', message: /variable hrUp is not defined/ }],
    ['YAML syntax error', `${manifests({})}---\nkind: [Region\n`, { line: 12, message: /YAML syntax error/ }],
    ['oversized document', manifests({ services: ['hr'] }).replace('http://10.0.0.1:8080/hr', `http://10.0.0.1/${'x'.repeat(140_000)}`), { message: /over the limit/ }],
  ];
  for (const [what, yaml, expected] of invalid) {
    it(`rejects ${what}, naming file, document, resource and field, and leaves etcd untouched`, async () => {
      const env = uniqueEnv();
      await apply(env, manifests({ services: ['base'] }));
      const before = await etcdRevision();
      const res = await apply(env, yaml, '', { headers: { 'x-waymark-source-file': 'bad.yaml' } });
      expect(res.status).to.equal(422);
      expect(res.body.code).to.equal('VALIDATION_FAILED');
      const detail = res.body.details!.find((d) => (!expected.field || d.field === expected.field) && (!expected.message || expected.message.test(d.message)));
      expect(detail, JSON.stringify(res.body.details)).to.not.equal(undefined);
      expect(detail!.file).to.equal('bad.yaml');
      expect(detail!.document).to.be.a('number');
      expect(detail!.line).to.be.a('number');
      expect(detail!.column).to.be.a('number');
      if (expected.resource) expect(detail!.resource).to.equal(expected.resource);
      if (expected.line) expect(detail!.line).to.equal(expected.line);
      if (!/YAML|oversized|kind|apiVersion/.test(what)) expect(detail!.resource).to.match(/^(Service|Region)\//);
      expect(await etcdRevision()).to.equal(before);
    });
  }

  it('reports every problem of one apply at once: field typos, a jurisdiction typo, undefined regions and overlaps, leaving etcd untouched', async () => {
    const env = uniqueEnv();
    await apply(env, manifests({ services: ['base'] }));
    const before = await etcdRevision();
    const yaml = [
      'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: eu-west }\nspec: { jurisdiction: EU, provider: cloud-a, locaton: Dublin }\n',
      'apiVersion: waymark/v1\nkind: Service\nmetadata: { name: hr }\nspec:\n  basePath: /hr/v1\n  placement: pinned\n  jurisdictions: [UE]\n  deployments:\n    - { region: eu-west, upstreams: ["http://10.0.0.1:8080"] }\n',
      'apiVersion: waymark/v1\nkind: Service\nmetadata: { name: crm }\nspec:\n  basePath: /crm/v1\n  placement: regional\n  failovr: [eu-west]\n  deployments:\n    - { region: eu-wset, upstreams: ["http://10.0.0.1:8080"] }\n',
      'apiVersion: waymark/v1\nkind: Service\nmetadata: { name: crm2 }\nspec:\n  basePath: /crm/v1\n  placement: regional\n  deployments:\n    - { region: eu-west, upstreams: ["http://10.0.0.1:8080"] }\n',
    ].join('---\n');
    const res = await apply(env, yaml, '', { headers: { 'x-waymark-source-file': 'bad.yaml' } });
    expect(res.status).to.equal(422);
    const found = res.body.details!.map((d) => `${d.resource} ${d.field}: ${d.message.split(':')[0]}`).sort();
    expect(found).to.deep.equal([
      'Region/eu-west spec.locaton: unknown field "locaton"',
      'Service/crm spec.deployments[0].region: region eu-wset is not defined in this environment',
      'Service/crm spec.failovr: unknown field "failovr"',
      'Service/crm2 spec.basePath: base path /crm/v1 overlaps /crm/v1 of service crm',
      'Service/hr spec.deployments[0].region: pinned service hr may only run in UE, but region eu-west is in jurisdiction EU',
    ]);
    expect(await etcdRevision()).to.equal(before);
  });

  it('names every file of a multi-file JSON apply, and rejects an Environment document for another environment', async () => {
    const env = uniqueEnv();
    const body = JSON.stringify({
      sources: [
        { file: 'regions.yaml', content: manifests({}) },
        { file: 'services.yaml', content: manifests({ regions: [], services: ['hr'] }).replace('eu-west', 'mars') },
        { file: 'env.yaml', content: 'apiVersion: waymark/v1\nkind: Environment\nmetadata: { name: other }\nspec: {}\n' },
      ],
    });
    const res = await apply(env, body, '', { type: 'application/json' });
    expect(res.status).to.equal(422);
    // Both problems in one answer: the set's own and the one between documents.
    expect(res.body.details!.map((d) => `${d.file}#${d.document} ${d.resource} ${d.field} ${d.line}:${d.column}`)).to.deep.equal([
      'env.yaml#0 Environment/other metadata.name 3:13',
      'services.yaml#0 Service/hr spec.deployments[0].region 8:7',
    ]);
  });

  it('gives a conflict, never a half-applied state, when applies race', async () => {
    const env = uniqueEnv();
    const opCtx: OperationContext = { conn: ctx.conn, layout: ctx.layout, leaseId: () => undefined };
    await apply(env, manifests({ services: ['base'] }));
    const a = await prepareApply(opCtx, { environment: env, sources: [{ file: 'a.yaml', text: manifests({ services: ['base', 'a'] }) }] });
    const b = await prepareApply(opCtx, { environment: env, sources: [{ file: 'b.yaml', text: manifests({ services: ['base', 'b'] }) }] });
    await a.commit();
    const revision = await etcdRevision();
    let err: unknown;
    try {
      await b.commit();
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConflictError);
    expect(await etcdRevision()).to.equal(revision);

    // Through the API: every concurrent apply either commits whole or gets a 409.
    const results = await Promise.all(
      ['c', 'd', 'e', 'f'].map((s) => apply(env, manifests({ services: ['base', s] }), '?prune=true')),
    );
    expect(results.map((r) => r.status).every((s) => s === 200 || s === 409)).to.equal(true);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.code).to.equal('CONFLICT');
    const final = await readEnvironment(ctx.conn, ctx.layout, env);
    expect(final.snapshot.services.size).to.equal(2);
  });

  it('promotes the source of one environment with the variables of another', async () => {
    const test = uniqueEnv('test');
    const prod = uniqueEnv('prod');
    const yaml = manifests({ env: test, variables: { hrUp: 'http://10.1.0.1:80', crmUp: 'http://10.1.0.2:80' }, services: ['hr', 'crm'], vars: true });
    expect((await apply(test, yaml)).status).to.equal(200);

    // prod lacks crmUp: the promotion is rejected, naming the file the source came from.
    const partialVars = manifests({ env: prod, variables: { hrUp: 'http://10.2.0.1:80' }, regions: [] });
    expect((await apply(prod, partialVars)).body.created).to.deep.equal([{ kind: 'Environment', name: prod }]);
    const missing = await call<ApiError>('POST', '/v1/promotions', { body: JSON.stringify({ from: test, to: prod }), type: 'application/json' });
    expect(missing.status).to.equal(422);
    expect(missing.body.details![0]).to.include({ file: '(request body)', resource: 'Service/crm', field: 'spec.deployments[0].upstreams[0]' });

    const prodVars = manifests({ env: prod, variables: { hrUp: 'http://10.2.0.1:80', crmUp: 'http://10.2.0.2:80' }, regions: [] });
    const varsUpdate = await apply(prod, prodVars);
    expect(varsUpdate.body.updated).to.deep.equal([{ kind: 'Environment', name: prod, changes: [{ field: 'spec.variables.crmUp' }] }]);
    const before = await etcdRevision();
    const dry = await call<ApplyResult>('POST', '/v1/promotions', { body: JSON.stringify({ from: test, to: prod, dryRun: true }), type: 'application/json' });
    expect(dry.status).to.equal(200);
    expect(names(dry.body.created)).to.deep.equal(['Region/eu-west', 'Region/us-east', 'Service/crm', 'Service/hr']);
    expect(await etcdRevision()).to.equal(before);
    const done = await call<ApplyResult>('POST', '/v1/promotions', { body: JSON.stringify({ from: test, to: prod }), type: 'application/json' });
    expect(done.body).to.include({ changed: true, dryRun: false });

    const topo = await call<InternalTopology>('GET', `/v1/environments/${prod}/topology`);
    expect(topo.body.services.map((s) => s.deployments[0].upstreams[0])).to.deep.equal(['http://10.2.0.2:80', 'http://10.2.0.1:80']);
    expect(topo.body.lastCommit).to.deep.include({ operation: 'promote', from: test });
    const testTopo = await call<InternalTopology>('GET', `/v1/environments/${test}/topology`);
    expect(testTopo.body.services.map((s) => s.deployments[0].upstreams[0])).to.deep.equal(['http://10.1.0.2:80', 'http://10.1.0.1:80']);
    const again = await call<ApplyResult>('POST', '/v1/promotions', { body: JSON.stringify({ from: test, to: prod }), type: 'application/json' });
    expect(again.body.changed).to.equal(false);
    const nothing = await call<ApiError>('POST', '/v1/promotions', { body: JSON.stringify({ from: uniqueEnv(), to: prod }), type: 'application/json' });
    expect([nothing.status, nothing.body.code]).to.deep.equal([404, 'NOT_FOUND']);
  });

  it('keeps environments isolated', async () => {
    const a = uniqueEnv('iso-a');
    const b = uniqueEnv('iso-b');
    await apply(a, manifests({ services: ['secret-a'], regions: ['eu-west'] }));
    await apply(b, manifests({ services: ['public-b'], regions: ['us-east'] }).replace('region: eu-west', 'region: us-east'));
    await ctx.conn.client.put(ctx.layout.gateway(a, 'eu-west', 'gw-a')).value(JSON.stringify({ id: 'gw-a', region: 'eu-west', url: 'http://gw-a', status: 'up', startedAt: new Date().toISOString() })).exec();
    const topoB = await call<InternalTopology>('GET', `/v1/environments/${b}/topology`);
    expect(JSON.stringify(topoB.body)).to.not.match(/secret-a|gw-a|eu-west/);
    const statusB = await call<EnvironmentStatus>('GET', `/v1/environments/${b}/status`);
    expect(statusB.body.gateways).to.deep.equal([]);
    // A prune of b leaves a alone.
    await apply(b, manifests({ services: [], regions: ['us-east'] }), '?prune=true');
    expect((await readEnvironment(ctx.conn, ctx.layout, a)).snapshot.services.has('secret-a')).to.equal(true);
    const list = await call<{ environments: Array<{ name: string; services: number; gateways: number }> }>('GET', '/v1/environments');
    expect(list.body.environments.find((e) => e.name === a)).to.deep.include({ services: 1, gateways: 1 });
    expect(list.body.environments.find((e) => e.name === b)).to.deep.include({ services: 0, gateways: 0 });
  });

  it('authenticates with tokens and authorizes by role and scope', async () => {
    const env = uniqueEnv();
    const other = uniqueEnv();
    const viewer = reg.token('viewer');
    const operator = reg.token('operator', [env]);
    const yaml = manifests({ services: ['hr'] });

    const none = await apply(env, yaml, '', { token: null });
    expect([none.status, none.body.code]).to.deep.equal([401, 'UNAUTHORIZED']);
    expect(none.headers.get('www-authenticate')).to.match(/^Bearer/);
    const bad = await call<ApiError>('GET', '/v1/environments', { token: `${reg.adminToken}x` });
    expect([bad.status, bad.body.code]).to.deep.equal([401, 'UNAUTHORIZED']);
    expect((await call('GET', '/healthz', { token: null })).status).to.equal(200);

    expect((await apply(env, yaml, '', { token: viewer })).status).to.equal(403);
    expect((await call('GET', '/v1/environments', { token: viewer })).status).to.equal(200);
    expect((await apply(env, yaml, '', { token: operator })).status).to.equal(200);
    expect((await call('GET', `/v1/environments/${env}/topology`, { token: operator })).status).to.equal(200);
    const outOfScope = await apply(other, yaml, '', { token: operator });
    expect([outOfScope.status, outOfScope.body.code]).to.deep.equal([403, 'FORBIDDEN']);
    const promoteOut = await call<ApiError>('POST', '/v1/promotions', { body: JSON.stringify({ from: env, to: other }), type: 'application/json', token: operator });
    expect(promoteOut.status).to.equal(403);
    expect((await apply(other, yaml, '', { token: reg.adminToken })).status).to.equal(200);

    const wrongType = await apply(env, yaml, '', { type: 'text/plain' });
    expect([wrongType.status, wrongType.body.code]).to.deep.equal([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const small = await startRegistry({ endpoints: ctx.etcd.endpoints, maxBodyBytes: 1024 });
    try {
      const big = await apply(env, manifests({ services: ['a', 'b', 'c', 'd', 'e'] }), '', { url: small.url, token: small.adminToken });
      expect([big.status, big.body.code]).to.deep.equal([413, 'PAYLOAD_TOO_LARGE']);
    } finally {
      await small.close();
    }
    const unknown = await call<ApiError>('GET', '/v1/nothing');
    expect([unknown.status, unknown.body.code]).to.deep.equal([404, 'NOT_FOUND']);
  });

  it('answers 404 for the status and view of an unknown environment, naming the known ones, and starts no monitor for it', async () => {
    const env = uniqueEnv();
    expect((await apply(env, manifests({ services: ['hr'] }))).status).to.equal(200);
    const unknown = uniqueEnv();
    for (const route of ['status', 'view']) {
      const res = await call<ApiError>('GET', `/v1/environments/${unknown}/${route}`);
      expect([res.status, res.body.code], route).to.deep.equal([404, 'NOT_FOUND']);
      expect(res.body.message, route).to.contain(`no environment ${unknown}: known environments are `);
      // At most 20 names (the suite's etcd holds many environments): the list ends in `…` when cut.
      if (!res.body.message.endsWith('…')) expect(res.body.message, route).to.contain(env);
    }
    // A monitor shows in /metrics under its environment's name: the known one's view starts one.
    expect((await call('GET', `/v1/environments/${env}/view`)).status).to.equal(200);
    const metrics = await (await fetch(`${reg.url}/metrics`)).text();
    expect(metrics).to.contain(`environment="${env}"`);
    expect(metrics).not.to.contain(unknown);
  });

  it('reports each gateway with lease TTL, applied revision, lag and health', async () => {
    const env = uniqueEnv();
    const applied = await apply(env, manifests({ services: ['hr'] }));
    const lease = ctx.conn.client.lease(30);
    try {
      const register = (id: string, region: string) =>
        lease.put(ctx.layout.gateway(env, region, id)).value(JSON.stringify({ id, region, url: `http://${id}`, status: 'up', startedAt: new Date().toISOString() }));
      const report = (id: string, region: string, appliedRevision: number, stale: boolean) =>
        lease.put(ctx.layout.report(env, region, id)).value(JSON.stringify({ id, region, appliedRevision, stale, reportedAt: new Date().toISOString() }));
      await register('gw-1', 'eu-west');
      await register('gw-2', 'us-east');
      await register('gw-3', 'us-east');
      await register('gw-4', 'eu-west');
      const content = Number((await ctx.conn.client.get(ctx.layout.gateway(env, 'eu-west', 'gw-4')).exec()).kvs[0].mod_revision);
      await report('gw-1', 'eu-west', content, false);
      await report('gw-2', 'us-east', applied.body.revision, false);
      await report('gw-3', 'us-east', content, true);
      const res = await call<EnvironmentStatus>('GET', `/v1/environments/${env}/status`);
      expect(res.body.revision).to.equal(content);
      expect(res.body.etcdRevision).to.be.at.least(content);
      expect(res.body.gateways.map((g) => [g.id, g.region, g.health, g.lag])).to.deep.equal([
        ['gw-1', 'eu-west', 'healthy', 0],
        ['gw-4', 'eu-west', 'unknown', 0],
        ['gw-2', 'us-east', 'lagging', content - applied.body.revision],
        ['gw-3', 'us-east', 'stale', 0],
      ]);
      expect(res.body.gateways[0].leaseTtlSeconds).to.be.within(1, 30);
      expect(res.body.gateways[0]).to.include({ url: 'http://gw-1', appliedRevision: content });
    } finally {
      await lease.revoke();
    }
  });

  it('rolls back an abandoned multi-transaction apply before applying', async () => {
    const env = uniqueEnv();
    await apply(env, manifests({ services: ['hr'] }));
    await ctx.conn.client.put(ctx.layout.pending(env)).value(JSON.stringify({ id: 'dead', startedAt: '2000-01-01T00:00:00Z' })).exec();
    await ctx.conn.client.put(ctx.layout.service(env, 'half')).value('{"name":"half"}').exec();
    const res = await apply(env, manifests({ services: ['hr', 'crm'] }));
    expect(res.status).to.equal(200);
    const read = await readEnvironment(ctx.conn, ctx.layout, env);
    expect(read.pending).to.equal(undefined);
    expect([...read.snapshot.services.keys()].sort()).to.deep.equal(['crm', 'hr']);
  });

  it('applies 10 000 services atomically through the API, then re-applies and prunes', async function () {
    this.timeout(300_000);
    const env = uniqueEnv('big');
    const services = Array.from({ length: 10_000 }, (_, i) => `svc-${i}`);
    const yaml = manifests({ services, rich: true });
    const watcher = new TopologyWatcher(ctx.conn, ctx.layout, env).start();
    try {
      await watcher.ready();
      const sizes: number[] = [];
      watcher.on('snapshot', (s) => sizes.push(s.services.size));
      let t = performance.now();
      const res = await apply(env, yaml);
      const applyMs = performance.now() - t;
      expect(res.status, JSON.stringify(res.body).slice(0, 500)).to.equal(200);
      expect(res.body.summary.created).to.equal(10_002);
      await waitFor(() => watcher.current()?.services.size === 10_000, { what: '10 000 services in the watcher', timeoutMs: 60_000 });
      expect(sizes.every((n) => n === 0 || n === 10_000), `partial states: ${sizes.join(',')}`).to.equal(true);
      const chunks = await ctx.conn.client.getAll().prefix(ctx.layout.sources(env)).keys();
      expect(chunks.length).to.be.greaterThan(1);

      const before = await etcdRevision();
      t = performance.now();
      const again = await apply(env, yaml);
      const noopMs = performance.now() - t;
      expect(again.body.changed).to.equal(false);
      expect(await etcdRevision()).to.equal(before);

      // One changed service reads the whole stored source (more than gRPC's default 4 MiB).
      t = performance.now();
      const one = await apply(env, manifests({ services, rich: true, changed: 'svc-4242' }));
      const oneMs = performance.now() - t;
      expect(one.status, JSON.stringify(one.body).slice(0, 500)).to.equal(200);
      expect(one.body.summary).to.include({ updated: 1, created: 0, deleted: 0 });
      await waitFor(() => watcher.current()?.services.get('svc-4242')?.deployments[0]?.upstreams.length === 3, { what: 'the change in the watcher', timeoutMs: 60_000 });

      t = performance.now();
      const pruned = await apply(env, manifests({ services: ['svc-0'] }), '?prune=true');
      const pruneMs = performance.now() - t;
      expect(pruned.body.summary.deleted).to.equal(9_999);
      await waitFor(() => watcher.current()?.services.size === 1, { what: 'the prune in the watcher', timeoutMs: 60_000 });
      expect(sizes.every((n) => n === 0 || n === 10_000 || n === 1), `partial states: ${sizes.join(',')}`).to.equal(true);
      expect(await ctx.conn.client.getAll().prefix(ctx.layout.sources(env)).keys()).to.have.length(1);
      console.log(
        `      10 000 services (${(yaml.length / 1024 / 1024).toFixed(1)} MiB YAML): apply ${Math.round(applyMs)} ms, no-op re-apply ${Math.round(noopMs)} ms, one service changed ${Math.round(oneMs)} ms, prune of 9 999 ${Math.round(pruneMs)} ms`,
      );
    } finally {
      await watcher.close();
    }
  });

  it('serves the admin API over TLS with --tls-cert/--tls-key', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'waymark-tls-'));
    try {
      const gen = spawnSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ]);
      if (gen.status !== 0) {
        skipBecause(this, `openssl could not make a test certificate (${(gen.stderr?.toString() || gen.error?.message || '').trim()})`);
      }
      const tls = await startRegistry({ endpoints: ctx.etcd.endpoints, tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') } });
      try {
        expect(tls.url).to.match(/^https:/);
        const client = new AdminClient({ url: tls.url, token: tls.adminToken, caFile: join(dir, 'cert.pem') });
        expect(await client.environments()).to.be.an('array');
      } finally {
        await tls.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads tokens from WAYMARK_TOKENS and compares only hashes', () => {
    const token = 'wmk_example-secret';
    const source = TokenStore.sourceFromEnv({ WAYMARK_TOKENS: JSON.stringify({ tokens: [{ name: 'ci', sha256: hashToken(token), role: 'viewer' }] }) });
    const store = new TokenStore(source!);
    expect(store.authenticate(`Bearer ${token}`)).to.deep.equal({ name: 'ci', role: 'viewer' });
    expect(() => store.authenticate('Bearer wmk_other')).to.throw(/not valid/);
    expect(() => store.authenticate('Basic abc')).to.throw(/needs a token/);
    expect(() => new TokenStore({ entries: [{ name: 'op', sha256: hashToken('x'), role: 'operator' }] })).to.throw(/lists no environments/);
  });

  it('rolls back a large apply whose registry was killed half-way; readers never see part of it', async function () {
    this.timeout(300_000);
    /** The killed registry's lease: its abandoned apply counts as in progress this long. */
    const LEASE_TTL_S = 6;
    const env = uniqueEnv('killed');
    await apply(env, manifests({ services: ['before'] }));
    const dir = mkdtempSync(join(tmpdir(), 'waymark-kill-'));
    const tokens = join(dir, 'tokens.json');
    const token = addToken(tokens, { role: 'admin' }).token;
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'cli/waymark.ts', 'registry', '--etcd', ctx.etcd.endpoints.join(','), '--listen', `127.0.0.1:${port}`, '--tokens', tokens, '--lease-ttl', String(LEASE_TTL_S), '--quiet'],
      { cwd: process.cwd(), stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const watcher = new TopologyWatcher(ctx.conn, ctx.layout, env).start();
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, { timeoutMs: 60_000, what: 'the child registry' });
      await watcher.ready();
      const sizes: number[] = [];
      watcher.on('snapshot', (snap) => sizes.push(snap.services.size));
      const big = manifests({ services: ['before', ...Array.from({ length: 10_000 }, (_, i) => `svc-${i}`)] });
      const inFlight = fetch(`http://127.0.0.1:${port}/v1/environments/${env}/apply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/yaml' },
        body: big,
      }).catch((err: Error) => err);
      // Kill it once the marker is there and some chunks are written.
      await waitFor(
        async () => (await ctx.conn.client.get(ctx.layout.pending(env)).string()) !== null && (await ctx.conn.client.getAll().prefix(ctx.layout.services(env)).count()) > 500,
        { timeoutMs: 120_000, intervalMs: 10, what: 'the apply to be half-way' },
      );
      child.kill('SIGKILL');
      await exited;
      expect(await inFlight).to.be.instanceOf(Error);
      const during = await readEnvironment(ctx.conn, ctx.layout, env);
      expect(during.pending, 'the marker is left behind').to.not.equal(undefined);
      expect([...during.snapshot.services.keys()]).to.deep.equal(['before']);
      expect(watcher.current()!.services.size).to.equal(1);

      // While the dead registry's lease lives, the apply counts as in progress; then it is rolled back.
      // The lease outlives the kill by seconds, wide enough for a loaded machine to get here first.
      const early = await apply(env, manifests({ services: ['before', 'after'] }));
      expect([early.status, early.body.code]).to.deep.equal([409, 'CONFLICT']);
      const done = await waitFor(async () => {
        const res = await apply(env, manifests({ services: ['before', 'after'] }));
        return res.status === 200 ? res : undefined;
      }, { timeoutMs: 20_000 + LEASE_TTL_S * 1000, intervalMs: 250, what: 'the abandoned apply to be rolled back' });
      expect(names(done.body.created)).to.deep.equal(['Service/after']);
      const after = await readEnvironment(ctx.conn, ctx.layout, env);
      expect([...after.snapshot.services.keys()].sort()).to.deep.equal(['after', 'before']);
      await waitFor(() => watcher.current()?.services.size === 2, { what: 'the watcher to see the new apply' });
      expect(sizes.every((n) => n === 1 || n === 2), `states seen: ${sizes.join(',')}`).to.equal(true);
    } finally {
      await watcher.close();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
