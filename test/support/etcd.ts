import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

/** One etcd member started by a test, on free loopback ports with a temporary data dir. */
export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly process: ChildProcess | undefined;
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
    let proc: ChildProcess | undefined;
    let exited: Promise<void> = Promise.resolve();
    const args = (state: 'new' | 'existing') => [
      '--name', spec.name,
      '--data-dir', spec.dataDir,
      '--listen-client-urls', spec.clientUrl,
      '--advertise-client-urls', spec.clientUrl,
      '--listen-peer-urls', spec.peerUrl,
      '--initial-advertise-peer-urls', spec.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', state,
      '--initial-cluster-token', token,
      '--heartbeat-interval', '10',
      '--election-timeout', '100',
      '--logger', 'zap',
      '--log-level', 'error',
      ...tlsArgs,
      ...(options.extraArgs ?? []),
    ];
    const launch = () => {
      const child = spawn('etcd', args('new'), { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      exited = new Promise((resolve) => child.once('exit', () => resolve()));
      child.once('exit', (code, signal) => {
        if (proc === child) proc = undefined;
        if (code && code !== 0 && !signal) process.stderr.write(`etcd ${spec.name} exited ${code}: ${stderr}\n`);
      });
      proc = child;
    };
    const member: EtcdMember = {
      ...spec,
      get process() {
        return proc;
      },
      get running() {
        return proc !== undefined;
      },
      async kill() {
        proc?.kill('SIGKILL');
        await exited;
      },
      freeze() {
        proc?.kill('SIGSTOP');
      },
      thaw() {
        proc?.kill('SIGCONT');
      },
      async restart() {
        if (proc) return;
        launch();
        await waitHealthy(spec.clientUrl, size, tls);
      },
    };
    launch();
    return member;
  });
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    async stop() {
      for (const m of members) {
        m.thaw();
        await m.kill();
        rmSync(m.dataDir, { recursive: true, force: true });
      }
    },
  };
  try {
    await Promise.all(members.map((m) => waitHealthy(m.clientUrl, size, tls)));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

async function waitHealthy(clientUrl: string, size: number, tls: EtcdTlsOptions | undefined): Promise<void> {
  await waitFor(
    async () => {
      if (tls) return (await httpsHealth(`${clientUrl}/health`, tls)) === 'true';
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      return res.ok && body.health === 'true';
    },
    { timeoutMs: 15_000 + size * 2000, intervalMs: 50, what: `etcd at ${clientUrl} to be healthy` },
  );
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
