import { InvalidArgumentError, type Command } from 'commander';
import type { Level } from 'pino';
import { WaymarkError } from '../../topology/index.js';
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createGateway, GatewayOptionsError, GatewayWorkers, WORKER_ENV, type BundleTrustedKey, type GatewayOptions, type WorkerSlot } from '../../gateway/index.js';
import { ETCD_DEFAULTS, TOPOLOGY_WATCHER_DEFAULTS } from '../../store/index.js';
import { createLogger } from '../../telemetry/index.js';
import { etcdOptionsFrom, withEtcdCredentials, type EtcdCredentialFlags } from '../etcd-credentials.js';
import { LOG_LEVEL_HELP, parseLogLevel } from '../log-level.js';
import { LOG_SAMPLE_HELP, parseLogSample, requestLogger } from '../request-log.js';

interface GatewayCliOptions extends EtcdCredentialFlags {
  etcd?: string[];
  bundle?: string;
  trustedKeys?: string;
  etcdTimeout: number;
  prefix?: string;
  environment: string;
  region: string;
  id: string;
  listen: { host: string; port: number };
  publicUrl?: string;
  snapshot?: string;
  dispatch?: boolean;
  leaseTtl?: number;
  maxLongPolls?: number;
  maxLongPollsPerClient?: number;
  clientAddressHeader?: string;
  logLevel: Level;
  logSample: number;
  quiet?: boolean;
  workers: number;
}

/** `waymark gateway …`: runs a regional gateway until SIGTERM or SIGINT. */
export function registerGateway(program: Command): void {
  withEtcdCredentials(program.command('gateway'))
    .description('run a regional gateway: /.well-known/topology from etcd (or a signed bundle), registration under a lease, the regional proxy')
    .option('--etcd <urls>', 'etcd client URLs, comma-separated (or --bundle)', parseUrls)
    .option('--bundle <file>', 'serve and proxy from this signed bundle (waymark export) without etcd; reloaded when the file is replaced')
    .option('--trusted-keys <file>', 'with --bundle: the public keys to verify it with (the JSON of `waymark keys list -o json`)')
    .requiredOption('--environment <env>', 'environment to serve')
    .requiredOption('--region <region>', 'region this gateway runs in')
    .requiredOption('--id <id>', "this gateway's id, unique in its region")
    .option('--listen <host:port>', 'address to listen on', parseListen, { host: '127.0.0.1', port: 8081 })
    .option('--public-url <url>', 'base URL clients use to reach this gateway (default http://<listen>)')
    .option('--snapshot <file>', 'keep the last topology in this file; start from it while etcd is unreachable')
    .option('--dispatch', 'forward requests for non-pinned services served elsewhere instead of answering 421')
    .option('--lease-ttl <seconds>', 'TTL of the registration lease', parsePositiveInt, 10)
    .option('--max-long-polls <n>', 'long-polls held at once; past this, 503 with a jittered Retry-After (default 10000)', parsePositiveInt)
    .option('--max-long-polls-per-client <n>', 'long-polls held at once per client address; past this, 429 with a jittered Retry-After (default 4)', parsePositiveInt)
    .option(
      '--client-address-header <header>',
      "take the client address from this header set by a trusted proxy in front (e.g. x-forwarded-for, last entry); only when every request comes through it (default: the connection's peer)",
    )
    .option('--prefix <prefix>', 'root of the etcd keys (default /waymark/v1)')
    .option('--etcd-timeout <ms>', `deadline of each etcd call; etcd counts as lost (topology stale) when a liveness probe takes over ${TOPOLOGY_WATCHER_DEFAULTS.probeTimeoutMs} ms or this, whichever is less`, parsePositiveInt, ETCD_DEFAULTS.callTimeoutMs)
    .option('--log-level <level>', LOG_LEVEL_HELP, parseLogLevel, 'info')
    .option('--log-sample <fraction>', LOG_SAMPLE_HELP, parseLogSample, 1)
    .option('--quiet', 'do not log a line per request (the request path then does no logging work at all)')
    .option(
      '--workers <n|auto>',
      'worker processes sharing the port (auto: one per available core); the primary holds the registration, aggregates /metrics and drains them on SIGTERM; gateway-wide limits are divided among workers',
      parseWorkers,
      1,
    )
    .action(async (opts: GatewayCliOptions) => {
      await runGateway(opts);
    });
}

