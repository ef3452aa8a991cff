import { expect } from 'chai';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistrationRefusedError, type Gateway } from '../../gateway/index.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { connectEtcd, EtcdPermissionError, KeyLayout, ROLE_NAMES, gatewayRoleName, type EtcdConnection, type EtcdOptions } from '../../store/index.js';
import { applyYaml } from '../support/admin-api.js';
import { runWaymark, type CliRun } from '../support/cli.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { enableEtcdRoot } from '../support/etcd-auth.js';
import { startBackend, startGateway, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { environmentYaml, regionYaml, serviceYaml, yamlDocuments } from '../support/manifests.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { createTestPki, type TestPki } from '../support/tls.js';
import { waitFor } from '../support/wait.js';

const ROOT_PASSWORD = 'root-Pw-4-roles';
const ENVIRONMENTS = ['prod', 'dev'];
const PARTNER = gatewayRoleName('prod', 'eu-west');

/** What a role may do on one key or prefix, as etcd answered. */
type Access = { read: boolean; write: boolean };

describe('least-privilege etcd roles made by `waymark etcd roles` (etcd with auth and TLS)', function () {
  this.timeout(120_000);
  const layout = new KeyLayout();
  let pki: TestPki;
  let etcd: EtcdCluster;
  let dir: string;
  let passwords: string;
  let registry: TestRegistry;
  let backend: TestBackend;
  let first: CliRun;
  const connections: EtcdConnection[] = [];
  const gateways: StartedGateway[] = [];

  const tls = () => ({ caFile: pki.caFile, certFile: pki.client.certFile, keyFile: pki.client.keyFile });
  const passwordOf = (user: string) => readFileSync(join(passwords, user), 'utf8').trim();
  const credentials = (user: string): Omit<EtcdOptions, 'endpoints'> => ({ ...tls(), username: user, password: user === 'root' ? ROOT_PASSWORD : passwordOf(user) });
  const connectAs = (user: string) => {
    const conn = connectEtcd({ endpoints: etcd.endpoints, callTimeoutMs: 3000, ...credentials(user) });
    connections.push(conn);
    return conn;
  };
  /** `waymark etcd roles …` as root, its credentials from the environment and a 0600 file. */
  const roles = (...args: string[]) =>
    runWaymark(['etcd', 'roles', '--etcd', etcd.endpoints.join(','), ...args], {
      WAYMARK_ETCD_CA: pki.caFile,
      WAYMARK_ETCD_CERT: pki.client.certFile,
      WAYMARK_ETCD_KEY: pki.client.keyFile,
      WAYMARK_ETCD_USER: 'root',
      WAYMARK_ETCD_PASSWORD_FILE: join(dir, 'root-password'),
    });
  const partnerGateway = (env: string, region: string, id: string, beforeListen?: (g: Gateway) => void, ready = true) =>
    startGateway(
      { etcd: { endpoints: etcd.endpoints, callTimeoutMs: 2000, ...credentials(PARTNER) }, environment: env, region, id, host: '127.0.0.1', port: 0 },
      { ready, ...(beforeListen ? { beforeListen } : {}) },
    ).then((g) => {
      gateways.push(g);
      return g;
    });

  before(async function () {
    this.timeout(120_000);
    pki = createTestPki();
    etcd = await startEtcd({
      tls: { caFile: pki.caFile, certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCertFile: pki.client.certFile, clientKeyFile: pki.client.keyFile },
    });
    enableEtcdRoot(etcd, pki, ROOT_PASSWORD);
    dir = mkdtempSync(join(tmpdir(), 'waymark-roles-'));
    passwords = join(dir, 'passwords');
    writeFileSync(join(dir, 'root-password'), `${ROOT_PASSWORD}\n`, { mode: 0o600 });
    // The roles come from the command itself, before anything is applied (regions given).
    first = await roles('-e', ENVIRONMENTS.join(','), '--regions', 'eu-west,us-east', '--passwords-dir', passwords);
    expect(first.code, first.stderr).to.equal(0);
    // The registry runs as its own user over TLS, and applies both environments.
    registry = await startRegistry({ endpoints: etcd.endpoints, etcdOptions: credentials(ROLE_NAMES.registry) });
    backend = await startBackend('catalog');
    for (const env of ENVIRONMENTS) {
      const res = await applyYaml(
        registry.url,
        registry.adminToken,
        env,
        yamlDocuments(
          environmentYaml(env, { up: backend.url, secret: `s3cret-of-${env}` }),
          regionYaml('eu-west', 'EU'),
          regionYaml('us-east', 'US'),
          serviceYaml('catalog', { deployments: { 'eu-west': ['${up}/eu'], 'us-east': ['${up}/us'] } }),
        ),
      );
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    }
  });

  after(async () => {
    for (const g of gateways.splice(0)) await g.close();
    for (const conn of connections.splice(0)) conn.close();
    await registry?.close();
    await backend?.close();
    await etcd?.stop();
    pki?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates the registry, a gateway role per environment and region, and the viewer; never prints a password', async () => {
    const created = first.stdout.split('\n').filter((l) => /\bcreate-user\b/.test(l)).map((l) => l.split(/\s+/)[0]);
    expect(created.sort()).to.deep.equal(
      [ROLE_NAMES.registry, ROLE_NAMES.viewer, ...ENVIRONMENTS.flatMap((e) => ['eu-west', 'us-east'].map((r) => gatewayRoleName(e, r)))].sort(),
    );
    for (const user of created) {
      expect(first.stdout + first.stderr).not.to.include(passwordOf(user));
      expect(readFileSync(join(passwords, user)).length).to.be.greaterThan(16);
    }
    expect(first.stdout).to.match(/waymark-gw-prod-eu-west\s+grant\s+readwrite \/waymark\/v1\/prod\/gateways\/eu-west\/\*/);
  });

  it('is idempotent (a second run reads the regions from etcd and changes nothing), and --dry-run writes nothing', async () => {
    const again = await roles('-e', ENVIRONMENTS.join(','), '--passwords-dir', passwords);
    expect(again.code, again.stderr).to.equal(0);
    const actions = again.stdout.split('\n').slice(2).filter(Boolean).map((l) => l.split(/\s+/)[1]);
    expect(new Set(actions)).to.deep.equal(new Set(['unchanged']));

    const plan = await roles('-e', 'staging', '--regions', 'eu-west', '--dry-run');
    expect(plan.code, plan.stderr).to.equal(0);
    expect(plan.stdout).to.include('plan (dry run: nothing written)').and.match(/waymark-gw-staging-eu-west\s+create-role/);
    const root = connectAs('root');
    expect((await root.call((c) => c.getRoles())).map((r) => r.name)).not.to.include('waymark-gw-staging-eu-west');

    // A permission added by hand is taken away: a role is exactly its plan.
    await root.call((c) => c.role(ROLE_NAMES.viewer).grant({ permission: 'Read', key: layout.environmentSpec('prod') }));
    const fixed = await roles('-e', ENVIRONMENTS.join(','), '--passwords-dir', passwords);
    expect(fixed.stdout).to.match(/waymark-viewer\s+revoke\s+read \/waymark\/v1\/prod\/variables/);
    expect(await can(connectAs(ROLE_NAMES.viewer), layout.environmentSpec('prod'))).to.deep.equal({ read: false, write: false });
  });

  it('lets a partner gateway of eu-west serve and register', async () => {
    const g = await partnerGateway('prod', 'eu-west', 'partner-1');
    const res = await fetch(`${g.url}/.well-known/topology`);
    expect(res.status).to.equal(200);
    const doc = (await res.json()) as TopologyDocument;
    expect(doc.stale).to.equal(false);
    expect(doc.regions.find((r) => r.name === 'eu-west')!.gateways.map((x) => x.id)).to.include('partner-1');
    const proxied = await fetch(`${g.url}/catalog/v1/items`);
    expect(proxied.status).to.equal(200);
    expect(((await proxied.json()) as { url: string }).url).to.equal('/eu/catalog/v1/items');
    const root = connectAs('root');
    expect((await root.call((c) => c.get(layout.report('prod', 'eu-west', 'partner-1')).exec())).kvs).to.have.length(1);
  });

  it('gives it a clear permission error, and it keeps serving, when it registers in us-east', async () => {
    const failures: Error[] = [];
    const started = Date.now();
    const g = await partnerGateway('prod', 'us-east', 'partner-2', (gw) => gw.on('registrationFailed', (err) => failures.push(err)), false);
    await waitFor(() => failures.length > 0, { timeoutMs: 15_000, what: 'the registration to fail' });
    console.log(`      registration in us-east refused (${(failures[0] as RegistrationRefusedError).code}) ${Date.now() - started} ms after start`);
    expect(failures[0]).to.be.instanceOf(RegistrationRefusedError);
    expect((failures[0] as RegistrationRefusedError).code).to.equal('ETCD_PERMISSION_DENIED');
    expect(failures[0].message).to.include(layout.gateway('prod', 'us-east', 'partner-2')).and.include("etcd user's role may not write");
    // It still serves the environment it may read.
    await waitFor(async () => (await fetch(`${g.url}/.well-known/topology`)).status === 200, { timeoutMs: 15_000, what: 'the document' });
    const doc = (await (await fetch(`${g.url}/.well-known/topology`)).json()) as TopologyDocument;
    expect(doc.stale).to.equal(false);
    expect(doc.regions.flatMap((r) => r.gateways.map((x) => x.id))).not.to.include('partner-2');
    expect((await connectAs('root').call((c) => c.get(layout.gateway('prod', 'us-east', 'partner-2')).exec())).kvs).to.have.length(0);
  });

  it('gives a clear permission error when it reads prod variables, and it cannot read another environment at all', async () => {
    const partner = connectAs(PARTNER);
    const err = await partner.call((c) => c.get(layout.environmentSpec('prod')).exec()).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(EtcdPermissionError);
    expect((err as EtcdPermissionError).code).to.equal('ETCD_PERMISSION_DENIED');
    expect((err as Error).message).to.include("the etcd user's role does not grant it");

    const failures: Error[] = [];
    const g = await partnerGateway('dev', 'eu-west', 'partner-3', (gw) => gw.on('registrationFailed', (e) => failures.push(e)), false);
    await waitFor(() => failures.length > 0, { timeoutMs: 15_000, what: 'the registration in dev to fail' });
    expect(failures[0]).to.be.instanceOf(RegistrationRefusedError);
    const doc = await fetch(`${g.url}/.well-known/topology`);
    expect(doc.status, 'no topology of dev: it could never read it').to.equal(503);
    await doc.arrayBuffer();
  });

  it('refuses the legacy variables key until an apply moves it', async () => {
    const root = connectAs('root');
    const env = 'legacy';
    await applyYaml(registry.url, registry.adminToken, env, yamlDocuments(regionYaml('eu-west', 'EU')));
    // As 0.1 stored them: inside the range gateways read.
    await root.call((c) => c.delete().key(layout.environmentSpec(env)).exec());
    await root.call((c) => c.put(layout.legacyEnvironmentSpec(env)).value(JSON.stringify({ name: env, variables: { up: backend.url } })).exec());
    const refused = await roles('-e', env, '--passwords-dir', passwords);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.include('LEGACY_VARIABLES').and.include(`apply to ${env} once`);
    // The next apply moves them, and renders with them.
    const res = await applyYaml(registry.url, registry.adminToken, env, serviceYaml('catalog', { deployments: { 'eu-west': ['${up}/eu'] } }));
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect((await root.call((c) => c.get(layout.legacyEnvironmentSpec(env)).exec())).kvs).to.have.length(0);
    expect(JSON.parse((await root.call((c) => c.get(layout.environmentSpec(env)).string())) ?? '{}')).to.deep.equal({ name: env, variables: { up: backend.url } });
    const ok = await roles('-e', env, '--passwords-dir', passwords);
    expect(ok.code, ok.stderr).to.equal(0);
  });

  it('refuses a password file other users can read', async () => {
    const open = join(dir, 'open-password');
    writeFileSync(open, 'x\n');
    chmodSync(open, 0o644);
    const run = await runWaymark(['etcd', 'roles', '--etcd', etcd.endpoints.join(','), '-e', 'prod', '--dry-run', '--etcd-user', 'root', '--etcd-password-file', open]);
    expect(run.code).to.equal(1);
    expect(run.stderr).to.include('INSECURE_FILE').and.include('chmod 600');
  });

  it('grants exactly the permission matrix of the README', async function () {
    const targets: Array<[label: string, key: string, prefix: boolean]> = [
      ['prod/regions/', layout.regions('prod'), true],
      ['prod/services/', layout.services('prod'), true],
      ['prod/gateways/eu-west/', `${layout.gateways('prod')}eu-west/`, true],
      ['prod/gateways/us-east/', `${layout.gateways('prod')}us-east/`, true],
      ['prod/commit', layout.commit('prod'), false],
      ['prod/variables', layout.environmentSpec('prod'), false],
      ['prod/source/', layout.sources('prod'), true],
      ['_status/prod/eu-west/', `${layout.reports('prod')}eu-west/`, true],
      ['_status/prod/us-east/', `${layout.reports('prod')}us-east/`, true],
      ['_audit/prod/', layout.audit('prod'), true],
      ['_policy/upstreams/prod', layout.upstreamPolicy('prod'), false],
      ['_policy/upstreams/dev', layout.upstreamPolicy('dev'), false],
      ['_policy/registries/', layout.registryAddresses(), true],
      ['dev/ (regions, services, gateways)', layout.regions('dev'), true],
      ['dev/variables', layout.environmentSpec('dev'), false],
    ];
    const who = [ROLE_NAMES.registry, PARTNER, ROLE_NAMES.viewer];
    const rw = (a: Access) => `${a.read ? 'R' : '-'}${a.write ? 'W' : '-'}`;
    const matrix: Record<string, string[]> = {};
    for (const [label, key, prefix] of targets) matrix[label] = await Promise.all(who.map(async (u) => rw(await can(connectAs(u), key, prefix))));
    console.log(`      | key | ${who.join(' | ')} |\n      |---|${who.map(() => '---').join('|')}|`);
    for (const [label, cells] of Object.entries(matrix)) console.log(`      | \`${label}\` | ${cells.join(' | ')} |`);
    expect(matrix).to.deep.equal({
      'prod/regions/': ['RW', 'R-', 'R-'],
      'prod/services/': ['RW', 'R-', 'R-'],
      'prod/gateways/eu-west/': ['RW', 'RW', 'R-'],
      'prod/gateways/us-east/': ['RW', 'R-', 'R-'],
      'prod/commit': ['RW', 'R-', 'R-'],
      'prod/variables': ['RW', '--', '--'],
      'prod/source/': ['RW', '--', 'R-'],
      '_status/prod/eu-west/': ['RW', 'RW', 'R-'],
      '_status/prod/us-east/': ['RW', 'R-', 'R-'],
      '_audit/prod/': ['RW', '--', 'R-'],
      '_policy/upstreams/prod': ['RW', 'R-', 'R-'],
      '_policy/upstreams/dev': ['RW', '--', 'R-'],
      '_policy/registries/': ['RW', 'R-', 'R-'],
      'dev/ (regions, services, gateways)': ['RW', '--', 'R-'],
      'dev/variables': ['RW', '--', '--'],
    });
  });

  /**
   * Whether `conn`'s user may read and write `key` (the whole range when `prefix`). The write is a
   * transaction whose condition never holds: etcd checks the permission of every operation of a
   * transaction, run or not, so this writes nothing.
   */
  async function can(conn: EtcdConnection, key: string, prefix = false): Promise<Access> {
    const denied = (e: unknown) => {
      if (e instanceof EtcdPermissionError) return false;
      throw e;
    };
    const read = await conn.call((c) => (prefix ? c.getAll().prefix(key).exec() : c.get(key).exec())).then(() => true, denied);
    const probe = prefix ? `${key}permission-probe` : key;
    const write = await conn.call((c) => c.if(probe, 'Mod', '<', 0).then(c.put(probe).value('x')).commit()).then(() => true, denied);
    return { read, write };
  }
});
