import { connect, type Socket } from 'node:net';

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
