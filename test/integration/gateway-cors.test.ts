import { expect } from 'chai';
import type { CorsPolicy } from '../../openapi/index.js';
import { applyYaml } from '../support/admin-api.js';
import { useScene, writeTopology, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { environmentYaml, regionYaml, yamlDocuments } from '../support/manifests.js';
import { parseResponses, rawRequest, type ParsedResponse } from '../support/raw-http.js';
import { useRegistry } from '../support/registry.js';
import { region, serviceWith, useEtcd } from '../support/store.js';
import { uniqueEnv } from '../support/wait.js';

const APP = 'https://shop.example.com';

/** One request as raw bytes on a new connection; the parsed answer. */
async function raw(gateway: StartedGateway, method: string, path: string, headers: Record<string, string>): Promise<ParsedResponse> {
  const head = [`${method} ${path} HTTP/1.1`, `Host: ${new URL(gateway.url).host}`, 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  const reply = await rawRequest(gateway.url, `${head.join('\r\n')}\r\n\r\n`);
  const [response] = parseResponses(reply.text, [method]).responses;
  if (!response) throw new Error(`no answer to ${method} ${path}: ${JSON.stringify(reply.text.slice(0, 200))}`);
  return response;
}

const one = (r: ParsedResponse, name: string) => r.headers[name]?.join(', ');

/**
 * CORS declared per service (`cors` in the manifest, in the service record) and answered by the
 * gateways: preflights without forwarding, headers on every other answer, 421 included. Real
 * etcd, real gateways (eu-west serves shop; us-east does not), raw HTTP requests.
 */
describe('gateway CORS for proxied services (raw requests)', function () {
  this.timeout(30_000);
  const ctx = useEtcd();
  const scene = useScene(ctx);
  const reg = useRegistry(ctx);

  async function setup(cors: CorsPolicy | undefined) {
    const backend: TestBackend = await scene.backend('eu');
    const env = uniqueEnv('cors');
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU'), region('us-east', 'US')],
      services: [serviceWith('shop', { 'eu-west': [backend.url] }, cors ? { cors } : {})],
    });
    const eu = await scene.gateway(env, 'eu-west', 'eu-a');
    const us = await scene.gateway(env, 'us-east', 'us-a');
    return { backend, eu, us };
  }

  it('answers an allowed preflight itself (204, never forwarded) with the policy, Waymark headers included', async () => {
    const { backend, eu } = await setup({ allowOrigins: [APP], allowMethods: ['GET', 'PUT'], allowHeaders: ['content-type'], allowCredentials: true, maxAgeSeconds: 300 });
    const res = await raw(eu, 'OPTIONS', '/shop/v1/cart', {
      Origin: APP,
      'Access-Control-Request-Method': 'PUT',
      'Access-Control-Request-Headers': 'Content-Type, X-Request-Id, traceparent',
    });
    expect(res.status).to.equal(204);
    expect(one(res, 'access-control-allow-origin')).to.equal(APP);
    expect(one(res, 'access-control-allow-methods')).to.equal('GET, PUT');
    expect(one(res, 'access-control-allow-headers')).to.equal('content-type, x-request-id, traceparent');
    expect(one(res, 'access-control-allow-credentials')).to.equal('true');
    expect(one(res, 'access-control-max-age')).to.equal('300');
    expect(one(res, 'vary')).to.equal('Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    expect(one(res, 'x-waymark-gateway')).to.equal('eu-a');
    expect(backend.received).to.have.length(0);
    // The same through fetch, so the contract hook checks the answer (CorsPreflight).
    const viaFetch = await fetch(`${eu.url}/shop/v1/cart`, { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': 'GET' } });
    expect(viaFetch.status).to.equal(204);
  });

  it('refuses a preflight from another origin, for another method or header, with 403 and a stable code', async () => {
    const { backend, eu } = await setup({ allowOrigins: [APP], allowHeaders: ['content-type'] });
    const cases: [Record<string, string>, string][] = [
      [{ Origin: 'https://evil.example', 'Access-Control-Request-Method': 'GET' }, 'CORS_ORIGIN_NOT_ALLOWED'],
      [{ Origin: `${APP}.evil.example`, 'Access-Control-Request-Method': 'GET' }, 'CORS_ORIGIN_NOT_ALLOWED'],
      [{ Origin: 'null', 'Access-Control-Request-Method': 'GET' }, 'CORS_ORIGIN_NOT_ALLOWED'],
      [{ Origin: APP, 'Access-Control-Request-Method': 'DELETE' }, 'CORS_METHOD_NOT_ALLOWED'],
      [{ Origin: APP, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type, x-secret' }, 'CORS_HEADER_NOT_ALLOWED'],
    ];
    for (const [headers, code] of cases) {
      const res = await raw(eu, 'OPTIONS', '/shop/v1/cart', headers);
      expect(res.status, code).to.equal(403);
      expect((JSON.parse(res.body) as { code: string }).code).to.equal(code);
      expect(res.headers['access-control-allow-origin']).to.equal(undefined);
      expect(res.body).to.not.include('x-secret');
    }
    const viaFetch = await fetch(`${eu.url}/shop/v1/cart`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'GET' } });
    expect(viaFetch.status).to.equal(403);
    expect(backend.received).to.have.length(0);
  });

  it('puts the CORS headers on relayed answers for an allowed origin only, replacing the backend’s own', async () => {
    const { backend, eu } = await setup({ allowOrigins: [APP], exposeHeaders: ['x-backend'] });
    const allowed = await raw(eu, 'GET', '/shop/v1/items?acao=https://evil.example', { Origin: APP });
    expect(allowed.status).to.equal(200);
    expect(allowed.headers['access-control-allow-origin']).to.deep.equal([APP]);
    expect(one(allowed, 'access-control-expose-headers')).to.equal('Link, Retry-After, X-Request-Id, X-Waymark-Revision, X-Waymark-Region, X-Waymark-Gateway, x-backend');
    expect(allowed.headers['access-control-allow-credentials']).to.equal(undefined);
    expect(allowed.headers.vary).to.deep.equal(['Origin']);
    expect(one(allowed, 'via')).to.match(/eu-a$/);

    const other = await raw(eu, 'GET', '/shop/v1/items', { Origin: 'https://evil.example' });
    expect(other.status).to.equal(200);
    expect(other.headers['access-control-allow-origin']).to.equal(undefined);
    expect(other.headers.vary).to.deep.equal(['Origin']);
    // A plain OPTIONS (no preflight) is the service's call, forwarded as ever.
    const plain = await raw(eu, 'OPTIONS', '/shop/v1/items', {});
    expect(plain.status).to.equal(200);
    expect(backend.received.map((r) => r.method)).to.deep.equal(['GET', 'GET', 'OPTIONS']);
  });

  it('answers preflights and puts CORS headers on a 421, so a page can read where to go', async () => {
    const { us } = await setup({ allowOrigins: ['*'] });
    const preflight = await raw(us, 'OPTIONS', '/shop/v1/items', { Origin: APP, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'x-request-id' });
    expect(preflight.status).to.equal(204);
    expect(one(preflight, 'access-control-allow-origin')).to.equal('*');
    const misdirected = await raw(us, 'GET', '/shop/v1/items', { Origin: APP });
    expect(misdirected.status).to.equal(421);
    expect(one(misdirected, 'access-control-allow-origin')).to.equal('*');
    expect(one(misdirected, 'access-control-expose-headers')).to.include('Link');
    expect(one(misdirected, 'link')).to.include('rel="alternate"');
  });

  it('forwards preflights of a service without a policy to its backend, as before', async () => {
    const { backend, eu } = await setup(undefined);
    const res = await raw(eu, 'OPTIONS', '/shop/v1/items?acao=https://any.example', { Origin: APP, 'Access-Control-Request-Method': 'GET' });
    expect(res.status).to.equal(200);
    expect(res.headers['access-control-allow-origin']).to.deep.equal(['https://any.example']);
    expect(backend.received.map((r) => r.method)).to.deep.equal(['OPTIONS']);
  });

  it('takes the policy from a manifest applied through the registry (origin from a variable), keeps it out of the public document', async () => {
    const backend = await scene.backend('eu');
    const env = uniqueEnv('applied');
    const shop = [
      'apiVersion: waymark/v1',
      'kind: Service',
      'metadata: { name: shop }',
      'spec:',
      '  basePath: /shop/v1',
      '  placement: regional',
      `  deployments: [{ region: eu-west, upstreams: ["${backend.url}"] }]`,
      '  cors:',
      '    allowOrigins: ["${frontend}"]',
      '    allowMethods: [GET, DELETE]',
      '    maxAgeSeconds: 60',
      '',
    ].join('\n');
    const applied = await applyYaml(reg.url, reg.adminToken, env, yamlDocuments(environmentYaml(env, { frontend: APP }), regionYaml('eu-west', 'EU'), shop));
    expect(applied.status, JSON.stringify(applied.body)).to.equal(200);
    const eu = await scene.gateway(env, 'eu-west', 'eu-a');
    const res = await raw(eu, 'OPTIONS', '/shop/v1/items/1', { Origin: APP, 'Access-Control-Request-Method': 'DELETE' });
    expect(res.status).to.equal(204);
    expect(one(res, 'access-control-allow-origin')).to.equal(APP);
    expect(one(res, 'access-control-allow-methods')).to.equal('GET, DELETE');
    expect(one(res, 'access-control-max-age')).to.equal('60');
    const doc = await (await fetch(`${eu.url}/.well-known/topology`)).text();
    expect(doc).to.not.include('allowOrigins').and.not.include(APP);

    const bad = yamlDocuments(environmentYaml(env, { frontend: `${APP}/` }), regionYaml('eu-west', 'EU'), shop);
    const refused = await applyYaml(reg.url, reg.adminToken, env, bad);
    expect(refused.status).to.equal(422);
    const line = bad.split('\n').findIndex((l) => l.includes('allowOrigins')) + 1;
    expect(refused.body.details?.[0]).to.include({ resource: 'Service/shop', field: 'spec.cors.allowOrigins[0]', line });
    expect(refused.body.details?.[0]?.message).to.include('must be "*" or an origin');
  });
});