async function runGateway(opts: GatewayCliOptions): Promise<void> {
  const usage = (message: string): never => {
    process.stderr.write(`waymark gateway: ${message}\n`);
    process.exit(2);
  };
  if ((opts.etcd === undefined) === (opts.bundle === undefined)) usage('give --etcd URLS, or --bundle FILE with --trusted-keys FILE (not both)');
  if (opts.bundle !== undefined && opts.trustedKeys === undefined) usage('--bundle needs --trusted-keys FILE (the JSON of `waymark keys list -o json`)');
  let source: Pick<GatewayOptions, 'etcd' | 'bundle'>;
  try {
    source = opts.bundle !== undefined
      ? { bundle: { file: opts.bundle, trustedKeys: readTrustedKeys(opts.trustedKeys!, usage) } }
      : { etcd: { ...etcdOptionsFrom(opts.etcd ?? [], opts), callTimeoutMs: opts.etcdTimeout } };
  } catch (err) {
    return usage((err as Error).message);
  }
  const options: GatewayOptions = {
    ...source,
    environment: opts.environment,
    region: opts.region,
    id: opts.id,
    host: opts.listen.host,
    port: opts.listen.port,
    dispatch: opts.dispatch ?? false,
    leaseTtlSeconds: opts.leaseTtl ?? 10,
    ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
    ...(opts.snapshot ? { snapshotFile: opts.snapshot } : {}),
    ...(opts.prefix ? { prefix: opts.prefix } : {}),
    ...(opts.maxLongPolls !== undefined ? { maxLongPolls: opts.maxLongPolls } : {}),
    ...(opts.maxLongPollsPerClient !== undefined ? { maxLongPollsPerClient: opts.maxLongPollsPerClient } : {}),
    ...(opts.clientAddressHeader !== undefined ? { clientAddressHeader: opts.clientAddressHeader } : {}),
  };
  const slot = workerSlot();
  if (slot) await serve(opts, { ...options, worker: slot });
  else if (opts.workers > 1) await supervise(opts, options);
  else await serve(opts, options);
}

/** This process's slot when the primary of `--workers N` forked it. */
function workerSlot(): WorkerSlot | undefined {
  if (!cluster.isWorker) return undefined;
  const index = Number(process.env[WORKER_ENV.index]);
  const count = Number(process.env[WORKER_ENV.count]);
  return Number.isInteger(index) && Number.isInteger(count) ? { index, count } : undefined;
}

/** The primary of `--workers N`: forks the workers and holds the registration until SIGTERM or SIGINT. */
async function supervise(opts: GatewayCliOptions, options: GatewayOptions): Promise<void> {
  // The workers write to the same stderr.
  const logger = createLogger({ name: 'gateway', level: opts.logLevel, shared: true, base: { environment: opts.environment, region: opts.region, gateway: opts.id, worker: 'primary' } });
  const log: LogLine = (level, event, fields = {}, message = event) => logger[level]({ event, ...fields }, message);
  let workers: GatewayWorkers;
  try {
    workers = new GatewayWorkers(options, { count: opts.workers });
  } catch (err) {
    if (err instanceof GatewayOptionsError) {
      log('error', 'error', { code: err.code }, err.message);
      process.exit(2);
    }
    throw err;
  }
  workers.on('listening', (url) => log('info', 'listening', { url, workers: opts.workers }, `listening on ${url} with ${opts.workers} workers`));
  workers.on('workerStarted', (index, pid) => log('info', 'workerStarted', { index, pid }, `worker ${index} started (pid ${pid})`));
  workers.on('workerExited', (err, restartInMs) => log('error', 'workerExited', { code: err.code, index: err.index, pid: err.pid, restartInMs }, `${err.message} in ${restartInMs} ms`));
  workers.on('registered', (lease) => log('info', 'registered', { lease }));
  workers.on('registrationFailed', (err) => log('error', 'registrationFailed', { code: err instanceof WaymarkError ? err.code : undefined }, err.message));
  workers.on('registering', (err) => log('warn', 'registering', {}, `lease lost (${err.message}): registering again`));
  workers.on('keepaliveFailed', (err) => log('warn', 'keepaliveFailed', {}, err.message));
  workers.on('warning', (err) => log('warn', 'warning', {}, err.message));
  // Workers exit as soon as their IPC channel closes, so a second signal can exit at once.
  const signals = drainOnSignals(log, 'deregistering, then draining the workers', () => workers.close());
  try {
    await workers.start();
  } catch (err) {
    if (signals.received > 0) return; // stopped while starting: the signal handler exits
    const e = err as NodeJS.ErrnoException;
    log('error', 'error', { code: err instanceof WaymarkError ? err.code : e.code }, `${e.message}: see the worker's log above`);
    process.exit(1);
  }
}

/** The keys of a `waymark keys list -o json` file (or a plain array of JWKs). */
function readTrustedKeys(file: string, usage: (message: string) => never): BundleTrustedKey[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return usage(`--trusted-keys ${file}: ${(err as Error).message}`);
  }
  const keys = Array.isArray(data) ? data : (data as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) return usage(`--trusted-keys ${file}: expected the JSON of \`waymark keys list -o json\` or an array of JWKs`);
  return keys.map((k: BundleTrustedKey) => ({ kty: k.kty, crv: k.crv, x: k.x, ...(k.kid !== undefined ? { kid: k.kid } : {}) }));
}

