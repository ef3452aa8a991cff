import { spawn, type ChildProcess } from 'node:child_process';

/** How to run one etcd member. Every default is here. */
export interface EtcdProcessOptions {
  name: string;
  dataDir: string;
  /** Where clients connect, e.g. `http://127.0.0.1:2379`. */
  clientUrl: string;
  /** Where peers connect, e.g. `http://127.0.0.1:2380`. */
  peerUrl: string;
  /** `name=peerUrl,...` of every member; default: this member alone. */
  initialCluster?: string;
  /** Unique per cluster, so members of different clusters never join each other. Default `waymark`. */
  clusterToken?: string;
  /**
   * Raft timings for loopback: heartbeat 10 ms, election 100 ms (healthy in ~0.1 s instead of ~1 s).
   * Default true.
   */
  fastElection?: boolean;
  /** More flags (TLS, quotas...). */
  extraArgs?: string[];
  /** Health probe; default: GET `<clientUrl>/health` answering `{"health":"true"}`. */
  healthy?: () => Promise<boolean>;
  /** How long `start()` waits for health, in ms. Default 20000. */
  startTimeoutMs?: number;
}

export const ETCD_PROCESS_DEFAULTS = { clusterToken: 'waymark', fastElection: true, startTimeoutMs: 20_000 } as const;

/** One etcd member as a child process: start, wait healthy, kill, freeze, restart with its data. */
export class EtcdProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';

  constructor(readonly options: EtcdProcessOptions) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The tail of etcd's own output, for error messages. */
  get output(): string {
    return this.log;
  }

  args(): string[] {
    const o = this.options;
    return [
      '--name', o.name,
      '--data-dir', o.dataDir,
      '--listen-client-urls', o.clientUrl,
      '--advertise-client-urls', o.clientUrl,
      '--listen-peer-urls', o.peerUrl,
      '--initial-advertise-peer-urls', o.peerUrl,
      '--initial-cluster', o.initialCluster ?? `${o.name}=${o.peerUrl}`,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', o.clusterToken ?? ETCD_PROCESS_DEFAULTS.clusterToken,
      ...((o.fastElection ?? ETCD_PROCESS_DEFAULTS.fastElection) ? ['--heartbeat-interval', '10', '--election-timeout', '100'] : []),
      '--logger', 'zap',
      '--log-level', 'error',
      ...(o.extraArgs ?? []),
    ];
  }

  /** Spawns etcd (with the data it has) and waits until it is healthy. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.child) return;
    const child = spawn('etcd', this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    child.once('error', (err) => keep(Buffer.from(String(err))));
    this.child = child;
    const deadline = Date.now() + (this.options.startTimeoutMs ?? ETCD_PROCESS_DEFAULTS.startTimeoutMs);
    const healthy = this.options.healthy ?? (() => httpHealthy(this.options.clientUrl));
    for (;;) {
      signal?.throwIfAborted();
      if (this.child !== child) throw new Error(`etcd ${this.options.name} exited while starting: ${this.log.trim()}`);
      if (await healthy().catch(() => false)) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`etcd ${this.options.name} at ${this.options.clientUrl} was not healthy in time: ${this.log.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL: no graceful shutdown (a leader that lost its peers takes 7 s to exit on SIGTERM). */
  async kill(): Promise<void> {
    this.child?.kill('SIGCONT');
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGSTOP: etcd freezes and its connections hang, as in a black-holed network. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }
}

async function httpHealthy(clientUrl: string): Promise<boolean> {
  const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
  const body = (await res.json()) as { health?: string };
  return res.ok && body.health === 'true';
}
