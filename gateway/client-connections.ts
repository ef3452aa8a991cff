import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
}

/**
 * What the gateway remembers of each client connection so it never answers out of turn: the
 * exchanges in progress on it, and whether it is condemned. node parses pipelined requests from
 * the bytes it already has even after one was refused for its framing, so a condemned connection's
 * later requests are dropped, never served.
 */
export class ClientConnections {
  private readonly exchanges = new WeakMap<Socket, Exchange[]>();
  private readonly condemned = new WeakSet<Socket>();

  /** Records an exchange; false (and the response dropped) when its connection is condemned. */
  admit(req: IncomingMessage, res: ServerResponse): boolean {
    const socket = req.socket;
    if (this.condemned.has(socket)) {
      res.destroy();
      return false;
    }
    let list = this.exchanges.get(socket);
    if (!list) {
      list = [];
      this.exchanges.set(socket, list);
    }
    const exchange = { req, res };
    list.push(exchange);
    // 'close' comes once: `on` spares every request once's bound wrapper.
    res.on('close', () => list.splice(list.indexOf(exchange), 1));
    return true;
  }

  /** No request after the current one on this connection is served. */
  condemn(socket: Socket): void {
    this.condemned.add(socket);
  }

  /** Whether a request on this connection was already refused for its framing (and answered). */
  isCondemned(socket: Socket): boolean {
    return this.condemned.has(socket);
  }

  /**
   * Whether an error written straight onto the socket (node's parse errors and request timeout)
   * is read by the client as the answer to the request it concerns: when no response is in
   * progress, or the only one has not started and its request is still arriving (so the error is
   * about it). Otherwise it would land inside a response, or be taken for an earlier request's.
   */
  canAnswer(socket: Socket): boolean {
    const list = this.exchanges.get(socket);
    if (!list || list.length === 0) return true;
    return list.length === 1 && !list[0].res.headersSent && !list[0].req.complete;
  }
}
