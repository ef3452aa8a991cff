import { expect } from 'chai';
import { spawn } from 'node:child_process';
import type { ApiError, ApplyResult, ErrorDetail } from '../../openapi/index.js';
import { readEnvironment } from '../../store/index.js';
import { adminCall, applyYaml } from '../support/admin-api.js';
import { startGateway, type StartedGateway } from '../support/gateway.js';
import { environmentYaml, regionYaml, serviceYaml, yamlDocuments } from '../support/manifests.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv } from '../support/wait.js';

/** The admin resource of an environment's upstream policy, as the registry answers it. */
interface PolicyAnswer {
  environment: string;
  allow?: string[];
  updatedBy?: string;
}

/**
 * The upstream policy at apply time: what is always refused (etcd, the registry, gateways,
 * link-local and unspecified addresses, userinfo, query, fragment), the per-environment allowlist
 * that only admins may change, and promotion into an environment with a stricter policy.
 */
describe('upstream policy in the registry (real etcd, real registry, real gateways)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  let reg: TestRegistry;
  const cleanup: Array<() => Promise<void>> = [];

  before(async () => {
    reg = await startRegistry({ endpoints: ctx.etcd.endpoints });
  });
  after(async () => {
    await reg?.close();
  });
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()!();
  });

  const etcdPort = () => new URL(ctx.etcd.endpoints[0]).port;
  const etcdRevision = async () => Number((await ctx.conn.client.get('/').exec()).header.revision);
  /** Mod revision of the environment's commit record: moves with every apply, and with nothing else (gateways' reports move etcd's). */
  const commitRevision = async (env: string) => Number((await ctx.conn.client.get(ctx.layout.commit(env)).exec()).kvs[0]?.mod_revision ?? 0);
  const regions = () => yamlDocuments(regionYaml('eu-west', 'EU'), regionYaml('us-east', 'US'));
  const withService = (upstream: string, name = 'api') => yamlDocuments(regions(), serviceYaml(name, { deployments: { 'eu-west': [upstream] } }));
  const policyPath = (env: string) => `/v1/environments/${env}/upstream-policy`;
  const setPolicy = (env: string, allow: string[], token = reg.adminToken) =>
    adminCall<PolicyAnswer & ApiError>(reg.url, 'PUT', policyPath(env), { token, body: JSON.stringify({ allow }), type: 'application/json' });

  async function gateway(env: string, region: string, id: string): Promise<StartedGateway> {
    const g = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region, id });
    cleanup.push(() => g.close());
    return g;
  }

  /** Applies a service with one upstream; expects a 422 naming the upstream's field, its line and the rule. */
  async function expectRefused(env: string, upstream: string, rule: string): Promise<ErrorDetail> {
    const before = await commitRevision(env);
    const res = await adminCall<ApplyResult & ApiError>(reg.url, 'POST', `/v1/environments/${env}/apply`, {
      token: reg.adminToken,
      body: withService(upstream),
      type: 'application/yaml',
    });
    expect(res.status, `${upstream}: ${JSON.stringify(res.body)}`).to.equal(422);
    expect(res.body.code).to.equal('VALIDATION_FAILED');
    const detail = res.body.details?.find((d) => d.field === 'spec.deployments[0].upstreams[0]');
    expect(detail, JSON.stringify(res.body.details)).to.not.equal(undefined);
    expect(detail!.resource).to.equal('Service/api');
    expect(detail!.file).to.equal('(request body)');
    expect(detail!.document).to.equal(2);
    expect(detail!.line).to.be.a('number');
    expect(detail!.column).to.be.a('number');
    expect((detail as ErrorDetail & { rule?: string }).rule, detail!.message).to.equal(rule);
    expect(detail!.message).to.include(rule);
    expect(await commitRevision(env), 'nothing applied').to.equal(before);
    return detail!;
  }

  it('refuses etcd, link-local, unspecified, userinfo, query and fragment upstreams, in every spelling', async () => {
    const env = uniqueEnv('pol');
    expect((await applyYaml(reg.url, reg.adminToken, env, regions())).status).to.equal(200);
    const cases: Array<[string, string]> = [
      [ctx.etcd.endpoints[0], 'etcd-endpoint'],
      [`${ctx.etcd.endpoints[0]}/v3/kv/range`, 'etcd-endpoint'],
      // A DNS name resolving to etcd's address (localhost resolves without network).
      [`http://localhost:${etcdPort()}`, 'etcd-endpoint'],
      // Another loopback address on etcd's port reaches a wildcard-bound etcd as well.
      [`http://127.0.0.2:${etcdPort()}`, 'etcd-endpoint'],
      ['http://169.254.169.254/latest/meta-data/', 'link-local'],
      ['http://2852039166/latest/meta-data/', 'link-local'],
      ['http://0xa9.0xfe.0xa9.0xfe/', 'link-local'],
      ['http://[::ffff:169.254.169.254]/', 'link-local'],
      ['http://[fe80::1]:8080/', 'link-local'],
      ['http://0.0.0.0:8080/', 'unspecified'],
      ['http://[::]:8080/', 'unspecified'],
      ['http://user:secret@10.0.0.1:8080/', 'userinfo'],
      ['http://@10.0.0.1:8080/', 'userinfo'],
      ['http://10.0.0.1:8080/api?debug=1', 'query'],
      ['http://10.0.0.1:8080/api?', 'query'],
      ['http://10.0.0.1:8080/api#admin', 'fragment'],
    ];
    for (const [upstream, rule] of cases) await expectRefused(env, upstream, rule);
  });

  it("refuses the registry's own address and every registered gateway's, of any environment", async () => {
    const env = uniqueEnv('pol');
    const other = uniqueEnv('pol');
    expect((await applyYaml(reg.url, reg.adminToken, env, regions())).status).to.equal(200);
    expect((await applyYaml(reg.url, reg.adminToken, other, regions())).status).to.equal(200);
    const own = await gateway(env, 'eu-west', 'gw-eu');
    const foreign = await gateway(other, 'us-east', 'gw-us');
    await expectRefused(env, reg.url, 'registry-address');
    await expectRefused(env, `${reg.url}/v1/environments`, 'registry-address');
    await expectRefused(env, own.url, 'gateway-address');
    await expectRefused(env, `http://localhost:${new URL(own.url).port}/x`, 'gateway-address');
    await expectRefused(env, foreign.url, 'gateway-address');
    // An ordinary backend on loopback stays allowed (the local stack's backends are 127.0.0.1).
    const ok = await applyYaml(reg.url, reg.adminToken, env, withService('http://127.0.0.1:9/backend'));
    expect(ok.status, JSON.stringify(ok.body)).to.equal(200);
  });

  it('lets only admins read-write the policy; operators and viewers may read it, never change it', async () => {
    const env = uniqueEnv('pol');
    const operator = reg.token('operator', [env]);
    const viewer = reg.token('viewer');
    // A name that is no environment and has no policy is a typo, not an environment without one.
    const unknown = await adminCall<ApiError>(reg.url, 'GET', policyPath(env), { token: viewer });
    expect([unknown.status, unknown.body.code]).to.deep.equal([404, 'NOT_FOUND']);
    expect((await applyYaml(reg.url, reg.adminToken, env, regions())).status).to.equal(200);
    const initial = await adminCall<PolicyAnswer>(reg.url, 'GET', policyPath(env), { token: viewer });
    expect(initial.status).to.equal(200);
    expect(initial.body.environment).to.equal(env);
    expect(initial.body.allow, 'no policy: any host not always refused').to.equal(undefined);

    for (const token of [operator, viewer]) {
      const put = await setPolicy(env, ['0.0.0.0/0'], token);
      expect([put.status, put.body.code]).to.deep.equal([403, 'FORBIDDEN']);
      const del = await adminCall<ApiError>(reg.url, 'DELETE', policyPath(env), { token });
      expect([del.status, del.body.code]).to.deep.equal([403, 'FORBIDDEN']);
    }
    expect((await adminCall(reg.url, 'PUT', policyPath(env), { body: '{"allow":[]}', type: 'application/json' })).status).to.equal(401);

    const bad = await setPolicy(env, ['10.0.0.0/33', 'exa mple.com', '*.*.example.com', 'http://x']);
    expect([bad.status, bad.body.code]).to.deep.equal([422, 'VALIDATION_FAILED']);
    expect(bad.body.details?.map((d) => d.field)).to.deep.equal(['allow[0]', 'allow[1]', 'allow[2]', 'allow[3]']);

    const set = await setPolicy(env, ['10.0.0.0/8', '*.internal.example.com', 'fd00::/8']);
    expect(set.status, JSON.stringify(set.body)).to.equal(200);
    expect(set.body.allow).to.deep.equal(['10.0.0.0/8', '*.internal.example.com', 'fd00::/8']);
    expect(set.body.updatedBy).to.equal('test-admin');
    const read = await adminCall<PolicyAnswer>(reg.url, 'GET', policyPath(env), { token: operator });
    expect(read.body.allow).to.deep.equal(['10.0.0.0/8', '*.internal.example.com', 'fd00::/8']);

    // An operator's apply cannot carry a policy either: there is no such manifest kind.
    const sneaky = await applyYaml(reg.url, operator, env, `apiVersion: waymark/v1\nkind: UpstreamPolicy\nmetadata: { name: ${env} }\nspec: { allow: ['0.0.0.0/0'] }\n`);
    expect(sneaky.status).to.equal(422);

    expect((await adminCall(reg.url, 'DELETE', policyPath(env), { token: reg.adminToken })).status).to.equal(200);
    const gone = await adminCall<PolicyAnswer>(reg.url, 'GET', policyPath(env), { token: viewer });
    expect(gone.body.allow).to.equal(undefined);
  });

  it("enforces the environment's allowlist at apply, and the target's on promotion", async () => {
    const dev = uniqueEnv('dev');
    const prod = uniqueEnv('prod');
    expect((await setPolicy(prod, ['10.0.0.0/8', '*.internal.example.com'])).status).to.equal(200);
    expect((await applyYaml(reg.url, reg.adminToken, prod, regions())).status).to.equal(200);

    const inside = await applyYaml(reg.url, reg.adminToken, prod, withService('http://10.1.2.3:8080'));
    expect(inside.status, JSON.stringify(inside.body)).to.equal(200);
    const named = await applyYaml(reg.url, reg.adminToken, prod, withService('https://pay.eu.internal.example.com', 'pay'));
    expect(named.status, JSON.stringify(named.body)).to.equal(200);
    await expectRefused(prod, 'http://192.168.1.10:8080', 'policy');
    await expectRefused(prod, 'http://internal.example.com.evil.example/', 'policy');
    // Allowed networks and patterns never override what is always refused.
    expect((await setPolicy(prod, ['0.0.0.0/0', '::/0', '*.example.com', 'localhost'])).status).to.equal(200);
    await expectRefused(prod, `http://localhost:${etcdPort()}`, 'etcd-endpoint');
    await expectRefused(prod, 'http://169.254.169.254/', 'link-local');
    expect((await setPolicy(prod, ['10.0.0.0/8'])).status).to.equal(200);

    // dev has no policy: the same upstream is fine there, but promoting it into prod is refused.
    const devYaml = yamlDocuments(environmentYaml(dev, { apiUp: 'http://192.168.1.10:8080' }), regions(), serviceYaml('api', { deployments: { 'eu-west': ['${apiUp}'] } }));
    expect((await applyYaml(reg.url, reg.adminToken, dev, devYaml)).status).to.equal(200);
    expect((await applyYaml(reg.url, reg.adminToken, prod, environmentYaml(prod, { apiUp: 'http://192.168.1.10:8080' }))).status).to.equal(200);
    const before = await etcdRevision();
    const promoted = await adminCall<ApiError>(reg.url, 'POST', '/v1/promotions', {
      token: reg.adminToken,
      body: JSON.stringify({ from: dev, to: prod }),
      type: 'application/json',
    });
    expect(promoted.status, JSON.stringify(promoted.body)).to.equal(422);
    const detail = promoted.body.details?.find((d) => d.field === 'spec.deployments[0].upstreams[0]') as (ErrorDetail & { rule?: string }) | undefined;
    expect(detail?.rule).to.equal('policy');
    // Promotions name the file the source was first applied from.
    expect(detail?.file).to.equal('(request body)');
    expect(await etcdRevision()).to.equal(before);
    const read = await readEnvironment(ctx.conn, ctx.layout, prod);
    expect(read.snapshot.services.get('api')?.deployments[0].upstreams).to.deep.equal(['http://10.1.2.3:8080']);
  });

  it('waymark policy get/set/unset: admins set it, operators are refused', async () => {
    const env = uniqueEnv('cli');
    const operator = reg.token('operator', [env]);
    const run = (args: string[], token: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'cli/waymark.ts', ...args], {
          env: { ...process.env, NO_COLOR: '1', WAYMARK_REGISTRY: reg.url, WAYMARK_TOKEN: token },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    expect((await applyYaml(reg.url, reg.adminToken, env, regions())).status).to.equal(200);
    const denied = await run(['policy', 'set', '-e', env, '--allow', '0.0.0.0/0'], operator);
    expect(denied.code, denied.stderr).to.equal(1);
    expect(denied.stderr).to.include('FORBIDDEN');
    const set = await run(['policy', 'set', '-e', env, '--allow', '10.0.0.0/8', '--allow', '*.internal.example.com'], reg.adminToken);
    expect(set.code, set.stderr).to.equal(0);
    const got = await run(['policy', 'get', '-e', env, '-o', 'json'], operator);
    expect(got.code, got.stderr).to.equal(0);
    expect((JSON.parse(got.stdout) as PolicyAnswer).allow).to.deep.equal(['10.0.0.0/8', '*.internal.example.com']);
    const table = await run(['policy', 'get', '-e', env], operator);
    expect(table.stdout).to.include('10.0.0.0/8');
    expect(table.stdout).to.match(/always refused/i);
    const unset = await run(['policy', 'unset', '-e', env], reg.adminToken);
    expect(unset.code, unset.stderr).to.equal(0);
    const after = await run(['policy', 'get', '-e', env, '-o', 'json'], operator);
    expect((JSON.parse(after.stdout) as PolicyAnswer).allow).to.equal(undefined);
  });
});
