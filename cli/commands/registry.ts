import type { Command } from 'commander';
import type { Level } from 'pino';
import { DEFAULT_KEY_PREFIX, type EtcdOptions } from '../../store/index.js';
import { createLogger } from '../../telemetry/index.js';
import { createRegistry, REGISTRY_DEFAULTS, TokenStore, type TokenSource } from '../../registry/index.js';
import { LOG_LEVEL_HELP, parseLogLevel } from '../log-level.js';
import { handled, UsageError } from '../output.js';

interface RegistryFlags {
  etcd?: string;
  listen?: string;
  tokens?: string;
  prefix: string;
  tlsCert?: string;
  tlsKey?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPassword?: string;
  maxBodyBytes?: string;
  leaseTtl?: string;
  maxMonitors?: string;
  quiet?: boolean;
  logLevel: Level;
}

const DEFAULT_ETCD = 'http://127.0.0.1:2379';

/** `waymark registry`: runs the control plane's admin API until SIGINT/SIGTERM. */
export function registerRegistry(program: Command): void {
  program
    .command('registry')
    .description('run the registry: the admin API that applies manifests to etcd')
    .option('--etcd <urls>', `etcd client URLs, comma-separated (env WAYMARK_ETCD; default ${DEFAULT_ETCD})`)
    .option('--listen <host:port>', `address of the admin API (default ${REGISTRY_DEFAULTS.host}:${REGISTRY_DEFAULTS.port})`)
    .option('--tokens <file>', 'tokens file made by `waymark token create` (env WAYMARK_TOKENS_FILE, or JSON in WAYMARK_TOKENS)')
    .option('--prefix <prefix>', 'root of the etcd keys', DEFAULT_KEY_PREFIX)
    .option('--tls-cert <file>', 'PEM certificate: serve the admin API over HTTPS (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--etcd-ca <file>', 'PEM CA of etcd: connect to etcd over TLS')
    .option('--etcd-cert <file>', 'PEM client certificate for etcd')
    .option('--etcd-key <file>', 'PEM client key for etcd')
    .option('--etcd-user <user>', 'etcd user')
    .option('--etcd-password <password>', 'etcd password (env WAYMARK_ETCD_PASSWORD, preferred)')
    .option('--max-body-bytes <n>', `largest apply body (default ${REGISTRY_DEFAULTS.maxBodyBytes})`)
    .option('--lease-ttl <seconds>', `TTL of the registry's lease: how soon another registry may roll back an apply this one abandoned (default ${REGISTRY_DEFAULTS.leaseTtlSeconds})`)
    .option('--max-monitors <n>', `environments watched at once for dashboards and waymark watch (default ${REGISTRY_DEFAULTS.maxMonitors})`)
    .option('--quiet', 'do not log requests')
    .option('--log-level <level>', LOG_LEVEL_HELP, parseLogLevel, 'info')
    .action(
      handled(async (flags: RegistryFlags) => {
        const { host, port } = parseListen(flags.listen);
        if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey)) throw new UsageError('--tls-cert and --tls-key go together');
        const maxBodyBytes = flags.maxBodyBytes === undefined ? undefined : Number(flags.maxBodyBytes);
        if (maxBodyBytes !== undefined && !(Number.isInteger(maxBodyBytes) && maxBodyBytes > 0)) {
          throw new UsageError(`--max-body-bytes ${flags.maxBodyBytes} is not a positive integer`);
        }
        const leaseTtlSeconds = flags.leaseTtl === undefined ? undefined : Number(flags.leaseTtl);
        if (leaseTtlSeconds !== undefined && !(Number.isInteger(leaseTtlSeconds) && leaseTtlSeconds >= 2)) {
          throw new UsageError(`--lease-ttl ${flags.leaseTtl} is not an integer of at least 2 seconds`);
        }
        const maxMonitors = flags.maxMonitors === undefined ? undefined : Number(flags.maxMonitors);
        if (maxMonitors !== undefined && !(Number.isInteger(maxMonitors) && maxMonitors > 0)) {
          throw new UsageError(`--max-monitors ${flags.maxMonitors} is not a positive integer`);
        }
        const password = flags.etcdPassword ?? process.env.WAYMARK_ETCD_PASSWORD;
        const etcd: EtcdOptions = {
          endpoints: (flags.etcd ?? process.env.WAYMARK_ETCD ?? DEFAULT_ETCD).split(',').map((s) => s.trim()).filter(Boolean),
          ...(flags.etcdCa ? { caFile: flags.etcdCa } : {}),
          ...(flags.etcdCert ? { certFile: flags.etcdCert } : {}),
          ...(flags.etcdKey ? { keyFile: flags.etcdKey } : {}),
          ...(flags.etcdUser ? { username: flags.etcdUser } : {}),
          ...(password ? { password } : {}),
        };
        const tokens: TokenSource | undefined = flags.tokens ? { file: flags.tokens } : TokenStore.sourceFromEnv();
        if (!tokens) throw new UsageError('no tokens: give --tokens FILE (create one with `waymark token create --tokens FILE --role admin`)');
        const registry = createRegistry({
          etcd,
          tokens,
          host,
          port,
          prefix: flags.prefix,
          ...(flags.tlsCert && flags.tlsKey ? { tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey } } : {}),
          ...(maxBodyBytes ? { maxBodyBytes } : {}),
          ...(leaseTtlSeconds ? { leaseTtlSeconds } : {}),
          ...(maxMonitors ? { maxMonitors } : {}),
        });
        const logger = createLogger({ name: 'registry', level: flags.logLevel });
        if (!flags.quiet) {
          registry.on('request', (r) =>
            logger.info(
              {
                event: 'request',
                requestId: r.requestId,
                traceparent: r.traceparent,
                method: r.method,
                path: r.path,
                route: r.route,
                status: r.status,
                durationMs: r.durationMs,
                ...(r.principal ? { principal: r.principal } : {}),
                ...(r.code ? { code: r.code } : {}),
              },
              'request',
            ),
          );
        }
        registry.on('applied', (res, req) =>
          logger.info(
            {
              event: 'applied',
              operation: req.operation,
              environment: res.environment,
              revision: res.revision,
              summary: res.summary,
              ...(req.from ? { from: req.from } : {}),
              ...(req.by ? { by: req.by } : {}),
            },
            `${req.operation} ${res.environment}${req.from ? ` from ${req.from}` : ''} at revision ${res.revision}: ${res.summary.created} created, ${res.summary.updated} updated, ${res.summary.deleted} deleted${req.by ? ` by ${req.by}` : ''}`,
          ),
        );
        registry.on('failure', (err) => logger.error({ event: 'failure', err }, `unexpected error: ${err.message}`));
        registry.on('leaseLost', (err) => logger.warn({ event: 'leaseLost' }, `registry lease lost (${err.message}); granting a new one`));
        registry.on('keepaliveFailed', (err) => logger.warn({ event: 'keepaliveFailed' }, err.message));
        registry.on('warning', (environment, err) => logger.warn({ event: 'warning', environment }, err.message));
        registry.on('resync', (environment, reason) => logger.info({ event: 'resync', environment, reason }, `re-reading ${environment}: ${reason}`));
        let url: string;
        try {
          url = await registry.listen();
        } catch (err) {
          await registry.close();
          throw err;
        }
        logger.info({ event: 'listening', url, etcd: etcd.endpoints, prefix: flags.prefix }, `listening on ${url}`);
        process.stdout.write(`waymark registry listening on ${url} (etcd ${etcd.endpoints.join(',')}, prefix ${flags.prefix}); dashboard at ${url}/, metrics at ${url}/metrics\n`);
        const stop = () => {
          void registry.close().finally(() => process.exit(0));
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      }),
    );
}

/** `host:port`, `:port`, `port` or `[v6]:port`. */
function parseListen(value: string | undefined): { host: string; port: number } {
  if (!value) return { host: REGISTRY_DEFAULTS.host, port: REGISTRY_DEFAULTS.port };
  const m = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d+)$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port < 65536)) throw new UsageError(`--listen ${value}: use host:port, such as 127.0.0.1:8080`);
  return { host: m[1] ?? (m[2] || REGISTRY_DEFAULTS.host), port };
}
