import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BenchSetupError } from '../harness/errors.js';

/** A response as it went over the wire: status, headers (raw name/value pairs) and body. */
export interface PreparedResponse {
  status: number;
  headers: string[];
  body: Buffer;
}

/** What the bare server serves: a document in two codings, and the 304 for its ETag. */
export interface BareServerContent {
  identity: PreparedResponse;
  gzip: PreparedResponse;
  notModified: PreparedResponse;
  /** If-None-Match equal to this gets the 304. */
  etag: string;
}

export interface BareServer {
  url: string;
  close(): Promise<void>;
}

/** Headers node writes itself on every response; copying them would send them twice. */
const PER_CONNECTION = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);

/** The first value of a header in raw name/value pairs (names compared case-insensitively). */
export function headerValue(raw: readonly string[], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === wanted) return raw[i + 1];
  return undefined;
}

/** GETs `url` and keeps the response exactly as received (minus per-connection headers). */
export function captureResponse(url: string, headers: Record<string, string> = {}): Promise<PreparedResponse> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          if (!PER_CONNECTION.has(res.rawHeaders[i]!.toLowerCase())) raw.push(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        }
        resolve({ status: res.statusCode ?? 0, headers: raw, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new BenchSetupError(`no answer from ${url} within 10 s`)));
    req.on('error', reject);
  });
}

/**
 * The ceiling for Node on this machine: a node:http server that answers with bytes prepared in
 * advance (the same status, headers and body the gateway sent), choosing only between the 304,
 * gzip and identity. Whatever the gateway does beyond that is what the ratio gateway/bare costs.
 */
export async function startBareServer(content: BareServerContent): Promise<BareServer> {
  const { identity, gzip, notModified, etag } = content;
  const server: Server = createServer((req, res) => {
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(notModified.status, notModified.headers);
      res.end();
      return;
    }
    const v = req.headers['accept-encoding']?.includes('gzip') ? gzip : identity;
    res.writeHead(v.status, v.headers);
    res.end(v.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
