/**
 * The neutral core of Waymark: what a valid topology is, and how calls are routed on it. Shared
 * by the registry, the gateway and the SDK, so the same input gets the same verdict at every
 * trust boundary. Free of dependencies and of Node built-ins: the SDK imports it in any runtime.
 */
export type * from './types.js';
export { WaymarkError } from './error.js';
export { assertName, InvalidNameError, isValidJurisdiction, isValidName, JURISDICTION_PATTERN, NAME_PATTERN } from './names.js';
export { basePathProblem, isValidBasePath, RESERVED_PATHS } from './base-path.js';
export { gatewayUrlProblem, isValidGatewayUrl, publicUrlProblem, upstreamUrlProblem } from './url.js';
export { MAX_SERVICE_LINK_LENGTH, serviceLinkProblem } from './service-link.js';
export { summarize } from './problems.js';
export {
  checkRecord,
  MAX_INVALID_KEY_LENGTH,
  MAX_INVALID_REASON_LENGTH,
  MAX_REPORTED_INVALID_RECORDS,
  parseRecord,
  validateCommitRecord,
  validateGatewayRegistration,
  validateGatewayReport,
  validateRegionDefinition,
  validateServiceDefinition,
  type Checked,
  type KeyNames,
  type RecordKind,
} from './records.js';
export {
  CORS_DEFAULTS,
  corsOriginProblem,
  MAX_CORS_LIST_LENGTH,
  MAX_CORS_MAX_AGE_SECONDS,
  validateCorsPolicy,
  WAYMARK_EXPOSED_HEADERS,
  WAYMARK_REQUEST_HEADERS,
} from './cors.js';
export { validateTopologyDocument } from './document.js';
export { TOPOLOGY_LIMITS, topologySizeProblems, type TopologySize } from './limits.js';
export { candidateGateways, orderRegions, regionAllowed, regionGateways, type CandidateOptions } from './candidates.js';
export { IDEMPOTENT_METHODS, isIdempotent } from './methods.js';
export { HOP_BY_HOP_HEADERS } from './hop-by-hop.js';
export { newRequestId, newTraceparent, traceContext, validRequestId, validTraceparent } from './trace-context.js';
export { gatewayUrlAllowed, gatewayUrlPatternProblem, MAX_GATEWAY_URL_PATTERNS } from './gateway-pattern.js';
export {
  base64UrlDecode,
  base64UrlEncode,
  compactJws,
  documentProblems,
  gatewayAllowed,
  parseSignedStatement,
  SIGNATURE_ALGORITHM,
  SIGNED_TOPOLOGY_TYPE,
  signedTopologyOf,
  signingInputOf,
  utf8,
  validateSignedTopology,
  type SignedHeader,
  type SignedStatement,
} from './signed.js';
