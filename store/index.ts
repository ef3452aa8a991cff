/** The etcd topology store: connection, key layout, reads, atomic writes, watches and leases. Used by the registry and the gateway. */
export { connectEtcd, ETCD_DEFAULTS, type EtcdConnection, type EtcdOptions } from './etcd.js';
export { ConflictError, EtcdAuthError, EtcdPermissionError, EtcdTimeoutError, EtcdUnavailableError, translateEtcdError } from './errors.js';
export { DEFAULT_KEY_PREFIX, KeyLayout, type ParsedKey } from './keys.js';
export { readEnvironment, readReportedRevisions, topologyRange, type EnvironmentRead, type PendingApply, type ReadOptions } from './reader.js';
export { environmentRevision, reportedRevisions, type KeyRevision } from './revision.js';
export { TopologyRecords, type InvalidRecord } from './records.js';
export { gatewayKey, TopologySnapshot } from './snapshot.js';
export {
  TOPOLOGY_WATCHER_DEFAULTS,
  TopologyWatcher,
  type TopologyWatcherEvents,
  type TopologyWatcherOptions,
} from './watch.js';
export {
  commitChanges,
  recoverPendingApply,
  WRITER_DEFAULTS,
  type CommitOptions,
  type CommitResult,
  type Mutation,
  type RecoveryOutcome,
} from './writer.js';
export { cancelWatcher, WATCH_CANCEL_TIMEOUT_MS } from './watch-cancel.js';
export { LEASED_KEYS_DEFAULTS, LeasedKeys, type LeasedKeysEvents, type LeasedKeysOptions, type LeaseState } from './lease.js';
export {
  deploymentRoles,
  describeRange,
  ensureRoles,
  gatewayRoleName,
  LegacyVariablesError,
  readDeploymentScope,
  ROLE_NAMES,
  type DeploymentScope,
  type EnsureRolesOptions,
  type EtcdAccess,
  type RoleAction,
  type RoleGrant,
  type RoleSpec,
} from './roles.js';
