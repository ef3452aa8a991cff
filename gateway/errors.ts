import { WaymarkError } from '../topology/index.js';

/** A gateway option is missing or out of range. */
export class GatewayOptionsError extends WaymarkError {
  constructor(
    readonly option: string,
    problem: string,
  ) {
    super('INVALID_OPTIONS', `gateway option ${option}: ${problem}`);
  }
}

/** The snapshot file could not be read or written. */
export class SnapshotFileError extends WaymarkError {
  constructor(
    readonly file: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super('SNAPSHOT_FILE', `snapshot file ${file}: ${problem}`, options);
  }
}

/** A snapshot over TOPOLOGY_LIMITS: not published, the last good document stays served. */
export class TopologyTooLargeError extends WaymarkError {
  constructor(problem: string) {
    super('TOPOLOGY_TOO_LARGE', `topology ${problem}`);
  }
}

/**
 * An error answer of the gateway: an HTTP status, a stable code and a message for the caller.
 * Sent as the contract's Error schema, with a link to the topology document.
 */
export class GatewayHttpError extends WaymarkError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    /** Extra response headers, as raw name/value pairs (such as Retry-After). */
    readonly headers: readonly string[] = [],
  ) {
    super(code, message);
  }
}

export const badRequest = (message: string) => new GatewayHttpError(400, 'BAD_REQUEST', message);

export const notFound = (message: string) => new GatewayHttpError(404, 'NOT_FOUND', message);

export const methodNotAllowed = (allow: string) =>
  new GatewayHttpError(405, 'METHOD_NOT_ALLOWED', `this resource only answers ${allow}`, ['Allow', allow]);

export const payloadTooLarge = (limit: number) =>
  new GatewayHttpError(413, 'PAYLOAD_TOO_LARGE', `the request body exceeds this gateway's limit of ${limit} bytes: send a smaller body`, [
    'Connection',
    'close',
  ]);

export const noSnapshot = () =>
  new GatewayHttpError(503, 'NO_SNAPSHOT', 'this gateway has not read the topology yet (etcd unreachable and no snapshot file): retry shortly or ask another gateway', [
    'Retry-After',
    '1',
  ]);

/**
 * The request's framing (how its body is delimited) is one that another HTTP parser on the path
 * could read differently: answered, and the connection closed, since where the next request
 * starts is unknown.
 */
export const badFraming = (message: string) => new GatewayHttpError(400, 'BAD_FRAMING', message, ['Connection', 'close']);

/** The request body did not arrive in time (or too slowly); the connection is closed. */
export const bodyTimeout = (message: string) => new GatewayHttpError(408, 'REQUEST_TIMEOUT', message, ['Connection', 'close']);

/** Every upstream socket a service lends to streamed uploads is taken. */
export const uploadsBusy = (service: string) =>
  new GatewayHttpError(503, 'UPLOADS_BUSY', `service ${service} has as many uploads in progress as this gateway streams at once: retry shortly`, [
    'Retry-After',
    '1',
    'Connection',
    'close',
  ]);

/** A bundle file was refused (unreadable, badly signed, of another environment, older): the current one stays. */
export class BundleRejectedError extends WaymarkError {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super('BUNDLE_REJECTED', `bundle ${file} refused: ${problem}`);
  }
}

/** A worker process of `waymark gateway --workers N` exited while the gateway was not draining. */
export class GatewayWorkerExitedError extends WaymarkError {
  constructor(
    readonly index: number,
    readonly pid: number | undefined,
    readonly exitCode: number | null,
    readonly signal: string | null,
    detail: string,
  ) {
    super('WORKER_EXITED', `gateway worker ${index} (pid ${pid ?? 'unknown'}) exited (${signal ? `signal ${signal}` : `code ${exitCode}`}): ${detail}`);
  }
}
