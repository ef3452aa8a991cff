import {
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
} from 'etcd3';
import { isBrokenCircuitError } from 'cockatiel';
import { WaymarkError } from '../topology/index.js';

/** etcd did not answer at all (connection refused, no route, every host failing). */
export class EtcdUnavailableError extends WaymarkError {
  constructor(endpoints: readonly string[], cause?: unknown) {
    super(
      'ETCD_UNAVAILABLE',
      `etcd unreachable at ${endpoints.join(', ')}: check that etcd runs and that --etcd points at it` +
        // gRPC reports a failed TLS handshake as a bare UNAVAILABLE, indistinguishable from a down etcd.
        (endpoints.some((e) => e.startsWith('https:'))
          ? '; over TLS, also check that the CA file trusts etcd\'s certificate and that etcd accepts the client certificate and key'
          : ''),
      { cause },
    );
  }
}

/** etcd answered too late: typically a lost quorum or a leader election that did not settle. */
export class EtcdTimeoutError extends WaymarkError {
  constructor(endpoints: readonly string[], timeoutMs: number, cause?: unknown) {
    super(
      'ETCD_NO_QUORUM',
      `etcd at ${endpoints.join(', ')} did not answer within ${timeoutMs} ms: it probably has no quorum (too many members down) or is electing a leader; retry once the cluster is healthy`,
      { cause },
    );
  }
}

export class EtcdAuthError extends WaymarkError {
  constructor(endpoints: readonly string[], cause?: unknown, refusal?: { code: string; message: string }) {
    super(
      refusal?.code ?? 'ETCD_AUTH',
      refusal?.message ?? `etcd at ${endpoints.join(', ')} refused the credentials: check --etcd-user / --etcd-password and the user's role`,
      { cause },
    );
  }
}

/**
 * The credentials are good but the user's etcd role does not grant this operation on this key
 * (a partner gateway writing another region's registrations, say). Still an EtcdAuthError.
 */
export class EtcdPermissionError extends EtcdAuthError {
  constructor(endpoints: readonly string[], cause?: unknown) {
    super(endpoints, cause, {
      code: 'ETCD_PERMISSION_DENIED',
      message: `etcd at ${endpoints.join(', ')} denied the operation: the etcd user's role does not grant it on that key (see \`waymark etcd roles\`)`,
    });
  }
}

/** An optimistic-concurrency guard failed: someone else wrote first. */
export class ConflictError extends WaymarkError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

/**
 * Translates an etcd3 error into a Waymark error at the one edge where etcd is called.
 * Errors that are already Waymark errors pass through unchanged.
 */
export function translateEtcdError(err: unknown, endpoints: readonly string[], timeoutMs: number): Error {
  if (err instanceof WaymarkError) return err;
  if (err instanceof GRPCDeadlineExceededError) return new EtcdTimeoutError(endpoints, timeoutMs, err);
  if (err instanceof GRPCUnavailableError || isBrokenCircuitError(err)) return new EtcdUnavailableError(endpoints, err);
  if (err instanceof EtcdPermissionDeniedError) return new EtcdPermissionError(endpoints, err);
  if (err instanceof EtcdAuthenticationFailedError) return new EtcdAuthError(endpoints, err);
  if (err instanceof Error && /deadline|DEADLINE_EXCEEDED/i.test(err.message)) {
    return new EtcdTimeoutError(endpoints, timeoutMs, err);
  }
  if (err instanceof Error && /UNAVAILABLE|ECONNREFUSED|No connection established|Connection pool has no hosts/i.test(err.message)) {
    return new EtcdUnavailableError(endpoints, err);
  }
  return err instanceof Error ? err : new Error(String(err));
}
