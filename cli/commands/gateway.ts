import { InvalidArgumentError, type Command } from 'commander';
import type { Level } from 'pino';
import { WaymarkError } from '../../topology/index.js';
import { createGateway, GatewayOptionsError, type GatewayOptions } from '../../gateway/index.js';
import { type EtcdOptions } from '../../store/index.js';
import { createLogger } from '../../telemetry/index.js';
import { LOG_LEVEL_HELP, parseLogLevel } from '../log-level.js';
import { LOG_SAMPLE_HELP, parseLogSample, requestLogger } from '../request-log.js';

interface GatewayCliOptions {
  etcd: string[];
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPassword?: string;
  prefix?: string;
  environment: string;
  region: string;
  id: string;
  listen: { host: string; port: number };
  publicUrl?: string;
  snapshot?: string;
  dispatch?: boolean;
  leaseTtl?: number;
  logLevel: Level;
  logSample: number;
  quiet?: boolean;
}

/** `waymark gateway …`: runs a regional gateway until SIGTERM or SIGINT. */
export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description('run a regional gateway: /.well-known/topology from etcd, registration under a lease, the regional proxy')
    .requiredOption('--etcd <urls>', 'etcd client URLs, comma-separated', parseUrls)
    .requiredOption('--environment <env>', 'environment to serve')
    .requiredOption('--region <region>', 'region this gateway runs in')
    .requiredOption('--id <id>', "this gateway's id, unique in its region")
    .option('--listen <host:port>', 'address to listen on', parseListen, { host: '127.0.0.1', port: 8081 })
    .option('--public-url <url>', 'base URL clients use to reach this gateway (default http://<listen>)')
    .option('--snapshot <file>', 'keep the last topology in this file; start from it while etcd is unreachable')
    .option('--dispatch', 'forward requests for non-pinned services served elsewhere instead of answering 421')
    .option('--lease-ttl <seconds>', 'TTL of the registration lease', parsePositiveInt, 10)
    .option('--prefix <prefix>', 'root of the etcd keys (default /waymark/v1)')
    .option('--etcd-ca <file>', 'CA certificate (PEM) of etcd; enables TLS')
    .option('--etcd-cert <file>', 'client certificate (PEM) for etcd')
    .option('--etcd-key <file>', 'client key (PEM) for etcd')
    .option('--etcd-user <user>', 'etcd user')
    .option('--etcd-password <password>', 'etcd password (prefer the WAYMARK_ETCD_PASSWORD environment variable)')
    .option('--log-level <level>', LOG_LEVEL_HELP, parseLogLevel, 'info')
    .option('--log-sample <fraction>', LOG_SAMPLE_HELP, parseLogSample, 1)
    .option('--quiet', 'do not log a line per request (the request path then does no logging work at all)')
    .action(async (opts: GatewayCliOptions) => {
      await runGateway(opts);
    });
}

async function runGateway(opts: GatewayCliOptions): Promise<void> {
  const etcd: EtcdOptions = { endpoints: opts.etcd };
  if (opts.etcdCa) etcd.caFile = opts.etcdCa;
  if (opts.etcdCert) etcd.certFile = opts.etcdCert;
  if (opts.etcdKey) etcd.keyFile = opts.etcdKey;
  if (opts.etcdUser) etcd.username = opts.etcdUser;
  const password = opts.etcdPassword ?? process.env.WAYMARK_ETCD_PASSWORD;
  if (password) etcd.password = password;
  const options: GatewayOptions = {
    etcd,
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
  };
  const logger = createLogger({ name: 'gateway', level: opts.logLevel, base: { environment: opts.environment, region: opts.region, gateway: opts.id } });
  const log = (level: 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown> = {}, message = event) => logger[level]({ event, ...fields }, message);
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
  gateway.on('registering', (err) => log('warn', 'registering', {}, `lease lost (${err.message}): registering again`));
  gateway.on('keepaliveFailed', (err) => log('warn', 'keepaliveFailed', {}, err.message));
  gateway.on('resync', (reason) => log('info', 'resync', { reason }, `re-reading the environment: ${reason}`));
  gateway.on('stale', (since, err) => log('warn', 'stale', { since: since.toISOString() }, `etcd unreachable (${err.message}): serving the last topology`));
  gateway.on('fresh', (revision) => log('info', 'fresh', { revision }, `etcd answers again at revision ${revision}`));
  gateway.on('warning', (err) => log('warn', 'warning', {}, err.message));
  const requestLine = opts.quiet ? undefined : requestLogger(logger, opts.logSample);
  if (requestLine) gateway.on('request', requestLine);

  let signals = 0;
  const stop = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log('warn', 'exit', { signal }, 'second signal: exiting without draining');
      process.exit(1);
    }
    log('info', 'draining', { signal }, `${signal}: draining`);
    gateway.close().then(
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

  try {
    await gateway.listen();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    log('error', 'error', { code: err instanceof WaymarkError ? err.code : e.code }, e.message);
    process.exit(1);
  }
}

function parseUrls(value: string): string[] {
  const urls = value.split(',').map((u) => u.trim()).filter(Boolean);
  if (urls.length === 0) throw new InvalidArgumentError('give at least one etcd URL, such as http://127.0.0.1:2379');
  for (const u of urls) {
    if (!/^https?:\/\/[^/]+/.test(u)) throw new InvalidArgumentError(`${JSON.stringify(u)} is not an http(s) URL such as http://127.0.0.1:2379`);
  }
  return urls;
}

function parseListen(value: string): { host: string; port: number } {
  const i = value.lastIndexOf(':');
  const host = i > 0 ? value.slice(0, i).replace(/^\[(.*)\]$/, '$1') : '';
  const port = Number(value.slice(i + 1));
  if (i <= 0 || !host || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not HOST:PORT, such as 0.0.0.0:8081 or [::1]:8081`);
  }
  return { host, port };
}

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a positive whole number`);
  return n;
}
