import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { get as httpGet, type IncomingHttpHeaders } from 'node:http';

/** What came back on a raw connection. */
export interface RawReply {
  /** Everything received, as latin1 text. */
  text: string;
  /** Status code of the first response line, or 0 when none came. */
  status: number;
  /** The server closed the connection (or reset it). */
  closed: boolean;
  ms: number;
}

export interface RawOptions {
  /** Give up (and destroy the socket) after this long, ms. Default 5000. */
  timeoutMs?: number;
  /** Resolve as soon as a whole response head has arrived, without waiting for the close. */
  untilHead?: boolean;
}

/** Sends `payload` as-is on a new TCP connection to the base URL's host and collects the answer. */
export function rawRequest(baseUrl: string, payload: string | Buffer, options: RawOptions = {}): Promise<RawReply> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    let text = '';
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 5000);
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (options.untilHead && text.includes('\r\n\r\n')) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.write(payload);
  });
}

/** A slow-loris client: sends a request head one header line at a time, every `intervalMs`, for at most `lines` lines. */
export function slowHeaders(baseUrl: string, intervalMs: number, lines: number): { socket: Socket; reply: Promise<RawReply> } {
  const url = new URL(baseUrl);
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  const started = Date.now();
  let text = '';
  let sent = 0;
  socket.write(`GET /healthz HTTP/1.1\r\nHost: ${url.host}\r\n`);
  const timer = setInterval(() => {
    if (sent++ >= lines || socket.destroyed) return clearInterval(timer);
    socket.write(`X-Slow-${sent}: ${'z'.repeat(10)}\r\n`);
  }, intervalMs);
  const reply = new Promise<RawReply>((resolve) => {
    const done = () => {
      clearInterval(timer);
      resolve({ text, status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), closed: true, ms: Date.now() - started });
    };
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', done);
  });
  return { socket, reply };
}

/** One response read off a raw connection. */
export interface ParsedResponse {
  status: number;
  /** Header values by lower-cased name (repeated headers keep every value). */
  headers: Record<string, string[]>;
  body: string;
}

/**
 * Splits what a server sent on one connection into responses, in order (skipping 1xx interim
 * answers). `methods` are the requests' methods in the same order, so HEAD answers are read
 * without a body. Stops at the first incomplete response; whatever is left is returned as `rest`.
 */
export function parseResponses(text: string, methods: readonly string[] = []): { responses: ParsedResponse[]; rest: string } {
  const responses: ParsedResponse[] = [];
  let at = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end === -1) break;
    const lines = text.slice(at, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? 0);
    if (status === 0) break;
    const headers: Record<string, string[]> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      (headers[name] ??= []).push(line.slice(colon + 1).trim());
    }
    let next = end + 4;
    if (status < 200) {
      at = next;
      continue;
    }
    let body = '';
    const noBody = methods[responses.length] === 'HEAD' || status === 204 || status === 304;
    if (!noBody && headers['transfer-encoding']?.some((v) => /chunked/i.test(v))) {
      let complete = false;
      for (;;) {
        const lineEnd = text.indexOf('\r\n', next);
        if (lineEnd === -1) break;
        const size = parseInt(text.slice(next, lineEnd), 16);
        if (size === 0) {
          const trailerEnd = text.indexOf('\r\n\r\n', lineEnd);
          if (trailerEnd !== -1 || text.startsWith('\r\n', lineEnd + 2)) {
            next = text.startsWith('\r\n', lineEnd + 2) ? lineEnd + 4 : trailerEnd + 4;
            complete = true;
          }
          break;
        }
        if (text.length < lineEnd + 2 + size + 2) break;
        body += text.slice(lineEnd + 2, lineEnd + 2 + size);
        next = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
    } else if (!noBody && headers['content-length']) {
      const length = Number(headers['content-length'][0]);
      if (text.length < next + length) break;
      body = text.slice(next, next + length);
      next += length;
    } else if (!noBody) {
      // Delimited by the close.
      body = text.slice(next);
      next = text.length;
    }
    responses.push({ status, headers, body });
    at = next;
  }
  return { responses, rest: text.slice(at) };
}

/**
 * A slow uploader: sends `head` and the first `burst` bytes of `body` at once, then the rest one
 * byte every `intervalMs`. `reply` resolves when the server closes the connection.
 */
export function slowUpload(
  baseUrl: string,
  head: string,
  body: string,
  { intervalMs, burst = 0 }: { intervalMs: number; burst?: number },
): { socket: Socket; reply: Promise<RawReply> } {
  const url = new URL(baseUrl);
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  const started = Date.now();
  let text = '';
  let sent = burst;
  socket.write(head + body.slice(0, burst));
  const timer = setInterval(() => {
    if (sent >= body.length || socket.destroyed) return clearInterval(timer);
    socket.write(body[sent++]);
  }, intervalMs);
  const reply = new Promise<RawReply>((resolve) => {
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ text, status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0), closed: true, ms: Date.now() - started });
    });
  });
  return { socket, reply };
}

/** A TCP server answering each request head with whatever `answer` writes on the socket (a misbehaving upstream). */
export interface RawBackend {
  url: string;
  /** Request heads received, as latin1 text. */
  readonly heads: string[];
  close(): Promise<void>;
}

/** Starts a raw-socket backend on 127.0.0.1; `answer` gets the socket once a request head arrived. */
export async function startRawBackend(answer: (socket: Socket, head: string) => void): Promise<RawBackend> {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      heads.push(text.slice(0, end));
      answer(socket, text.slice(0, end));
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    heads,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A GET on a connection of its own (no keep-alive pool): how a test reaches each worker of a gateway with workers in turn. */
export function getOnNewConnection(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: false, headers, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.once('error', reject);
    }).once('error', reject);
  });
}
