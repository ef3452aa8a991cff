/** Public API of the registry package: the topology store (shared with the gateway). */
export { connectEtcd, ETCD_DEFAULTS, type EtcdConnection, type EtcdOptions } from './store/etcd.js';
export { ConflictError, EtcdAuthError, EtcdTimeoutError, EtcdUnavailableError, translateEtcdError } from './store/errors.js';
export { DEFAULT_KEY_PREFIX, KeyLayout, type ParsedKey } from './store/keys.js';
export { assertName, InvalidNameError, isValidName } from './store/names.js';
export { readEnvironment, topologyRange, type EnvironmentRead, type PendingApply } from './store/reader.js';
export { TopologyRecords, type InvalidRecord } from './store/records.js';
export { gatewayKey, TopologySnapshot, type DocumentOptions, type ServiceEntries } from './store/snapshot.js';
export {
  TOPOLOGY_WATCHER_DEFAULTS,
  TopologyWatcher,
  type TopologyWatcherEvents,
  type TopologyWatcherOptions,
} from './store/watch.js';
export {
  commitChanges,
  recoverPendingApply,
  WRITER_DEFAULTS,
  type CommitOptions,
  type CommitResult,
  type Mutation,
  type RecoveryOutcome,
} from './store/writer.js';
export { LEASED_KEYS_DEFAULTS, LeasedKeys, type LeasedKeysEvents, type LeasedKeysOptions, type LeaseState } from './store/lease.js';

/** The registry (control plane): manifests, apply/diff/prune, promotion, status, admin API, tokens. */
export { createRegistry, Registry, type RegistryEvents } from './registry.js';
export { REGISTRY_DEFAULTS, type RegistryOptions } from './server/options.js';
export type { RequestRecord } from './server/app.js';
export { SOURCE_FILE_HEADER } from './server/routes.js';
export {
  BadRequestError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from './errors.js';
export { ValidationError } from './manifest/errors.js';
export { loadManifests, type LoadedManifests } from './manifest/load.js';
export { type ManifestSource, type ParsedInput } from './manifest/parse.js';
export { substitute } from './manifest/render.js';
export { API_VERSION, MANIFEST_DEFAULTS, type Manifest, type ManifestLimits } from './manifest/schema.js';
export { applyManifests, prepareApply, type ApplyRequest, type OperationContext, type PreparedApply } from './apply/apply.js';
export { promote, type PromoteRequest } from './apply/promote.js';
export { environmentStatus } from './apply/status.js';
export { internalTopology, listEnvironments } from './apply/environments.js';
export { SOURCE_CHUNK_CHARS } from './apply/source.js';
export {
  addToken,
  authorize,
  generateToken,
  hashToken,
  InvalidTokensError,
  ROLES,
  TokenStore,
  type Principal,
  type Role,
  type TokenEntry,
  type TokenSource,
} from './auth/tokens.js';

/** Telemetry shared by the registry and the gateway: hot-path metrics, exposition parsing, logs, trace context. */
export { HotCounter, HotCounterFamily, HotHistogram, HotHistogramFamily } from './telemetry/hot-metrics.js';
export { ExpositionParseError, parseExposition, sumSamples, type MetricSample } from './telemetry/exposition.js';
export { createLogger, LOG_LEVELS, LOGGER_DEFAULTS, REDACTED_PATHS, type LoggerOptions } from './telemetry/logger.js';
export { newTraceparent, traceContext, validRequestId, validTraceparent } from './telemetry/trace-context.js';

/** Operator visibility: the environment monitors behind the dashboard and `waymark watch`, and the registry's metrics. */
export { ENVIRONMENT_MONITOR_DEFAULTS, EnvironmentMonitor, type EnvironmentMonitorEvents, type EnvironmentMonitorOptions } from './monitor/monitor.js';
export { diffSnapshots } from './monitor/changes.js';
export { commitHistory } from './monitor/history.js';
export { RegistryMetrics, type ApplyOutcome } from './server/metrics.js';
