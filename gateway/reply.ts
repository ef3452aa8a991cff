import type { ServerResponse } from 'node:http';
import type { ApiError, Link } from '../openapi/index.js';
import type { GatewayHttpError } from './errors.js';

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Sends a small JSON body (errors, health, service routes): never the topology document, whose
 * bytes are built once per revision. `headers` are raw name/value pairs, added first.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: readonly string[], extra: readonly string[] = []): void {
  const bytes = Buffer.from(JSON.stringify(body));
  try {
    res.writeHead(status, [
      ...headers,
      ...extra,
      'Content-Type',
      JSON_TYPE,
      'Content-Length',
      String(bytes.length),
      'Cache-Control',
      'no-store',
    ]);
  } catch {
    // node refused a header value (ERR_INVALID_CHAR): this answer becomes a bare 500, the process lives on.
    if (res.headersSent) return void res.destroy();
    const failed = Buffer.from(JSON.stringify({ code: 'INTERNAL', message: 'the gateway could not build a valid answer; retry, or ask another gateway' }));
    res.writeHead(500, ['Content-Type', JSON_TYPE, 'Content-Length', String(failed.length), 'Cache-Control', 'no-store']);
    res.end(failed);
    return;
  }
  res.end(bytes);
}

/** Sends an error as the contract's Error schema. */
export function sendError(
  res: ServerResponse,
  err: GatewayHttpError,
  headers: readonly string[],
  links: Record<string, Link> = {},
  extra: readonly string[] = [],
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body: ApiError = { code: err.code, message: err.message };
  if (Object.keys(links).length > 0) body._links = links;
  sendJson(res, err.status, body, headers, [...err.headers, ...extra]);
}