async function serve(opts: GatewayCliOptions, options: GatewayOptions): Promise<void> {
  const worker = options.worker;
  const logger = createLogger({
    name: 'gateway',
    level: opts.logLevel,
    // A worker shares its stderr with the primary and the other workers.
    shared: worker !== undefined,
    base: { environment: opts.environment, region: opts.region, gateway: opts.id, ...(worker ? { worker: String(worker.index) } : {}) },
  });
  const log: LogLine = (level, event, fields = {}, message = event) => logger[level]({ event, ...fields }, message);
  let gateway;
  try {
    gateway = createGateway(options);
  } catch (err) {
    if (err instanceof GatewayOptionsError) {
      log('error', 'error', { code: err.code }, err.message);
      process.exit(2);
    }
    throw err;
  }
  gateway.on('listening', (url) => log('info', 'listening', { url }, `listening on ${url}`));
  gateway.on('registered', (lease) => log('info', 'registered', { lease }));
  gateway.on('registrationFailed', (err) => log('error', 'registrationFailed', { code: err instanceof WaymarkError ? err.code : undefined }, err.message));
  gateway.on('registering', (err) => log('warn', 'registering', {}, `lease lost (${err.message}): registering again`));
  gateway.on('keepaliveFailed', (err) => log('warn', 'keepaliveFailed', {}, err.message));
  gateway.on('resync', (reason) => log('info', 'resync', { reason }, `re-reading the environment: ${reason}`));
  gateway.on('stale', (since, err) => log('warn', 'stale', { since: since.toISOString() }, `etcd unreachable (${err.message}): serving the last topology`));
  gateway.on('fresh', (revision) => log('info', 'fresh', { revision }, `etcd answers again at revision ${revision}`));
  gateway.on('warning', (err) => log('warn', 'warning', {}, err.message));
  const requestLine = opts.quiet ? undefined : requestLogger(logger, opts.logSample);
  if (requestLine) gateway.on('request', requestLine);

  if (worker) {
    // The primary deregisters before it tells workers to drain: a signal to the whole process
    // group (Ctrl-C, systemd's stop) must not make a worker stop accepting while still registered.
    const ignore = (signal: NodeJS.Signals) => log('info', 'signal', { signal }, `${signal}: the primary drains the workers`);
    process.on('SIGTERM', ignore);
    process.on('SIGINT', ignore);
    gateway.on('closed', () => {
      log('info', 'exit', {}, 'drained; exiting');
      process.exit(0);
    });
  } else {
    drainOnSignals(log, 'draining', () => gateway.close());
  }

  try {
    await gateway.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    log('error', 'error', { code: err instanceof WaymarkError ? err.code : e.code }, e.message);
    process.exit(1);
  }
}

type LogLine = (level: 'info' | 'warn' | 'error', event: string, fields?: Record<string, unknown>, message?: string) => void;

/**
 * On SIGTERM or SIGINT: `close` (drain), then exit 0, or 1 if it failed; a second signal exits 1
 * at once, without draining. `received` counts the signals so far.
 */
function drainOnSignals(log: LogLine, what: string, close: () => Promise<void>): { received: number } {
  const signals = { received: 0 };
  const stop = (signal: NodeJS.Signals) => {
    signals.received++;
    if (signals.received > 1) {
      log('warn', 'exit', { signal }, 'second signal: exiting without draining');
      process.exit(1);
    }
    log('info', 'draining', { signal }, `${signal}: ${what}`);
    close().then(
      () => {
        log('info', 'exit', { signal }, 'drained; exiting');
        process.exit(0);
      },
      (err: Error) => {
        log('error', 'error', {}, err.message);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return signals;
}

function parseUrls(value: string): string[] {
  const urls = value.split(',').map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) throw new InvalidArgumentError('give at least one etcd URL, such as http://127.0.0.1:2379');
  for (const u of urls) {
    if (!/^https?:\/\/[^/]+/.test(u)) throw new InvalidArgumentError(`${JSON.stringify(u)} is not an http(s) URL such as http://127.0.0.1:2379`);
  }
  return urls;
}

export function parseListen(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':');
  const host = i > 0 ? value.slice(0, i).replace(/^\[(.*)\]$/, '$1') : '';
  const port = Number(value.slice(i + 1));
  if (i <= 0 || !host || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not HOST:PORT, such as 0.0.0.0:8081 or [::1]:8081`);
  }
  return { host, port };
}

function parseWorkers(value: string): number {
  if (value === 'auto') return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a positive whole number or auto`);
  return n;
}

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a positive whole number`);
  return n;
}
