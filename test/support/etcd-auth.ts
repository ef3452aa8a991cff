import { spawnSync } from 'node:child_process';
import type { EtcdCluster } from './etcd.js';
import type { TestPki } from './tls.js';

/** An etcd user confined to one key prefix, as an operator would set one up for Waymark. */
export interface EtcdAuthSetup {
  rootPassword: string;
  user: string;
  password: string;
  /** Key prefix the user may read and write (such as `/waymark/v1/`). */
  prefix: string;
}

/**
 * Creates root and a prefix-confined user with etcdctl over TLS (the trusted client certificate
 * of `pki`), then enables authentication. etcd must serve TLS with that PKI.
 */
export function enableEtcdAuth(etcd: EtcdCluster, pki: TestPki, setup: EtcdAuthSetup): void {
  const etcdctl = etcdctlOf(etcd, pki);
  addRoot(etcdctl, setup.rootPassword);
  etcdctl('user', 'add', `${setup.user}:${setup.password}`);
  etcdctl('role', 'add', setup.user);
  etcdctl('role', 'grant-permission', setup.user, '--prefix=true', 'readwrite', setup.prefix);
  etcdctl('user', 'grant-role', setup.user, setup.user);
  etcdctl('auth', 'enable');
}

/** Creates root only and enables authentication: every other user is for the test to make (`waymark etcd roles`). */
export function enableEtcdRoot(etcd: EtcdCluster, pki: TestPki, rootPassword: string): void {
  const etcdctl = etcdctlOf(etcd, pki);
  addRoot(etcdctl, rootPassword);
  etcdctl('auth', 'enable');
}

function addRoot(etcdctl: (...args: string[]) => void, password: string): void {
  etcdctl('user', 'add', `root:${password}`);
  etcdctl('role', 'add', 'root');
  etcdctl('user', 'grant-role', 'root', 'root');
}

function etcdctlOf(etcd: EtcdCluster, pki: TestPki): (...args: string[]) => void {
  return (...args) => {
    const res = spawnSync(
      'etcdctl',
      ['--endpoints', etcd.endpoints.join(','), '--cacert', pki.caFile, '--cert', pki.client.certFile, '--key', pki.client.keyFile, '--dial-timeout', '3s', ...args],
      { encoding: 'utf8', timeout: 10_000, env: { ...process.env, ETCDCTL_API: '3' } },
    );
    if (res.status !== 0) throw new Error(`etcdctl ${args[0]} ${args[1] ?? ''} failed: ${res.stderr || String(res.error)}`);
  };
}
