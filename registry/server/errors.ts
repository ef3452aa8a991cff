import { WaymarkError } from '../../topology/index.js';
import type { ApiError } from '../../openapi/index.js';
import { InvalidTokensError } from '../auth/tokens.js';
import { ValidationError } from '../manifest/errors.js';

/** HTTP status of each stable error code; anything else is a 500. */
const STATUS_OF: Readonly<Record<string, number>> = {
  BAD_REQUEST: 400,
  INVALID_NAME: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  SIGNING_UNAVAILABLE: 409,
  SIGNING_KEY_MISSING: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  VALIDATION_FAILED: 422,
  ETCD_UNAVAILABLE: 503,
  ETCD_NO_QUORUM: 503,
  ETCD_AUTH: 503,
  ETCD_PERMISSION_DENIED: 503,
  TOO_MANY_MONITORS: 503,
};

export interface HttpError {
  status: number;
  body: ApiError;
  /** True when the error is not one the API expects (a bug, a misconfiguration): worth logging. */
  unexpected: boolean;
}

/** The response for an error: its status and the contract's Error body with a stable code. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof InvalidTokensError) {
    // Its message names the file and quotes it (a parser's excerpt, entry names): callers, who may
    // not even be authenticated yet, learn what is wrong but not where; the details go to the log.
    return {
      status: 500,
      body: { code: err.code, message: `the registry's token configuration is invalid: ${err.problem}; an operator must fix it (the registry's log says where)` },
      unexpected: true,
    };
  }
  if (err instanceof WaymarkError) {
    const status = STATUS_OF[err.code];
    const body: ApiError = { code: err.code, message: err.message };
    if (err instanceof ValidationError) body.details = err.details;
    if (status) return { status, body, unexpected: false };
    return { status: 500, body, unexpected: true };
  }
  return {
    status: 500,
    body: { code: 'INTERNAL', message: "the registry failed unexpectedly: see the registry's log, and retry" },
    unexpected: true,
  };
}
