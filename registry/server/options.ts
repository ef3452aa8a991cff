import type { TokenSource } from '../auth/tokens.js';
import type { AuditOptions } from '../apply/audit.js';
import type { ManifestLimits } from '../manifest/schema.js';
import type { EnvironmentMonitorOptions } from '../monitor/monitor.js';
import type { EtcdConnection, EtcdOptions } from '../../store/etcd.js';

/** Everything a registry needs. Every default is in REGISTRY_DEFAULTS. */
export interface RegistryOptions {
  /** How to reach etcd, or a connection to borrow (the registry then leaves it open on close). */
  etcd: EtcdOptions | EtcdConnection;
  /** Where the admin tokens' hashes come from. */
  tokens: TokenSource;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Root of every etcd key. Default `/waymark/v1`. */
  prefix?: string;
  /** PEM files: when given, the admin API is served over HTTPS. */
  tls?: { certFile: string; keyFile: string };
  /** Largest request body. Default 32 MiB (10 000 services are about 3 MiB of YAML). */
  maxBodyBytes?: number;
  /** Limits on the manifests of one apply (see MANIFEST_DEFAULTS). */
  limits?: ManifestLimits;
  /** TTL of the registry's lease, which marks its multi-transaction applies as live. Default 10 s. */
  leaseTtlSeconds?: number;
  /** etcd's `--max-txn-ops` and request size budget, when they differ from a stock etcd. */
  maxTxnOps?: number;
  maxTxnBytes?: number;
  /** Bounds of the audit trail: records kept per environment, stored diff size (see AUDIT_DEFAULTS). */
  audit?: AuditOptions;
  /** How dashboards and `waymark watch` see environments (polling, scraping gateways' /metrics). */
  monitor?: EnvironmentMonitorOptions;
  /**
   * Directory of the private signing keys (`<dir>/<env>.json`, mode 0600). Without it the
   * registry cannot create keys, nor apply to an environment that is signed. No default.
   */
  keysDir?: string;
  /** A watched environment stops being watched this long after its last viewer left, ms. Default 30000. */
  monitorIdleCloseMs?: number;
  /**
   * Environments watched at once at most (each is an etcd watch, a status poll and gateway
   * scrapes). Past it the longest-idle monitor closes early; when none is idle, views and event
   * streams of another environment answer 503 TOO_MANY_MONITORS. Default 64 (`--max-monitors`).
   */
  maxMonitors?: number;
}

export const REGISTRY_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  maxBodyBytes: 32 * 1024 * 1024,
  leaseTtlSeconds: 10,
  monitorIdleCloseMs: 30_000,
  maxMonitors: 64,
} as const;
