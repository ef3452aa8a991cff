import { expect } from 'chai';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WaymarkClient } from '../../client-sdk/index.js';
import { BundleRejectedError } from '../../gateway/index.js';
import type { Bundle, SigningKeys, TopologyDocument } from '../../openapi/index.js';
import { adminCall, applyYaml } from '../support/admin-api.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { startBackend, startGateway, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { regionYaml, serviceYaml, yamlDocuments } from '../support/manifests.js';
import { freePort } from '../support/ports.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/**
 * Remote deploy: a bundle exported from a registry with a dedicated etcd, which is then stopped
 * for good; a gateway started from the bundle alone serves and proxies, a verifying SDK routes
 * through it, and replacing the file atomically moves it to a newer export, never to an older
 * or a tampered one.
 */
describe('bundle gateway (no etcd)', function () {
  this.timeout(90_000);
  const env = uniqueEnv('bundle');
  let etcd: EtcdCluster | undefined;
  let registry: TestRegistry | undefined;
  let gateway: StartedGateway | undefined;
  let client: WaymarkClient | undefined;
  let backend: TestBackend;
  let dir: string;
  let bundleFile: string;
  let first: Bundle;
  let second: Bundle;
  let keys: SigningKeys;
  let port: number;
  const warnings: Error[] = [];

  /** Replaces the bundle file the way `waymark export` does: a new file renamed over the old. */
  const replace = (bundle: Bundle | string) => {
    const tmp = `${bundleFile}.tmp`;
    writeFileSync(tmp, typeof bundle === 'string' ? bundle : JSON.stringify(bundle));
    renameSync(tmp, bundleFile);
  };
  const documentOf = async (): Promise<TopologyDocument> => (await (await fetch(`${gateway!.url}/.well-known/topology`)).json()) as TopologyDocument;
  const served = (res: { data: unknown }) => (res.data as { backend: string }).backend;

  before(async function () {
    this.timeout(60_000);
    dir = mkdtempSync(join(tmpdir(), 'waymark-bundle-'));
    bundleFile = join(dir, 'prod.bundle.json');
    backend = await startBackend('eu-west');
    port = await freePort();
    etcd = await startEtcd();
    registry = await startRegistry({ endpoints: etcd.endpoints, keysDir: join(dir, 'keys') });
    const region = regionYaml('eu-west', 'EU', 'cloud-a', [`http://127.0.0.1:${port}`]);
    const catalog = serviceYaml('catalog', { deployments: { 'eu-west': [backend.url] } });
    expect((await applyYaml(registry.url, registry.adminToken, env, yamlDocuments(region, catalog))).status).to.equal(200);
    keys = (await adminCall<SigningKeys>(registry.url, 'POST', `/v1/environments/${env}/keys`, { token: registry.adminToken })).body;
    const exported = await adminCall<Bundle>(registry.url, 'GET', `/v1/environments/${env}/bundle?region=eu-west`, { token: registry.adminToken });
    expect(exported.status).to.equal(200);
    first = exported.body;
    const orders = serviceYaml('orders', { deployments: { 'eu-west': [backend.url] } });
    expect((await applyYaml(registry.url, registry.adminToken, env, orders)).status).to.equal(200);
    second = (await adminCall<Bundle>(registry.url, 'GET', `/v1/environments/${env}/bundle?region=eu-west`, { token: registry.adminToken })).body;
    const forbidden = await adminCall<{ code: string }>(registry.url, 'GET', `/v1/environments/${env}/bundle`, { token: registry.token('viewer') });
    expect(forbidden.status).to.equal(403);
    // etcd is gone for good from here on.
    await registry.close();
    registry = undefined;
    await etcd.stop();
    etcd = undefined;
    replace(first);
    gateway = await startGateway({
      bundle: { file: bundleFile, trustedKeys: keys.keys.map((k) => ({ kty: 'OKP', crv: 'Ed25519', x: k.x, kid: k.kid })), pollIntervalMs: 200 },
      environment: env,
      region: 'eu-west',
      id: 'edge-1',
      port,
    });
    gateway.gateway.on('warning', (err) => warnings.push(err));
  });

  after(async () => {
    await client?.close();
    await gateway?.close();
    await registry?.close();
    await etcd?.stop();
    await backend?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the bundle, says so, and a verifying client routes through it', async () => {
    const doc = await documentOf();
    expect(doc.bundle).to.have.keys(['since', 'loadedAt', 'exportedAt']);
    expect(doc.signed).to.be.a('string');
    expect(doc.regions[0]!.gateways.map((g) => g.id)).to.deep.equal(['edge-1']);
    client = new WaymarkClient({ bootstrap: [gateway!.url], environment: env, trustedKeys: keys.keys.map((k) => ({ kty: 'OKP', crv: 'Ed25519', x: k.x, kid: k.kid })), probeLatency: false });
    await client.ready();
    expect(served(await client.request('catalog', { url: '/items/1' }))).to.equal('eu-west');
    expect(backend.received.some((r) => r.url === '/catalog/v1/items/1')).to.equal(true);
  });

  it('moves to a newer export when the file is replaced', async () => {
    replace(second);
    await waitFor(async () => (await documentOf()).services.some((s) => s.name === 'orders'), { timeoutMs: 15_000, what: 'the newer bundle to be served' });
    await waitFor(() => client!.topology()!.services.some((s) => s.name === 'orders'), { timeoutMs: 15_000, what: 'the client to see it' });
    expect(served(await client!.request('orders', { url: '/o/1' }))).to.equal('eu-west');
  });

  it('refuses an older export and a tampered one, and keeps serving the current bundle', async () => {
    const before = (await documentOf()).revision;
    replace(first);
    await waitFor(() => warnings.some((w) => w instanceof BundleRejectedError && /older/.test(w.message)), { timeoutMs: 15_000, what: 'the older bundle to be refused' });
    const tampered = JSON.parse(Buffer.from(second.payload, 'base64url').toString()) as { services: Array<{ deployments: Array<{ upstreams: string[] }> }> };
    tampered.services[0]!.deployments[0]!.upstreams = ['http://127.0.0.1:9'];
    replace({ ...second, payload: Buffer.from(JSON.stringify(tampered)).toString('base64url') });
    await waitFor(() => warnings.some((w) => w instanceof BundleRejectedError && /signature/.test(w.message)), { timeoutMs: 15_000, what: 'the tampered bundle to be refused' });
    replace('{"not":"a bundle"}');
    await waitFor(() => warnings.filter((w) => w instanceof BundleRejectedError).length >= 3, { timeoutMs: 15_000, what: 'the malformed bundle to be refused' });
    const doc = await documentOf();
    expect(doc.revision).to.equal(before);
    expect(doc.services.map((s) => s.name)).to.deep.equal(['catalog', 'orders']);
    expect(served(await client!.request('catalog', { url: '/still' }))).to.equal('eu-west');
  });
});
