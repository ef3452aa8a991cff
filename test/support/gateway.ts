import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGateway, type Gateway, type GatewayOptions } from '../../gateway/index.js';
import type { RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import { commitChanges, type EtcdConnection, type KeyLayout, type Mutation } from '../../store/index.js';
import { registerServer } from './contract-servers.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

/** Options of a test gateway: `etcd` may be plain endpoints; listens on 127.0.0.1, port 0. */
export type TestGatewayOptions = Omit<GatewayOptions, 'etcd'> & { etcd?: string[] | GatewayOptions['etcd'] };

export interface StartedGateway {
  url: string;
  gateway: Gateway;
  close(): Promise<void>;
}

/**
 * Starts a gateway in this process and waits until it has read etcd and registered (unless
 * `ready: false`, for tests where etcd is down). Short lease and quick etcd retries by default.
 */
export async function startGateway(
  options: TestGatewayOptions,
  { ready = true, beforeListen }: { ready?: boolean; beforeListen?: (gateway: Gateway) => void } = {},
): Promise<StartedGateway> {
  const { etcd, ...rest } = options;
  const gateway = createGateway({
    leaseTtlSeconds: 2,
    drainTimeoutMs: 2000,
    watcher: { probeIntervalMs: 200, maxRetryDelayMs: 500 },
    lease: { retryDelayMs: 100, maxRetryDelayMs: 500 },
    ...rest,
    // A bundle gateway (option `bundle`) has no etcd at all.
    ...(etcd === undefined ? {} : { etcd: Array.isArray(etcd) ? { endpoints: etcd, callTimeoutMs: 1000 } : etcd }),
  });
  let unregister: () => void = () => undefined;
  const close = async () => {
    await gateway.close();
    unregister();
  };
  beforeListen?.(gateway);
  try {
    const url = await gateway.listen();
    // Its answers are checked against the contract (test/support/contract-hooks.ts).
    unregister = registerServer(url, 'gateway');
    if (ready) await gateway.ready(AbortSignal.timeout(15_000));
    return { url, gateway, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface SpawnGatewayOptions {
  /** etcd's endpoints, or `bundle` for a gateway without etcd. */
  etcd?: string[];
  /** `--bundle FILE --trusted-keys FILE`. */
  bundle?: { file: string; trustedKeysFile: string };
  environment: string;
  region: string;
  id: string;
  /** Default: a free port. */
  port?: number;
  publicUrl?: string;
  snapshot?: string;
  dispatch?: boolean;
  leaseTtlSeconds?: number;
  prefix?: string;
  extraArgs?: string[];
  /** Run the CLI from source (tsx, the default) or as users run it, built (`dist/cli/waymark.js`, after `npm run build`). */
  build?: 'source' | 'dist';
  /** Append stderr (the log) to this file instead of piping it to this process (benchmarks: the reader costs no CPU here). */
  logFile?: string;
  /** How long the process may take to answer /healthz, ms. Default 20 000 (a benchmark starting dozens at once needs more). */
  startTimeoutMs?: number;
}

export interface SpawnedGateway {
  url: string;
  pid: number;
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The process's stderr so far (JSON log lines). */
  output(): string;
}

/**
 * The gateway process's log once every line written before this call is out: its log is batched
 * (telemetry/line-buffer.ts), so this sends a request of its own and waits for that request's line.
 */
export async function loggedOutput(gateway: SpawnedGateway): Promise<string> {
  const marker = `/log-marker-${randomUUID()}`;
  await fetch(`${gateway.url}${marker}`, { signal: AbortSignal.timeout(5000) }).then((res) => res.arrayBuffer());
  await waitFor(() => gateway.output().includes(marker), { what: "the gateway's log to be written out" });
  return gateway.output();
}

/** The built CLI, as `npm run build` leaves it (relative to the repository root, the tests' working directory). */
const DIST_CLI = 'dist/cli/waymark.js';

/** Runs `waymark gateway` from source as a child process; resolves once /healthz answers. */
export async function spawnGateway(options: SpawnGatewayOptions): Promise<SpawnedGateway> {
  const port = options.port ?? (await freePort());
  const url = options.publicUrl ?? `http://127.0.0.1:${port}`;
  const args = [
    ...(options.build === 'dist' ? [DIST_CLI] : ['--import', 'tsx', 'cli/waymark.ts']),
    'gateway',
    ...(options.etcd ? ['--etcd', options.etcd.join(',')] : []),
    ...(options.bundle ? ['--bundle', options.bundle.file, '--trusted-keys', options.bundle.trustedKeysFile] : []),
    '--environment',
    options.environment,
    '--region',
    options.region,
    '--id',
    options.id,
    '--listen',
    `127.0.0.1:${port}`,
    '--public-url',
    url,
    '--lease-ttl',
    String(options.leaseTtlSeconds ?? 2),
    ...(options.snapshot ? ['--snapshot', options.snapshot] : []),
    ...(options.dispatch ? ['--dispatch'] : []),
    ...(options.prefix ? ['--prefix', options.prefix] : []),
    ...(options.extraArgs ?? []),
  ];
  if (options.build === 'dist' && !existsSync(DIST_CLI)) throw new Error(`${DIST_CLI} is missing: run \`npm run build\` first`);
  const logFd = options.logFile ? openSync(options.logFile, 'a') : undefined;
  const child = spawn(process.execPath, args, { cwd: process.cwd(), stdio: ['ignore', 'ignore', logFd ?? 'pipe'] });
  if (logFd !== undefined) closeSync(logFd);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const unregister = registerServer(`http://127.0.0.1:${port}`, 'gateway');
  void exited.then((e) => {
    exit = e;
    unregister();
  });
  try {
    await waitFor(async () => exit !== undefined || (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).ok, {
      timeoutMs: options.startTimeoutMs ?? 20_000,
      intervalMs: 50,
      what: `gateway ${options.id} to answer /healthz`,
    });
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  if (exit) throw new Error(`the gateway exited (code ${exit.code}, signal ${exit.signal}): ${stderr}`);
  return {
    url,
    pid: child.pid!,
    kill: (signal = 'SIGTERM') => {
      if (!exit) child.kill(signal);
    },
    exited,
    output: () => (options.logFile ? tail(options.logFile, 20_000) : stderr),
  };
}

/** The last `chars` of a text file. */
function tail(file: string, chars: number): string {
  return readFileSync(file, 'utf8').slice(-chars);
}

/** A request a test backend received. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface TestBackend {
  url: string;
  name: string;
  received: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * An HTTP backend on loopback that answers every request with JSON naming itself and echoing
 * the request. `/stream` answers in chunks (`?chunks=N&delayMs=M`); `/slow?ms=N` waits first;
 * `?acao=<origin>` adds its own Access-Control-Allow-Origin.
 */
export async function startBackend(name: string): Promise<TestBackend> {
  const received: ReceivedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const url = new URL(req.url ?? '/', 'http://backend');
      if (url.pathname.endsWith('/stream')) {
        const n = Number(url.searchParams.get('chunks') ?? 3);
        const delay = Number(url.searchParams.get('delayMs') ?? 50);
        res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
        let i = 0;
        const tick = () => {
          if (i === n) return res.end();
          res.write(`chunk ${i++}\n`);
          setTimeout(tick, delay);
        };
        return tick();
      }
      const reply = () => {
        const out = JSON.stringify({ backend: name, method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(200, {
          'content-type': 'application/json',
          'x-backend': name,
          connection: 'keep-alive, x-hop',
          'x-hop': 'must not pass',
          'keep-alive': 'timeout=5',
          // `?acao=<origin>`: the backend answers CORS itself (a gateway that owns the service's CORS drops it).
          ...(url.searchParams.has('acao') ? { 'access-control-allow-origin': url.searchParams.get('acao')! } : {}),
        });
        res.end(out);
      };
      if (url.pathname.endsWith('/slow')) setTimeout(reply, Number(url.searchParams.get('ms') ?? 1000));
      else reply();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    name,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Records to write to an environment (regions and services to put, services to delete). */
export interface TopologyChange {
  regions?: RegionDefinition[];
  services?: ServiceDefinition[];
  deleteServices?: string[];
}

/** Writes records the way an apply does (commitChanges, guarded by the commit revision); returns the revision. */
export async function writeTopology(conn: EtcdConnection, layout: KeyLayout, env: string, change: TopologyChange): Promise<number> {
  const commitKv = (await conn.client.get(layout.commit(env)).exec()).kvs[0];
  const mutations: Mutation[] = [
    ...(change.regions ?? []).map((r): Mutation => ({ type: 'put', key: layout.region(env, r.name), value: JSON.stringify(r) })),
    ...(change.services ?? []).map((s): Mutation => ({ type: 'put', key: layout.service(env, s.name), value: JSON.stringify(s) })),
    ...(change.deleteServices ?? []).map((name): Mutation => ({ type: 'delete', key: layout.service(env, name) })),
  ];
  const res = await commitChanges(conn, layout, env, mutations, {
    expectedCommitRevision: commitKv ? Number(commitKv.mod_revision) : 0,
    commit: { id: `test-${Date.now()}`, at: new Date().toISOString(), summary: { created: 0, updated: 0, deleted: 0, unchanged: 0 } },
  });
  return res.revision;
}

/** Servers a test starts, each stopped after the test (the last started first). */
export interface TestScene {
  backend(name: string): Promise<TestBackend>;
  /** A gateway in this process on the suite's etcd (see startGateway). */
  gateway(env: string, region: string, id: string, extra?: Partial<GatewayOptions>): Promise<StartedGateway>;
  /** Anything else the test started, stopped with the rest. */
  defer(stop: () => Promise<void>): void;
}

/** Per-test servers of a suite on the etcd of `useEtcd()`; registers its own `afterEach`. */
export function useScene(ctx: { readonly etcd: { readonly endpoints: string[] } }): TestScene {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (stops.length > 0) await stops.pop()!();
  });
  return {
    async backend(name) {
      const b = await startBackend(name);
      stops.push(() => b.close());
      return b;
    },
    async gateway(env, region, id, extra = {}) {
      const g = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region, id, ...extra });
      stops.push(() => g.close());
      return g;
    },
    defer(stop) {
      stops.push(stop);
    },
  };
}
