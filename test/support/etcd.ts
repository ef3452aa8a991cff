import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from './ports.js';
import { EtcdProcess } from '../../stack/etcd-process.js';

/** One etcd member started by a test, on free loopback ports with a temporary data dir. */
export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly pid: number | undefined;
  /** True while the process runs. */
  readonly running: boolean;
  /** SIGKILL (no graceful shutdown), keeping the data dir. */
  kill(): Promise<void>;
  /** SIGSTOP: the process freezes, connections hang (a black hole). */
  freeze(): void;
  thaw(): void;
  /** Starts the member again with the same data and ports. */
  restart(): Promise<void>;
}

export interface EtcdCluster {
  readonly members: EtcdMember[];
  /** Client URLs of every member. */
  readonly endpoints: string[];
  /** Kills every member and removes their data. */
  stop(): Promise<void>;
}

/** TLS for etcd's client URLs (peers stay on plain http: they are on loopback and not under test). */
export interface EtcdTlsOptions {
  /** CA that signed the server certificate and that client certificates must chain to. */
  caFile: string;
  /** Server certificate (subjectAltName IP:127.0.0.1) and key. */
  certFile: string;
  keyFile: string;
  /** A client certificate and key: the health check needs one when `clientCertAuth` is set. */
  clientCertFile?: string;
  clientKeyFile?: string;
  /** etcd's `--client-cert-auth`: refuse clients without a certificate from the CA. Default true. */
  clientCertAuth?: boolean;
}

export interface EtcdStartOptions {
  /** More etcd flags, appended last. */
  extraArgs?: string[];
  /** Serve clients over https (the client URLs become `https://…`). */
  tls?: EtcdTlsOptions;
}

let etcdChecked = false;
function ensureEtcd(): void {
  if (etcdChecked) return;
  const res = spawnSync('bash', [join(process.cwd(), 'scripts/ensure-etcd.sh')], { stdio: 'inherit' });
  if (res.status !== 0) throw new Error('etcd is not available (see the message above)');
  etcdChecked = true;
}

/** Starts a single-member etcd and waits until it is healthy. */
export async function startEtcd(options: EtcdStartOptions = {}): Promise<EtcdCluster> {
  return startEtcdCluster(1, options);
}

/** Starts an n-member etcd cluster on loopback and waits until every member is healthy. */
export async function startEtcdCluster(size: number, options: EtcdStartOptions = {}): Promise<EtcdCluster> {
  ensureEtcd();
  const tls = options.tls;
  const clientScheme = tls ? 'https' : 'http';
  const tlsArgs = tls
    ? [
        '--cert-file', tls.certFile,
        '--key-file', tls.keyFile,
        '--trusted-ca-file', tls.caFile,
        ...(tls.clientCertAuth === false ? [] : ['--client-cert-auth']),
      ]
    : [];
  const token = `waymark-test-${randomBytes(6).toString('hex')}`;
  const specs = [];
  for (let i = 0; i < size; i++) {
    specs.push({
      name: `m${i}`,
      clientUrl: `${clientScheme}://127.0.0.1:${await freePort()}`,
      peerUrl: `http://127.0.0.1:${await freePort()}`,
      dataDir: mkdtempSync(join(tmpdir(), 'waymark-etcd-')),
    });
  }
  const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
  const members = specs.map((spec) => {
    const etcd = new EtcdProcess({
      ...spec,
      initialCluster,
      clusterToken: token,
      extraArgs: [...tlsArgs, ...(options.extraArgs ?? [])],
      healthy: tls
        ? async () => (await httpsHealth(`${spec.clientUrl}/health`, tls)) === 'true'
        : undefined,
      startTimeoutMs: 15_000 + size * 2000,
    });
    const member: EtcdMember = {
      ...spec,
      get pid() {
        return etcd.pid;
      },
      get running() {
        return etcd.running;
      },
      kill: () => etcd.kill(),
      freeze: () => etcd.freeze(),
      thaw: () => etcd.thaw(),
      restart: () => etcd.start(),
    };
    return { member, etcd };
  });
  const cluster: EtcdCluster = {
    members: members.map((m) => m.member),
    endpoints: specs.map((m) => m.clientUrl),
    async stop() {
      for (const { member: m } of members) {
        m.thaw();
        await m.kill();
        rmSync(m.dataDir, { recursive: true, force: true });
      }
    },
  };
  try {
    // Members start together: none is healthy before a quorum of them runs.
    await Promise.all(members.map((m) => m.etcd.start()));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** `health` of etcd's /health over https, presenting the client certificate (fetch cannot). */
function httpsHealth(url: string, tls: EtcdTlsOptions): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca: readFileSync(tls.caFile),
        ...(tls.clientCertFile ? { cert: readFileSync(tls.clientCertFile) } : {}),
        ...(tls.clientKeyFile ? { key: readFileSync(tls.clientKeyFile) } : {}),
        timeout: 1000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          try {
            resolve(res.statusCode === 200 ? (JSON.parse(body) as { health?: string }).health : undefined);
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 1000 ms`)));
    req.on('error', reject);
    req.end();
  });
}
