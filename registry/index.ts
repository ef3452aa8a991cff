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
  TooManyMonitorsError,
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
export { rollback, type RollbackRequest } from './apply/rollback.js';
export { AUDIT_DEFAULTS, auditEntry, listAudit, type AuditOptions } from './apply/audit.js';
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

/** Operator visibility: the environment monitors behind the dashboard and `waymark watch`, and the registry's metrics. */
export { ENVIRONMENT_MONITOR_DEFAULTS, EnvironmentMonitor, type EnvironmentMonitorEvents, type EnvironmentMonitorOptions } from './monitor/monitor.js';
export { diffSnapshots } from './monitor/changes.js';
export { commitHistory } from './monitor/history.js';
export { RegistryMetrics, type ApplyOutcome } from './server/metrics.js';
