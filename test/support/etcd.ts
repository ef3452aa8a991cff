import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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

let etcdChecked = false;
function ensureEtcd(): void {
  if (etcdChecked) return;
  const res = spawnSync('bash', [join(process.cwd(), 'scripts/ensure-etcd.sh')], { stdio: 'inherit' });
  if (res.status !== 0) throw new Error('etcd is not available (see the message above)');
  etcdChecked = true;
}

/** Starts a single-member etcd and waits until it is healthy. */
export async function startEtcd(options: { extraArgs?: string[] } = {}): Promise<EtcdCluster> {
  return startEtcdCluster(1, options);
}

/** Starts an n-member etcd cluster on loopback and waits until every member is healthy. */
export async function startEtcdCluster(size: number, options: { extraArgs?: string[] } = {}): Promise<EtcdCluster> {
  ensureEtcd();
  const token = `waymark-test-${randomBytes(6).toString('hex')}`;
  const specs = [];
  for (let i = 0; i < size; i++) {
    specs.push({
      name: `m${i}`,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
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
        await waitHealthy(spec.clientUrl, size);
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
    await Promise.all(members.map((m) => waitHealthy(m.clientUrl, size)));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

async function waitHealthy(clientUrl: string, size: number): Promise<void> {
  await waitFor(
    async () => {
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      return res.ok && body.health === 'true';
    },
    { timeoutMs: 15_000 + size * 2000, intervalMs: 50, what: `etcd at ${clientUrl} to be healthy` },
  );
}
