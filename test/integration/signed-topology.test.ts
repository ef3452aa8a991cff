import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { generateKeyPairSync, sign } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGateway } from '../../gateway/index.js';
import { InvalidTopologyError, TopologyUnavailableError, WaymarkClient, type TrustedKey } from '../../client-sdk/index.js';
import type { SigningKeys, TopologyDocument } from '../../openapi/index.js';
import { compactJws, parseSignedStatement, signingInputOf } from '../../topology/index.js';
import { adminCall, applyYaml } from '../support/admin-api.js';
import { useScene, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { regionYaml, serviceYaml, yamlDocuments } from '../support/manifests.js';
import { freePort } from '../support/ports.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startRogueGateway, type RogueGateway } from '../support/rogue-gateway.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/**
 * Signed topology end to end: a registry with a key directory signs every apply, real gateways
 * serve the statement and refuse registrations outside their region's allow-list, and a client
 * given the public keys routes only on what the statement vouches for, whatever a gateway says.
 */
describe('signed topology (registry, gateways, SDK; real etcd)', function () {
  this.timeout(90_000);
  const ctx = useEtcd();
  const scene = useScene(ctx);
  let registry: TestRegistry;
  let keysDir: string;
  const clients: WaymarkClient[] = [];
  const rogues: RogueGateway[] = [];

  before(async () => {
    keysDir = join(mkdtempSync(join(tmpdir(), 'waymark-keys-')), 'keys');
    registry = await startRegistry({ endpoints: ctx.etcd.endpoints, keysDir });
  });
  after(async () => {
    await registry?.close();
    if (keysDir) rmSync(join(keysDir, '..'), { recursive: true, force: true });
  });
  afterEach(async () => {
    while (clients.length) await clients.pop()!.close();
    while (rogues.length) await rogues.pop()!.close();
  });

  const trusted = (keys: SigningKeys): TrustedKey[] => keys.keys.map((k) => ({ kty: 'OKP', crv: 'Ed25519', x: k.x, kid: k.kid }));
  const client = (bootstrap: string[], keys: TrustedKey[], env: string, region = 'eu-west') => {
    const c = new WaymarkClient({ bootstrap, environment: env, region, trustedKeys: keys, probeLatency: false, discoveryRetryDelayMs: 50, connectTimeoutMs: 500 });
    clients.push(c);
    return c;
  };
  const rogue = async (doc: TopologyDocument) => {
    const r = await startRogueGateway(doc);
    rogues.push(r);
    return r;
  };
  const documentOf = async (url: string): Promise<TopologyDocument> => (await (await fetch(`${url}/.well-known/topology`)).json()) as TopologyDocument;
  const served = (res: { data: unknown }) => (res.data as { backend: string }).backend;

  /** An environment of two regions whose gateways may only use the ports reserved here, signed. */
  async function signedEnvironment(): Promise<{ env: string; keys: SigningKeys; eu: StartedGateway; us: StartedGateway; backends: Record<string, TestBackend> }> {
    const env = uniqueEnv('signed');
    const backends = { 'eu-west': await scene.backend('eu-west'), 'us-east': await scene.backend('us-east') };
    const [euPort, usPort] = [await freePort(), await freePort()];
    const manifests = yamlDocuments(
      regionYaml('eu-west', 'EU', 'cloud-a', [`http://127.0.0.1:${euPort}`]),
      regionYaml('us-east', 'US', 'cloud-a', [`http://127.0.0.1:${usPort}`]),
      serviceYaml('catalog', { deployments: { 'eu-west': [backends['eu-west'].url], 'us-east': [backends['us-east'].url] } }),
    );
    expect((await applyYaml(registry.url, registry.adminToken, env, manifests)).status).to.equal(200);
    const created = await adminCall<SigningKeys>(registry.url, 'POST', `/v1/environments/${env}/keys`, { token: registry.adminToken });
    expect(created.status).to.equal(201);
    const eu = await scene.gateway(env, 'eu-west', 'eu-gw', { port: euPort });
    const us = await scene.gateway(env, 'us-east', 'us-gw', { port: usPort });
    for (const g of [eu, us]) {
      await waitFor(async () => {
        const doc = await documentOf(g.url);
        return doc.signed !== undefined && doc.regions.every((r) => r.gateways.length === 1);
      }, { timeoutMs: 15_000, what: `a signed document listing both gateways at ${g.url}` });
    }
    return { env, keys: created.body, eu, us, backends };
  }

  it('signs applies and key changes: the key file is private, the statement has no upstream, the document carries it', async () => {
    const { env, keys, eu, backends } = await signedEnvironment();
    expect(keys.keys).to.have.length(1);
    expect(keys.keys[0]!.status).to.equal('active');
    expect(statSync(join(keysDir, `${env}.json`)).mode & 0o777).to.equal(0o600);
    expect(statSync(keysDir).mode & 0o777).to.equal(0o700);
    const doc = await documentOf(eu.url);
    const statement = parseSignedStatement(doc.signed);
    if (!statement.ok) throw new Error(statement.problems.join('; '));
    expect(statement.value.header.kid).to.equal(keys.keys[0]!.kid);
    expect(statement.value.payload.services.map((s) => s.name)).to.deep.equal(['catalog']);
    expect(JSON.stringify(statement.value.payload)).not.to.include(backends['eu-west'].url);
    // A later apply is signed in its own transaction, at a higher revision.
    const before = statement.value.payload.revision;
    const more = yamlDocuments(serviceYaml('hr', { deployments: { 'eu-west': [backends['eu-west'].url] }, placement: 'pinned', jurisdictions: ['EU'] }));
    expect((await applyYaml(registry.url, registry.adminToken, env, more)).status).to.equal(200);
    const next = await waitFor(async () => {
      const d = await documentOf(eu.url);
      return d.services.some((s) => s.name === 'hr') ? d : undefined;
    }, { what: 'the apply in the document' });
    const after = parseSignedStatement(next.signed);
    expect(after.ok && after.value.payload.revision).to.be.greaterThan(before);
    expect(after.ok && after.value.payload.services.map((s) => s.name)).to.deep.equal(['catalog', 'hr']);
    // Listing is open to any token; a second create is a conflict.
    const listed = await adminCall<SigningKeys>(registry.url, 'GET', `/v1/environments/${env}/keys`, { token: registry.token('viewer') });
    expect(listed.body.keys.map((k) => k.kid)).to.deep.equal([keys.keys[0]!.kid]);
    const again = await adminCall<{ code: string }>(registry.url, 'POST', `/v1/environments/${env}/keys`, { token: registry.adminToken });
    expect([again.status, again.body.code]).to.deep.equal([409, 'CONFLICT']);
  });

  it('a registry without the signing key refuses to apply to a signed environment rather than publish it unsigned', async () => {
    const { env, eu } = await signedEnvironment();
    const before = (await documentOf(eu.url)).signed;
    const keyless = await startRegistry({ endpoints: ctx.etcd.endpoints });
    const stranger = await startRegistry({ endpoints: ctx.etcd.endpoints, keysDir: join(keysDir, '..', 'other-keys') });
    try {
      const change = serviceYaml('extra', { deployments: { 'eu-west': ['http://127.0.0.1:1'] } });
      const refused = await applyYaml(keyless.url, keyless.adminToken, env, change);
      expect([refused.status, refused.body.code]).to.deep.equal([409, 'SIGNING_UNAVAILABLE']);
      const missing = await applyYaml(stranger.url, stranger.adminToken, env, change);
      expect([missing.status, missing.body.code]).to.deep.equal([409, 'SIGNING_KEY_MISSING']);
      expect((await documentOf(eu.url)).services.map((s) => s.name)).to.deep.equal(['catalog']);
      expect((await documentOf(eu.url)).signed).to.equal(before);
    } finally {
      await keyless.close();
      await stranger.close();
    }
  });

  it('gateways never publish a registration outside its region\'s signed allow-list', async () => {
    const { env, eu } = await signedEnvironment();
    const key = ctx.layout.gateway(env, 'eu-west', 'intruder');
    const put = await ctx.conn.client.put(key).value(JSON.stringify({ id: 'intruder', region: 'eu-west', url: 'http://127.0.0.1:9', status: 'up', startedAt: new Date().toISOString() })).exec();
    const written = Number(put.header.revision);
    // Another allowed change after it, so the gateway has surely read the intruder when it shows.
    await ctx.conn.client.put(ctx.layout.gateway(env, 'eu-west', 'marker')).value(JSON.stringify({ id: 'marker', region: 'eu-west', url: eu.url, status: 'up', startedAt: new Date().toISOString() })).exec();
    const doc = await waitFor(async () => {
      const d = await documentOf(eu.url);
      return d.revision > written && d.regions[0]!.gateways.some((g) => g.id === 'marker') ? d : undefined;
    }, { what: 'the gateway to read both registrations' });
    expect(doc.regions.find((r) => r.name === 'eu-west')!.gateways.map((g) => g.id)).to.deep.equal(['eu-gw', 'marker']);
    // A gateway started on a URL outside the list says so, and is not in its own document.
    const outsider = createGateway({ etcd: { endpoints: ctx.etcd.endpoints }, environment: env, region: 'eu-west', id: 'outsider', leaseTtlSeconds: 2 });
    scene.defer(() => outsider.close());
    const warnings: Error[] = [];
    outsider.on('warning', (err) => warnings.push(err));
    const outsiderUrl = await outsider.listen();
    await waitFor(() => warnings.some((w) => /outside the signed gatewayUrls/.test(w.message)), { timeoutMs: 15_000, what: 'the outsider to warn' });
    expect((await documentOf(outsiderUrl)).regions[0]!.gateways.map((g) => g.id)).not.to.include('outsider');
    await ctx.conn.client.delete().key(key).exec();
    await ctx.conn.client.delete().key(ctx.layout.gateway(env, 'eu-west', 'marker')).exec();
  });

  it('gateways quarantine an unreadable or foreign statement from etcd and keep serving the last valid one', async () => {
    const { env, eu } = await signedEnvironment();
    const good = (await documentOf(eu.url)).signed;
    const key = ctx.layout.signed(env);
    const other = parseSignedStatement(good);
    if (!other.ok) throw new Error('unreadable statement');
    const foreignInput = signingInputOf(other.value.header.kid, { ...other.value.payload, environment: 'elsewhere' });
    for (const value of ['not a jws', '{"jws":1}', compactJws(foreignInput, new Uint8Array(64))]) {
      await ctx.conn.client.put(key).value(value).exec();
      await waitFor(() => eu.gateway.invalidRecords.some((r) => r.key === key), { what: `the gateway to quarantine ${JSON.stringify(value.slice(0, 20))}` });
      expect((await documentOf(eu.url)).signed).to.equal(good);
      expect(eu.gateway.state).to.equal('listening');
    }
  });

  it('a verifying client routes through the signed gateways', async () => {
    const { env, keys, eu } = await signedEnvironment();
    const c = client([eu.url], trusted(keys), env);
    await c.ready();
    expect(served(await c.request('catalog', { url: '/items/1' }))).to.equal('eu-west');
  });

  it('refuses tampered documents (changed service, unsigned, foreign key) and never sends them a call', async () => {
    const { env, keys, eu } = await signedEnvironment();
    const real = await documentOf(eu.url);
    const changed = structuredClone(real);
    changed.services[0]!.regions = ['us-east'];
    const unsigned = structuredClone(real);
    delete unsigned.signed;
    const foreign = structuredClone(real);
    const { privateKey } = generateKeyPairSync('ed25519');
    const statement = parseSignedStatement(real.signed);
    if (!statement.ok) throw new Error('unreadable statement');
    const input = signingInputOf(keys.keys[0]!.kid, { ...statement.value.payload, revision: statement.value.payload.revision + 1 });
    foreign.signed = compactJws(input, sign(null, Buffer.from(input), privateKey));
    for (const [doc, reason] of [[changed, 'mismatch'], [unsigned, 'unsigned'], [foreign, 'signature']] as const) {
      const bad = await rogue(doc);
      const rejected: InvalidTopologyError[] = [];
      const c = client([bad.url], trusted(keys), env);
      c.on('rejected', (e) => rejected.push(e));
      const err = await c.ready().catch((e: unknown) => e);
      expect(err, reason).to.be.instanceOf(TopologyUnavailableError);
      expect(rejected.map((e) => e.reason), reason).to.include(reason);
      expect(bad.apiRequests, reason).to.deep.equal([]);
    }
    // The same documents without trustedKeys: accepted as before (structure only).
    const bad = await rogue(changed);
    const plain = new WaymarkClient({ bootstrap: [bad.url], environment: env, probeLatency: false });
    clients.push(plain);
    await plain.ready();
  });

  it('drops a gateway URL a document adds outside the allow-list: it gets no call', async () => {
    const { env, keys, eu } = await signedEnvironment();
    const real = await documentOf(eu.url);
    const doc = structuredClone(real);
    const bad = await rogue(doc);
    // The rogue lists itself first in the client's region, with an entry point of its own.
    const region = doc.regions.find((r) => r.name === 'eu-west')!;
    region.gateways.unshift({ id: 'aaa-rogue', url: bad.url, status: 'up' });
    doc.services[0]!._links!.entrypoints!.unshift({ href: `${bad.url}${doc.services[0]!.basePath}`, name: 'aaa-rogue', region: 'eu-west' });
    bad.serve(doc);
    const c = client([bad.url, eu.url], trusted(keys), env);
    await c.ready();
    expect(c.topology()!.regions.find((r) => r.name === 'eu-west')!.gateways.map((g) => g.id)).to.deep.equal(['eu-gw']);
    for (let i = 0; i < 5; i++) expect(served(await c.request('catalog', { url: `/items/${i}` }))).to.equal('eu-west');
    expect(bad.apiRequests).to.deep.equal([]);
  });

  it('rotates without downtime; an older statement signed with the old key is then a rollback', async () => {
    const { env, eu, us } = await signedEnvironment();
    const old = await documentOf(eu.url);
    const bad = await rogue(old);
    const rejected: InvalidTopologyError[] = [];
    // Step 1: the next key is published, and signs nothing yet.
    const rotated = await adminCall<SigningKeys>(registry.url, 'POST', `/v1/environments/${env}/keys/rotate`, { token: registry.adminToken });
    expect(rotated.status).to.equal(200);
    expect(rotated.body.keys.map((k) => k.status)).to.deep.equal(['next', 'active']);
    expect((await documentOf(eu.url)).signed).to.equal(old.signed);
    // Clients learn it: during the overlap they trust the active key and the next one.
    const both = trusted(rotated.body);
    // Step 2: the next key signs.
    const activated = await adminCall<SigningKeys>(registry.url, 'POST', `/v1/environments/${env}/keys/activate`, { token: registry.adminToken });
    expect(activated.body.keys.map((k) => [k.kid, k.status])).to.deep.equal([[both[0]!.kid, 'active'], [both[1]!.kid, 'retired']]);
    const again = await adminCall<{ code: string }>(registry.url, 'POST', `/v1/environments/${env}/keys/activate`, { token: registry.adminToken });
    expect([again.status, again.body.code]).to.deep.equal([409, 'CONFLICT']);
    const fresh = await waitFor(async () => {
      const d = await documentOf(eu.url);
      const s = parseSignedStatement(d.signed);
      return s.ok && s.value.header.kid === both[0]!.kid ? d : undefined;
    }, { what: 'the re-signed document' });
    // A client that started on the old document follows the rotation with no rejection and no failed call.
    const follower = client([bad.url, eu.url, us.url], both, env);
    follower.on('rejected', (e) => rejected.push(e));
    await follower.ready();
    expect(follower.topology()!.signed).to.equal(old.signed);
    bad.serve(fresh);
    await waitFor(() => follower.topology()!.signed === fresh.signed, { timeoutMs: 15_000, what: 'the client to take the new statement' });
    expect(served(await follower.request('catalog', { url: '/after-rotation' }))).to.equal('eu-west');
    expect(rejected).to.deep.equal([]);
    // The rogue now replays the old statement (old key, still trusted) under a higher document revision.
    bad.serve({ ...old, revision: fresh.revision + 100 });
    await waitFor(() => rejected.some((e) => e.reason === 'rollback'), { timeoutMs: 15_000, what: 'the replay to be rejected as a rollback' });
    expect(follower.topology()!.signed).to.equal(fresh.signed);
    // After the overlap only the new key is trusted: the old statement is refused outright.
    const strict = client([bad.url, eu.url], [both[0]!], env);
    const strictRejections: InvalidTopologyError[] = [];
    strict.on('rejected', (e) => strictRejections.push(e));
    await strict.ready();
    expect(strictRejections.map((e) => e.reason)).to.include('signature');
    expect(strict.topology()!.signed).to.equal(fresh.signed);
    for (let i = 0; i < 3; i++) await strict.request('catalog', { url: `/strict/${i}` });
    expect(bad.apiRequests).to.deep.equal([]);
  });
});
