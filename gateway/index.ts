/** Public API of the gateway package (the data plane). */
export { createGateway, Gateway, type GatewayEvents, type GatewayState } from './gateway.js';
export {
  GATEWAY_DEFAULTS,
  resolveGatewayOptions,
  resolveWorkersOptions,
  WORKERS_DEFAULTS,
  type BundleOptions,
  type GatewayOptions,
  type ResolvedGatewayOptions,
  type WorkerSlot,
  type WorkersOptions,
} from './options.js';
export { BundleRejectedError, GatewayHttpError, GatewayOptionsError, GatewayWorkerExitedError, SnapshotFileError, TopologyTooLargeError } from './errors.js';
export { CATALOG_PATH, SERVICES_PATH, TOPOLOGY_PATH } from './discovery.js';
export { DISPATCH_HEADER } from './proxy.js';
export type { RequestInfo } from './router.js';
export { RegistrationRefusedError, type PresenceEvents, type RegistrationState } from './registration.js';
export { GatewayMetrics, METRICS_PATH, PROXY_DURATION_BUCKETS, type RouteKind, type UpstreamErrorReason } from './metrics.js';
export { BUNDLE_DEFAULTS, BundleSource, type BundleSourceEvents, type BundleTrustedKey, type LoadedBundle } from './bundle.js';
export { GatewayWorkers, type GatewayWorkersEvents } from './workers.js';
export { WORKER_ENV } from './worker-messages.js';
