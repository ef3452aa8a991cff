/** What `waymark/client` exports on every runtime, besides the runtime's own WaymarkClient. */
export { ClientCore, type StaleEvent, type WaymarkClientEvents } from './client.js';
export { WAYMARK_CLIENT_DEFAULTS, type WaymarkClientOptions } from './options.js';
export { Backoff, retryAfterMs, type BackoffPolicy } from './backoff.js';
export {
  ClientClosedError,
  DiscoveryRefusedError,
  InvalidOptionsError,
  InvalidRequestError,
  InvalidTopologyError,
  NoHealthyGatewayError,
  NoRouteError,
  TopologyExpiredError,
  TopologyUnavailableError,
  WaymarkError,
  type GatewayAttempt,
  type InvalidTopologyReason,
} from './errors.js';
export { candidateGateways, orderRegions, regionAllowed, type CandidateOptions } from '../topology/index.js';
export { Resolver, type Candidate, type LastResortEvent, type Route } from './resolver.js';
export { checkDocument, parseDocument } from './document.js';
export type { BackoffEvent, DiscoveryRequestKind, DiscoveryStats, SourceFailure } from './discovery.js';
export { SignatureVerifier, type TrustedKey, type VerifiedDocument } from './signature.js';
export type { EjectionEvent, FailoverEvent, WaymarkRequestOptions } from './transport.js';
export type { CachedTopology, TopologyCache } from './platform.js';
export type { TopologyDocument, Service, Region, RoutedGateway } from '../openapi/index.js';
