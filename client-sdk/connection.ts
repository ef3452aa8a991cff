import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';

import type { ConnectionTrace } from './platform.js';

/** The error a socket is destroyed with when it does not connect in time. */
export class ConnectTimeoutError extends Error {
  readonly code = 'ECONNTIMEOUT';
  constructor(ms: number) {
    super(`no connection within ${ms} ms`);
    this.name = 'ConnectTimeoutError';
  }
}

/** The part of node:http an axios `transport` must provide. */
export interface RequestTransport {
  request(options: http.RequestOptions, callback?: (res: http.IncomingMessage) => void): http.ClientRequest;
}

/**
 * An axios `transport` (node:http/https, redirects never followed) that gives up on a connection
 * that is not established within `connectTimeoutMs` and records in `trace` whether one was:
 * a request that never connected was never sent, so any method may be retried elsewhere.
 */
export function tracingTransport(connectTimeoutMs: number, trace: ConnectionTrace): RequestTransport {
  return {
    request(options, callback) {
      const req = (options.protocol === 'https:' ? https : http).request(options, callback);
      // An agent hands a kept-alive socket over at once: connected, and no listener needed.
      if (req.reusedSocket) {
        trace.connected = true;
        return req;
      }
      req.once('socket', (socket: Socket) => {
        if (!socket.connecting) {
          trace.connected = true; // a kept-alive socket
          return;
        }
        const timer = setTimeout(() => {
          trace.connectTimedOut = true;
          req.destroy(new ConnectTimeoutError(connectTimeoutMs));
        }, connectTimeoutMs);
        socket.once('connect', () => {
          clearTimeout(timer);
          trace.connected = true;
        });
        socket.once('close', () => clearTimeout(timer));
      });
      return req;
    },
  };
}
