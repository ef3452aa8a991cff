import { WaymarkError } from '../topology/index.js';

export { WaymarkError };

/** A gateway the SDK tried for one call, and why it did not serve it. */
export interface GatewayAttempt {
  gateway: string;
  region: string;
  url: string;
  /** What went wrong: an error code (`ECONNREFUSED`, `ATTEMPT_TIMEOUT`…) or `HTTP <status>`. */
  error: string;
  status?: number;
  durationMs: number;
}

/** The client was given options it cannot work with. */
export class InvalidOptionsError extends WaymarkError {
  constructor(message: string) {
    super('INVALID_OPTIONS', `Invalid WaymarkClient options: ${message}`);
  }
}

/** No topology could be loaded: no gateway answered with a usable document and no cache file holds one. */
export class TopologyUnavailableError extends WaymarkError {
  constructor(
    readonly failures: readonly { source: string; error: string }[],
    options?: { cause?: unknown },
  ) {
    const list = failures.map((f) => `${f.source}: ${f.error}`).join('; ') || 'no source tried';
    super(
      'TOPOLOGY_UNAVAILABLE',
      `No topology could be loaded (${list}). Check that a bootstrap gateway is reachable, or set cacheFile so a restart can start from the last good topology.`,
      options,
    );
  }
}

/**
 * `rollback`: older than the revision held (or, with trustedKeys, a signed statement older than
 * the one held); `unconfirmed`: newer, but from a gateway whose earlier revision two others
 * contradicted, and no other gateway serves it yet. With trustedKeys: `unsigned` (no statement),
 * `signature` (not signed by a trusted key), `mismatch` (regions or services other than signed).
 */
export type InvalidTopologyReason = 'malformed' | 'too-large' | 'environment' | 'rollback' | 'unconfirmed' | 'unsigned' | 'signature' | 'mismatch';

/** A received topology document was rejected; the one held before stays in use. */
export class InvalidTopologyError extends WaymarkError {
  constructor(
    readonly source: string,
    readonly reason: InvalidTopologyReason,
    readonly problems: readonly string[],
  ) {
    super(
      'INVALID_TOPOLOGY',
      `Rejected the topology from ${source} (${reason}): ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}. The last good topology stays in use.`,
    );
  }
}

/** The service is not in the topology. */
export class NoRouteError extends WaymarkError {
  constructor(
    readonly service: string,
    readonly revision: number,
  ) {
    super('NO_ROUTE', `No service "${service}" in the topology (revision ${revision}). Check the name, or that it is deployed in this environment.`);
  }
}

/** Every candidate gateway of a call failed (or may not be retried); `attempts` lists each one. */
export class NoHealthyGatewayError extends WaymarkError {
  constructor(
    readonly service: string,
    readonly attempts: readonly GatewayAttempt[],
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    const list = attempts.map((a) => `${a.region}/${a.gateway} (${a.url}): ${a.error}`).join('; ') || 'none';
    super('NO_HEALTHY_GATEWAY', `No healthy gateway served "${service}": ${reason}. Attempts: ${list}.`, options);
  }
}

/** The topology held is older than its `maxStaleSeconds` allows and no gateway confirms it. */
export class TopologyExpiredError extends WaymarkError {
  constructor(
    readonly revision: number,
    readonly ageSeconds: number,
    readonly maxStaleSeconds: number,
  ) {
    super(
      'TOPOLOGY_EXPIRED',
      `The topology (revision ${revision}) was last confirmed ${ageSeconds.toFixed(0)} s ago, beyond its maxStaleSeconds of ${maxStaleSeconds}; refusing to route on a map of unknown age. Check that the gateways are reachable.`,
    );
  }
}

/** A request the SDK cannot route as given. */
export class InvalidRequestError extends WaymarkError {
  constructor(message: string) {
    super('INVALID_REQUEST', message);
  }
}

/** The client was closed. */
export class ClientClosedError extends WaymarkError {
  constructor() {
    super('CLIENT_CLOSED', 'The WaymarkClient is closed; create a new one.');
  }
}

/** A topology fetch did not complete (headers and whole body) within its total deadline. */
export class DiscoveryTimeoutError extends WaymarkError {
  constructor(
    readonly url: string,
    readonly deadlineMs: number,
  ) {
    super('DISCOVERY_TIMEOUT', `no complete topology from ${url} within ${deadlineMs} ms`);
  }
}

/** A gateway refused a topology fetch (503 or 429), possibly saying when to come back (`Retry-After`). */
export class DiscoveryRefusedError extends WaymarkError {
  constructor(
    readonly url: string,
    readonly status: number,
    /** What the gateway's Retry-After asked for, ms (capped); undefined without a usable one. */
    readonly retryAfterMs: number | undefined,
    /** The gateway's X-Waymark-Revision, if it sent one. */
    readonly revision: number | undefined,
  ) {
    super('DISCOVERY_REFUSED', `${url} refused the topology request (HTTP ${status}${retryAfterMs !== undefined ? `, retry after ${retryAfterMs} ms` : ''})`);
  }
}
