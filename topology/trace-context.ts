/**
 * Request correlation shared by the SDK, the gateway and the registry: an `X-Request-Id` and a W3C
 * `traceparent` (https://www.w3.org/TR/trace-context/) taken from the request when valid, else
 * made up, so every request line of the logs can be joined with the upstream's. Uses the Web
 * Crypto global (Node 20, browsers, edge runtimes), so the core stays free of Node built-ins.
 */

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

/** A client-supplied request id when it is printable ASCII of at most 200 characters. */
export function validRequestId(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : undefined;
}

/** A traceparent passed on as received when valid (version ff and all-zero ids are not). */
export function validTraceparent(value: string | string[] | undefined): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value);
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]) || /^0+$/.test(m[3])) return undefined;
  return value;
}

/** A new random request id (a UUID). */
export function newRequestId(): string {
  return globalThis.crypto.randomUUID();
}

/** Random bytes drawn in blocks: one Web Crypto call serves many traceparents (as Node pools randomUUID's). */
const POOL = new Uint8Array(24 * 256);
let pooled = POOL.length;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function allZero(from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (POOL[i] !== 0) return false;
  return true;
}

function hex(from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += HEX[POOL[i]];
  return s;
}

/** A new sampled traceparent with random trace and parent ids (never all zero, which is invalid). */
export function newTraceparent(): string {
  if (pooled + 24 > POOL.length) {
    globalThis.crypto.getRandomValues(POOL);
    pooled = 0;
  }
  const at = pooled;
  pooled += 24;
  // An all-zero id is invalid; the odds of one are 2^-64 per id, so it is made non-zero.
  if (allZero(at, at + 16)) POOL[at] = 1;
  if (allZero(at + 16, at + 24)) POOL[at + 16] = 1;
  return `00-${hex(at, at + 16)}-${hex(at + 16, at + 24)}-01`;
}

/** The request's id and traceparent: the client's when valid, else new ones. */
export function traceContext(headers: Record<string, string | string[] | undefined>): { requestId: string; traceparent: string } {
  return {
    requestId: validRequestId(headers['x-request-id']) ?? newRequestId(),
    traceparent: validTraceparent(headers.traceparent) ?? newTraceparent(),
  };
}
