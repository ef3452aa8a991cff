import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SigningKeys, TopologyDocument } from '../../openapi/index.js';
import { applyYaml } from '../support/admin-api.js';
import { runWaymark } from '../support/cli.js';
import { spawnGateway, startBackend, type SpawnedGateway, type TestBackend } from '../support/gateway.js';
import { regionYaml, serviceYaml, yamlDocuments } from '../support/manifests.js';
import { freePort } from '../support/ports.js';
import { spawnRegistry, type SpawnedRegistry } from '../support/registry-process.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv } from '../support/wait.js';

/** The remote-deploy commands as an operator runs them: keys, export, and a gateway started with --bundle and no --etcd. */
describe('waymark keys, export and gateway --bundle (child processes)', function () {
  this.timeout(180_000);
  const ctx = useEtcd();
  const env = uniqueEnv('cli-bundle');
  let dir: string;
  let registry: SpawnedRegistry | undefined;
  let gateway: SpawnedGateway | undefined;
  let backend: TestBackend | undefined;

  before(async function () {
    this.timeout(60_000);
    dir = mkdtempSync(join(tmpdir(), 'waymark-cli-bundle-'));
    registry = await spawnRegistry({ etcd: ctx.etcd.endpoints, extraArgs: ['--keys-dir', join(dir, 'keys')] });
  });
  after(async () => {
    gateway?.kill('SIGKILL');
    await gateway?.exited;
    await registry?.stop();
    await backend?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates a key, exports a bundle, and serves it from a gateway that has no etcd', async () => {
    backend = await startBackend('edge');
    const port = await freePort();
    const manifests = yamlDocuments(regionYaml('eu-west', 'EU', 'cloud-a', [`http://127.0.0.1:${port}`]), serviceYaml('catalog', { deployments: { 'eu-west': [backend.url] } }));
    expect((await applyYaml(registry!.url, registry!.adminToken, env, manifests)).status).to.equal(200);
    const auth = ['--registry', registry!.url, '--token', registry!.adminToken, '-e', env];
    const created = await runWaymark(['keys', 'create', ...auth]);
    expect(created.code, created.stderr).to.equal(0);
    expect(created.stdout).to.match(/KID\s+STATUS/);
    const listed = await runWaymark(['keys', 'list', ...auth, '-o', 'json']);
    expect(listed.code, listed.stderr).to.equal(0);
    const keys = JSON.parse(listed.stdout) as SigningKeys;
    expect(keys.keys).to.have.length(1);
    const keysFile = join(dir, 'prod.keys.json');
    writeFileSync(keysFile, listed.stdout);
    const bundleFile = join(dir, 'prod.bundle.json');
    const exported = await runWaymark(['export', ...auth, '-o', bundleFile, '--region', 'eu-west']);
    expect(exported.code, exported.stderr).to.equal(0);
    expect(exported.stdout).to.match(/exported .* to /);
    expect(statSync(bundleFile).mode & 0o777).to.equal(0o600);

    const usage = await runWaymark(['gateway', '--bundle', bundleFile, '--environment', env, '--region', 'eu-west', '--id', 'edge-1']);
    expect(usage.code).to.equal(2);
    expect(usage.stderr).to.include('--trusted-keys');
    const both = await runWaymark(['gateway', '--bundle', bundleFile, '--trusted-keys', keysFile, '--etcd', ctx.etcd.endpoints.join(','), '--environment', env, '--region', 'eu-west', '--id', 'edge-1']);
    expect(both.code).to.equal(2);

    gateway = await spawnGateway({ bundle: { file: bundleFile, trustedKeysFile: keysFile }, environment: env, region: 'eu-west', id: 'edge-1', port });
    const doc = (await (await fetch(`${gateway.url}/.well-known/topology`)).json()) as TopologyDocument;
    expect(doc.bundle).to.have.keys(['since', 'loadedAt', 'exportedAt']);
    expect(doc.regions[0]!.gateways.map((g) => g.url)).to.deep.equal([gateway.url]);
    const res = await fetch(`${gateway.url}/catalog/v1/items/7`);
    expect(res.status).to.equal(200);
    expect(((await res.json()) as { backend: string }).backend).to.equal('edge');
  });
});
