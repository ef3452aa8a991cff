/** Public API of the gateway package (the data plane). */
export { createGateway, Gateway, type GatewayEvents, type GatewayState } from './gateway.js';
export { GATEWAY_DEFAULTS, resolveGatewayOptions, type BundleOptions, type GatewayOptions, type ResolvedGatewayOptions } from './options.js';
export { BundleRejectedError, GatewayHttpError, GatewayOptionsError, SnapshotFileError, TopologyTooLargeError } from './errors.js';
export { CATALOG_PATH, SERVICES_PATH, TOPOLOGY_PATH } from './discovery.js';
export { DISPATCH_HEADER } from './proxy.js';
export type { RequestInfo } from './router.js';
export { RegistrationRefusedError, type RegistrationState } from './registration.js';
export { GatewayMetrics, METRICS_PATH, PROXY_DURATION_BUCKETS, type RouteKind, type UpstreamErrorReason } from './metrics.js';
export { BUNDLE_DEFAULTS, BundleSource, type BundleSourceEvents, type BundleTrustedKey, type LoadedBundle } from './bundle.js';
