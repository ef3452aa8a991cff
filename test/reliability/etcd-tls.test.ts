import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { commitChanges, connectEtcd, EtcdAuthError, EtcdUnavailableError, KeyLayout, LeasedKeys, readEnvironment, TopologyWatcher, type EtcdConnection, type EtcdOptions, type Mutation } from '../../store/index.js';
import { WaymarkError } from '../../topology/index.js';
import { startEtcd, type EtcdCluster } from '../support/etcd.js';
import { region, service } from '../support/store.js';
import { createTestPki, type TestPki } from '../support/tls.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

const ROOT_PASSWORD = 'root-Pw-4-tests';
const USER = 'waymark';
const USER_PASSWORD = 'waymark-Pw-4-tests';
const CALL_TIMEOUT_MS = 2000;

describe('etcd over TLS with client certificates and user/password auth', function () {
  this.timeout(30_000);
  const layout = new KeyLayout();
  let pki: TestPki;
  let rogue: TestPki;
  let etcd: EtcdCluster;
  const connections: EtcdConnection[] = [];
  const connect = (options: Partial<EtcdOptions>) => {
    const conn = connectEtcd({ endpoints: etcd.endpoints, callTimeoutMs: CALL_TIMEOUT_MS, ...options });
    connections.push(conn);
    return conn;
  };
  const trusted = () => ({ caFile: pki.caFile, certFile: pki.client.certFile, keyFile: pki.client.keyFile });

  /** etcdctl over TLS with the trusted client certificate (and root's password once auth is on). */
  function etcdctl(...args: string[]): string {
    const res = spawnSync(
      'etcdctl',
      ['--endpoints', etcd.endpoints.join(','), '--cacert', pki.caFile, '--cert', pki.client.certFile, '--key', pki.client.keyFile, '--dial-timeout', '3s', ...args],
      { encoding: 'utf8', timeout: 10_000, env: { ...process.env, ETCDCTL_API: '3' } },
    );
    if (res.status !== 0) throw new Error(`etcdctl ${args.join(' ')} failed: ${res.stderr || res.error}`);
    return res.stdout;
  }

  before(async function () {
    pki = createTestPki();
    rogue = createTestPki();
    etcd = await startEtcd({
      tls: {
        caFile: pki.caFile,
        certFile: pki.server.certFile,
        keyFile: pki.server.keyFile,
        clientCertFile: pki.client.certFile,
        clientKeyFile: pki.client.keyFile,
      },
    });
    expect(etcd.endpoints[0]).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    etcdctl('user', 'add', `root:${ROOT_PASSWORD}`);
    etcdctl('role', 'add', 'root');
    etcdctl('user', 'grant-role', 'root', 'root');
    // The service account may touch Waymark's prefix only.
    etcdctl('user', 'add', `${USER}:${USER_PASSWORD}`);
    etcdctl('role', 'add', USER);
    etcdctl('role', 'grant-permission', USER, '--prefix=true', 'readwrite', `${layout.prefix}/`);
    etcdctl('user', 'grant-role', USER, USER);
    etcdctl('auth', 'enable');
  });

  after(async () => {
    for (const conn of connections.splice(0)) conn.close();
    await etcd?.stop();
    pki?.remove();
    rogue?.remove();
  });

  function puts(env: string, services: string[]): Mutation[] {
    return [
      { type: 'put', key: layout.region(env, 'eu-west'), value: JSON.stringify(region('eu-west')) },
      ...services.map((s): Mutation => ({ type: 'put', key: layout.service(env, s), value: JSON.stringify(service(s, ['eu-west'])) })),
    ];
  }
  const commit = (id: string) => ({ id, at: new Date().toISOString(), summary: { created: 0, updated: 0, deleted: 0, unchanged: 0 } });

  /** Runs `fn`, expecting it to fail within the call deadline plus a margin; returns the error and the time. */
  async function failure(fn: () => Promise<unknown>): Promise<{ err: unknown; ms: number }> {
    const started = Date.now();
    try {
      await fn();
    } catch (err) {
      const ms = Date.now() - started;
      expect(ms, 'time to fail').to.be.below(CALL_TIMEOUT_MS * 3 + 1000);
      return { err, ms };
    }
    throw new Error('expected a failure, but the call succeeded');
  }

  it('writes, reads, watches and holds a lease through TLS with a client certificate and a password', async () => {
    const conn = connect({ ...trusted(), username: USER, password: USER_PASSWORD });
    const env = uniqueEnv('tls');
    const watcher = new TopologyWatcher(conn, layout, env, { probeIntervalMs: 200 }).start();
    const leased = new LeasedKeys(conn, { ttlSeconds: 5 });
    try {
      await watcher.ready();
      const res = await commitChanges(conn, layout, env, puts(env, ['hr', 'crm']), { expectedCommitRevision: 0, commit: commit('tls-1') });
      await waitFor(() => watcher.current()?.services.size === 2, { what: 'the watcher to see the write over TLS' });
      expect(watcher.current()!.revision).to.equal(res.revision);
      const read = await readEnvironment(conn, layout, env);
      expect([...read.snapshot.services.keys()].sort()).to.deep.equal(['crm', 'hr']);
      expect(read.snapshot.commit?.id).to.equal('tls-1');

      await leased.put(
        layout.gateway(env, 'eu-west', 'gw-1'),
        JSON.stringify({ id: 'gw-1', region: 'eu-west', url: 'http://127.0.0.1:1', status: 'up', startedAt: new Date().toISOString() }),
      );
      await leased.start();
      await waitFor(() => watcher.current()?.gateways.has('eu-west/gw-1'), { what: 'the leased registration to be watched' });
      await leased.close();
      await waitFor(() => !watcher.current()?.gateways.has('eu-west/gw-1'), { what: 'the revoked registration to disappear' });
      expect(watcher.stale).to.equal(false);
    } finally {
      await leased.close();
      await watcher.close();
    }
  });

  it('refuses a wrong password with EtcdAuthError (ETCD_AUTH)', async () => {
    const conn = connect({ ...trusted(), username: USER, password: 'not-the-password' });
    const env = uniqueEnv('tls');
    const { err, ms } = await failure(() => readEnvironment(conn, layout, env));
    expect(err, String(err)).to.be.instanceOf(EtcdAuthError);
    expect((err as EtcdAuthError).code).to.equal('ETCD_AUTH');
    expect((err as Error).message).to.match(/refused the credentials/);
    console.log(`      wrong password: ${(err as WaymarkError).code} after ${ms} ms`);
  });

  it('refuses a user outside the prefix its role grants with EtcdAuthError', async () => {
    const conn = connect({ ...trusted(), username: USER, password: USER_PASSWORD });
    const { err } = await failure(() => conn.call((c) => c.put('/elsewhere/key').value('x').exec()));
    expect(err, String(err)).to.be.instanceOf(EtcdAuthError);
  });

  it('refuses requests without a password once auth is enabled', async () => {
    // etcd would take the certificate's common name as the user; that user does not exist.
    const conn = connect(trusted());
    const { err } = await failure(() => readEnvironment(conn, layout, uniqueEnv('tls')));
    expect(err, String(err)).to.be.instanceOf(EtcdAuthError);
  });

  for (const [name, files] of [
    ['no client certificate', () => ({ caFile: pki.caFile })],
    ['a client certificate from another CA', () => ({ caFile: pki.caFile, certFile: rogue.client.certFile, keyFile: rogue.client.keyFile })],
    ['a server CA it does not trust', () => ({ caFile: rogue.caFile, certFile: pki.client.certFile, keyFile: pki.client.keyFile })],
  ] as const) {
    it(`fails clearly, within the deadline, with ${name}`, async () => {
      const conn = connect({ ...files(), username: USER, password: USER_PASSWORD });
      const { err, ms } = await failure(() => readEnvironment(conn, layout, uniqueEnv('tls')));
      // gRPC says only UNAVAILABLE for a failed handshake; the message points at the TLS files.
      expect(err, String(err)).to.be.instanceOf(EtcdUnavailableError);
      expect((err as EtcdUnavailableError).code).to.equal('ETCD_UNAVAILABLE');
      expect((err as Error).message).to.match(/over TLS, also check that the CA file trusts etcd's certificate and that etcd accepts the client certificate/);
      console.log(`      ${name}: ${(err as WaymarkError).code} after ${ms} ms`);
    });
  }
});
