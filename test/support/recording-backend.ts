import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request as the recording backend parsed it off its socket. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The client's `X-Marker`, echoed in the answer so each caller can tell its own response. */
  marker: string | undefined;
  bodyLength: number;
  body: string;
  /** Which TCP connection it came on (1, 2, …, in accept order). */
  connection: number;
}

export interface RecordingBackend {
  url: string;
  host: string;
  /** Every request parsed, in arrival order (including those the gateway never meant to send). */
  received: RecordedRequest[];
  /** Parse errors on the backend's side (bytes that were not HTTP), by error code. */
  parseErrors: string[];
  /** Connections accepted so far, and those closed. */
  connections(): { opened: number; closed: number; open: number };
  /** Ids of the connections closed so far. */
  closedConnections: number[];
  /** Requests whose head has arrived (complete or not). */
  started(): number;
  /** Answers every `/hold` request waiting so far. */
  releaseHeld(): void;
  close(): Promise<void>;
}

/**
 * A keep-alive backend that records exactly what it parses, so a request smuggled inside another
 * one's body shows up as an extra request (and a desynchronised connection as a wrong marker).
 * Every answer is JSON `{ marker, method, url, bodyLength }` with `X-Marker-Echo`.
 * Paths ending in `/slow?ms=N` answer after N ms; `/stream?chunks=N&delayMs=M` answers in chunks;
 * `/truncated` promises 100 bytes, sends 10 and cuts the connection; `/early?ms=N` answers at
 * once, before reading the body, and ends its answer N ms later; `/stall?ms=N` starts reading the
 * body only after N ms; `/hold` answers when the test calls `releaseHeld()`.
 */
export async function startRecordingBackend(): Promise<RecordingBackend> {
  const received: RecordedRequest[] = [];
  const parseErrors: string[] = [];
  const sockets = new Set<Socket>();
  const closedConnections: number[] = [];
  let opened = 0;
  let closed = 0;
  let started = 0;
  const held: Array<() => void> = [];
  const ids = new WeakMap<Socket, number>();
  const server: Server = createServer((req, res) => {
    started += 1;
    const early = new URL(req.url ?? '/', 'http://backend');
    // Routes that act before (or instead of) reading the body.
    if (early.pathname.endsWith('/early')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('early\n');
      setTimeout(() => res.end('done\n'), Number(early.searchParams.get('ms') ?? 500));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    if (early.pathname.endsWith('/stall')) {
      req.pause();
      setTimeout(() => req.resume(), Number(early.searchParams.get('ms') ?? 1000));
    }
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const marker = typeof req.headers['x-marker'] === 'string' ? req.headers['x-marker'] : undefined;
      const record: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        marker,
        bodyLength: body.length,
        body: body.toString('latin1'),
        connection: ids.get(req.socket) ?? 0,
      };
      received.push(record);
      const url = new URL(req.url ?? '/', 'http://backend');
      if (url.pathname.endsWith('/truncated')) {
        res.writeHead(200, { 'content-length': '100', 'x-marker-echo': marker ?? '' });
        res.write('0123456789');
        setImmediate(() => res.socket?.destroy());
        return;
      }
      if (url.pathname.endsWith('/stream')) {
        const n = Number(url.searchParams.get('chunks') ?? 3);
        const delay = Number(url.searchParams.get('delayMs') ?? 50);
        res.writeHead(200, { 'content-type': 'text/plain', 'x-marker-echo': marker ?? '' });
        let i = 0;
        const tick = () => {
          if (res.destroyed) return;
          if (i === n) return res.end();
          res.write(`chunk ${i++}\n`);
          setTimeout(tick, delay);
        };
        return tick();
      }
      const reply = () => {
        const out = JSON.stringify({ marker, method: record.method, url: record.url, bodyLength: record.bodyLength });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(out)), 'x-marker-echo': marker ?? '' });
        res.end(req.method === 'HEAD' ? undefined : out);
      };
      if (url.pathname.endsWith('/slow')) setTimeout(reply, Number(url.searchParams.get('ms') ?? 1000));
      else if (url.pathname.endsWith('/hold')) held.push(reply);
      else reply();
    });
  });
  server.on('connection', (socket: Socket) => {
    opened += 1;
    const id = opened;
    ids.set(socket, id);
    sockets.add(socket);
    socket.once('close', () => {
      closed += 1;
      closedConnections.push(id);
      sockets.delete(socket);
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    parseErrors.push(err.code ?? 'unknown');
    socket.destroy();
  });
  // Long enough that the gateway's pooled connection survives a whole suite.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    received,
    parseErrors,
    connections: () => ({ opened, closed, open: sockets.size }),
    closedConnections,
    started: () => started,
    releaseHeld: () => held.splice(0).forEach((reply) => reply()),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
