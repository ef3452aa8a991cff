/** Public API of the registry package: the topology store (shared with the gateway). */
export { connectEtcd, ETCD_DEFAULTS, type EtcdConnection, type EtcdOptions } from './store/etcd.js';
export { ConflictError, EtcdAuthError, EtcdTimeoutError, EtcdUnavailableError, translateEtcdError } from './store/errors.js';
export { DEFAULT_KEY_PREFIX, KeyLayout, type ParsedKey } from './store/keys.js';
export { assertName, InvalidNameError, isValidName } from './store/names.js';
export { readEnvironment, topologyRange, type EnvironmentRead, type PendingApply } from './store/reader.js';
export { TopologyRecords, type InvalidRecord } from './store/records.js';
export { gatewayKey, TopologySnapshot, type DocumentOptions } from './store/snapshot.js';
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
