import type { Command } from 'commander';
import type { Level } from 'pino';
import { DEFAULT_KEY_PREFIX, type EtcdOptions } from '../../store/index.js';
import { createLogger } from '../../telemetry/index.js';
import { AUDIT_DEFAULTS, createRegistry, REGISTRY_DEFAULTS, TokenStore, type TokenSource } from '../../registry/index.js';
import { etcdOptionsFrom, withEtcdCredentials, type EtcdCredentialFlags } from '../etcd-credentials.js';
import { LOG_LEVEL_HELP, parseLogLevel } from '../log-level.js';
import { handled, UsageError } from '../output.js';

interface RegistryFlags extends EtcdCredentialFlags {
  etcd?: string;
  listen?: string;
  tokens?: string;
  prefix: string;
  tlsCert?: string;
  tlsKey?: string;
  maxBodyBytes?: string;
  leaseTtl?: string;
  auditKeep?: string;
  keysDir?: string;
  maxMonitors?: string;
  quiet?: boolean;
  logLevel: Level;
}

const DEFAULT_ETCD = 'http://127.0.0.1:2379';

/** `waymark registry`: runs the control plane's admin API until SIGINT/SIGTERM. */
export function registerRegistry(program: Command): void {
  withEtcdCredentials(program.command('registry'))
    .description('run the registry: the admin API that applies manifests to etcd')
    .option('--etcd <urls>', `etcd client URLs, comma-separated (env WAYMARK_ETCD; default ${DEFAULT_ETCD})`)
    .option('--listen <host:port>', `address of the admin API (default ${REGISTRY_DEFAULTS.host}:${REGISTRY_DEFAULTS.port})`)
    .option('--tokens <file>', 'tokens file made by `waymark token create` (env WAYMARK_TOKENS_FILE, or JSON in WAYMARK_TOKENS)')
    .option('--prefix <prefix>', 'root of the etcd keys', DEFAULT_KEY_PREFIX)
    .option('--tls-cert <file>', 'PEM certificate: serve the admin API over HTTPS (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--max-body-bytes <n>', `largest apply body (default ${REGISTRY_DEFAULTS.maxBodyBytes})`)
    .option('--lease-ttl <seconds>', `TTL of the registry's lease: how soon another registry may roll back an apply this one abandoned (default ${REGISTRY_DEFAULTS.leaseTtlSeconds})`)
    .option('--audit-keep <n>', `audit records kept per environment (default ${AUDIT_DEFAULTS.keep})`)
    .option('--keys-dir <dir>', 'directory of the private signing keys (created 0700, files 0600; env WAYMARK_KEYS_DIR): needed to sign environments (waymark keys)')
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
        const auditKeep = flags.auditKeep === undefined ? undefined : Number(flags.auditKeep);
        if (auditKeep !== undefined && !(Number.isInteger(auditKeep) && auditKeep >= 1)) {
          throw new UsageError(`--audit-keep ${flags.auditKeep} is not a positive integer`);
        }
        const etcd: EtcdOptions = etcdOptionsFrom(
          (flags.etcd ?? process.env.WAYMARK_ETCD ?? DEFAULT_ETCD).split(',').map((s) => s.trim()).filter(Boolean),
          flags,
        );
        const maxMonitors = flags.maxMonitors === undefined ? undefined : Number(flags.maxMonitors);
        if (maxMonitors !== undefined && !(Number.isInteger(maxMonitors) && maxMonitors > 0)) {
          throw new UsageError(`--max-monitors ${flags.maxMonitors} is not a positive integer`);
        }
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
          ...(auditKeep ? { audit: { keep: auditKeep } } : {}),
          ...((flags.keysDir ?? process.env.WAYMARK_KEYS_DIR) ? { keysDir: flags.keysDir ?? process.env.WAYMARK_KEYS_DIR } : {}),
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
        // The audit trail as a log stream too (for a SIEM): one line per record, as stored.
        registry.on('audited', (environment, record) =>
          logger.info({ event: 'audit', environment, record }, `audit ${environment} #${record.id}: ${record.operation} by ${record.by.name} (${record.by.role}) at revision ${record.revision}`),
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
