import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A plain HTTP server scripted by the test (a fake gateway, a foreign host, a counting server). */
export interface HttpStub {
  url: string;
  /** Ends every connection (held ones included) and stops listening. */
  close(): Promise<void>;
}

/** Starts a stub on 127.0.0.1 whose answers `handler` writes; a request it leaves unanswered is held until close(). */
export async function startHttpStub(handler: (url: URL, res: ServerResponse, headers: IncomingHttpHeaders) => void): Promise<HttpStub> {
  const server: Server = createServer((req, res) => handler(new URL(req.url ?? '/', 'http://stub'), res, req.headers));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
