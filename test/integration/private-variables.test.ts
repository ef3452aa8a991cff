import { expect } from 'chai';
import type { ApiError, ApplyResult, InternalTopology } from '../../openapi/index.js';
import { decodeSource, encodeSource } from '../../registry/apply/source.js';
import { useRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv } from '../support/wait.js';

const SECRET = 'db-password-s3cret';
const environment = (env: string, vars: Record<string, string>) =>
  `apiVersion: waymark/v1\nkind: Environment\nmetadata: { name: ${env} }\nspec:\n  variables:\n${Object.entries(vars)
    .map(([k, v]) => `    ${k}: "${v}"\n`)
    .join('')}`;
const region = (location: string) =>
  `apiVersion: waymark/v1\nkind: Region\nmetadata: { name: eu-west }\nspec:\n  jurisdiction: EU\n  location: "${location}"\n`;
const service =
  'apiVersion: waymark/v1\nkind: Service\nmetadata: { name: hr }\nspec:\n  basePath: /hr/v1\n  placement: regional\n  deployments: [{ region: eu-west, upstreams: ["${hrUp}"] }]\n';

describe('variables stay private through apply and promote (real etcd)', function () {
  const ctx = useEtcd();
  const reg = useRegistry(ctx);

  async function call<T>(method: string, path: string, body: string, type = 'application/yaml'): Promise<{ status: number; text: string; body: T }> {
    const res = await fetch(`${reg.url}${path}`, { method, headers: { authorization: `Bearer ${reg.adminToken}`, 'content-type': type }, body });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) as T };
  }
  const promote = (from: string, to: string, dryRun: boolean) =>
    call<ApplyResult & ApiError>('POST', '/v1/promotions', JSON.stringify({ from, to, dryRun }), 'application/json');

  it('refuses an apply with ${var} in a region location, naming the line', async () => {
    const env = uniqueEnv('priv');
    const res = await call<ApiError>('POST', `/v1/environments/${env}/apply?dryRun=true`, [environment(env, { dbPassword: SECRET, hrUp: 'http://10.0.0.1:80' }), region('${dbPassword}'), service].join('---\n'));
    expect([res.status, res.body.code]).to.deep.equal([422, 'VALIDATION_FAILED']);
    expect(res.body.details).to.have.length(1);
    expect(res.body.details![0]).to.include({ resource: 'Region/eu-west', field: 'spec.location', line: 14 });
    expect(res.text).not.to.include(SECRET);
  });

  it('refuses to promote (and to dry-run) a stored source with ${var} in a public field, without printing the value', async () => {
    const staging = uniqueEnv('staging');
    const prod = uniqueEnv('prod');
    const ok = await call<ApplyResult>('POST', `/v1/environments/${staging}/apply`, [environment(staging, { hrUp: 'http://10.0.0.1:80' }), region('dc-1'), service].join('---\n'));
    expect(ok.status).to.equal(200);
    expect((await call('POST', `/v1/environments/${prod}/apply`, environment(prod, { hrUp: 'http://10.0.0.2:80', dbPassword: SECRET }))).status).to.equal(200);

    // A source stored before the rule existed: its region's location is a variable.
    const key = ctx.layout.source(staging, 0);
    const stored = decodeSource((await ctx.conn.client.get(key).string()) ?? '')!;
    for (const d of stored.documents) {
      const r = d.resource as { kind: string; spec: Record<string, unknown> };
      if (r.kind === 'Region') r.spec.location = '${dbPassword}';
    }
    await ctx.conn.client.put(key).value(encodeSource(stored));

    for (const dryRun of [true, false]) {
      const res = await promote(staging, prod, dryRun);
      expect([res.status, res.body.code], `dryRun ${dryRun}`).to.deep.equal([422, 'VALIDATION_FAILED']);
      expect(res.body.details![0]).to.include({ resource: 'Region/eu-west', field: 'spec.location' });
      expect(res.body.details![0].message).to.match(new RegExp(`cannot be promoted: apply ${staging} again`));
      expect(res.text).not.to.include(SECRET);
    }
    const topo = await fetch(`${reg.url}/v1/environments/${prod}/topology`, { headers: { authorization: `Bearer ${reg.adminToken}` } });
    const body = (await topo.json()) as InternalTopology;
    expect(body.regions).to.deep.equal([]);
    expect(JSON.stringify(body)).not.to.include(SECRET);
  });
});
