import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TopologyDocument } from '../../openapi/index.js';

/**
 * A hostile gateway for signature tests: it serves whatever document the test sets (holding
 * long-polls until the document changes, like a real gateway) and counts every other request,
 * which is traffic a verifying client must never send it.
 */
export interface RogueGateway {
  readonly url: string;
  /** Requests other than the topology document (API calls, probes). */
  readonly apiRequests: string[];
  /** Topology fetches it answered. */
  readonly documentRequests: number;
  /** Serves `doc` from now on and answers the long-polls held so far with it. */
  serve(doc: TopologyDocument): void;
  close(): Promise<void>;
}

export async function startRogueGateway(initial: TopologyDocument): Promise<RogueGateway> {
  let doc = initial;
  let documentRequests = 0;
  const apiRequests: string[] = [];
  const held = new Set<ServerResponse>();
  const send = (res: ServerResponse) => {
    documentRequests++;
    res.writeHead(200, { 'content-type': 'application/json', 'x-waymark-revision': String(doc.revision) });
    res.end(JSON.stringify(doc));
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://rogue');
    if (url.pathname === '/.well-known/topology') {
      const wait = url.searchParams.get('wait');
      if (wait !== null && Number(wait) >= doc.revision) {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      return send(res);
    }
    apiRequests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ backend: 'rogue' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    apiRequests,
    get documentRequests() {
      return documentRequests;
    },
    serve(next) {
      doc = next;
      for (const res of [...held]) {
        held.delete(res);
        send(res);
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
