import { readFileSync } from 'node:fs';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, GRPCDeadlineExceededError, isRecoverableError, type IOptions } from 'etcd3';
import { translateEtcdError } from './errors.js';

/** How to reach etcd. Every default is here. */
export interface EtcdOptions {
  /** Client URLs of the etcd members, such as `http://127.0.0.1:2379`. */
  endpoints: string[];
  /**
   * Deadline of each unary call, in ms. Streams (watch, lease keepalive) get none: a deadline on
   * a stream cuts it every time it expires. Default 5000.
   */
  callTimeoutMs?: number;
  /** PEM file of the CA that signed etcd's certificate; enables TLS. */
  caFile?: string;
  /** PEM files of a client certificate and key, for etcd's `--client-cert-auth`. */
  certFile?: string;
  keyFile?: string;
  /** etcd user and password, for etcd's `auth enable`. */
  username?: string;
  password?: string;
}

export const ETCD_DEFAULTS = {
  callTimeoutMs: 5000,
  /** A failing member is skipped for this long before it is tried again. */
  hostRetryAfterMs: 1000,
  /**
   * Largest response accepted, in bytes. gRPC's 4 MiB default is below what a range read of an
   * environment of 10 000 services returns (etcd itself sends up to 2 GiB).
   */
  maxResponseBytes: 256 * 1024 * 1024,
} as const;

/** An etcd3 client plus what is needed to translate its errors. */
export interface EtcdConnection {
  readonly client: Etcd3;
  readonly endpoints: readonly string[];
  readonly callTimeoutMs: number;
  /** Runs an etcd call and translates its failure into a Waymark error. */
  call<T>(fn: (client: Etcd3) => Promise<T>): Promise<T>;
  close(): void;
}

export function connectEtcd(options: EtcdOptions): EtcdConnection {
  if (options.endpoints.length === 0) throw new TypeError('etcd needs at least one endpoint');
  const callTimeoutMs = options.callTimeoutMs ?? ETCD_DEFAULTS.callTimeoutMs;
  const config: IOptions = {
    hosts: options.endpoints,
    dialTimeout: callTimeoutMs,
    grpcOptions: { 'grpc.max_receive_message_length': ETCD_DEFAULTS.maxResponseBytes },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      // Skip a failing member briefly (the library default is 5 s, which delays recovery).
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: ETCD_DEFAULTS.hostRetryAfterMs,
          breaker: new ConsecutiveBreaker(3),
        }),
      // A deadline is per attempt: retrying one would stretch a call to 3x callTimeoutMs, and a
      // timed-out write may have committed (a guarded retry would then report a false conflict).
      global: retry(handleWhen((err) => isRecoverableError(err) && !(err instanceof GRPCDeadlineExceededError)), {
        maxAttempts: 2,
        backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }),
      }),
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }).next(),
    },
  };
  if (options.caFile) {
    config.credentials = {
      rootCertificate: readFileSync(options.caFile),
      ...(options.certFile ? { certChain: readFileSync(options.certFile) } : {}),
      ...(options.keyFile ? { privateKey: readFileSync(options.keyFile) } : {}),
    };
  }
  if (options.username) {
    config.auth = {
      username: options.username,
      password: options.password ?? '',
      callOptions: () => ({ deadline: Date.now() + callTimeoutMs }),
    };
  }
  const client = new Etcd3(config);
  const endpoints = [...options.endpoints];
  return {
    client,
    endpoints,
    callTimeoutMs,
    async call(fn) {
      try {
        return await fn(client);
      } catch (err) {
        throw translateEtcdError(err, endpoints, callTimeoutMs);
      }
    },
    close: () => client.close(),
  };
}
