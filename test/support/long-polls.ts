import { request, type ClientRequest, type IncomingHttpHeaders } from 'node:http';

/** Long-polls held open on a gateway by the test (each on its own connection). */
export interface HeldLongPolls {
  /** Long-polls answered so far (a held one is not answered). */
  readonly answered: number;
  /** Aborts every long-poll still held. */
  close(): void;
}

export interface LongPollOptions {
  /** Local address to connect from (any 127.0.0.0/8 address on Linux), so the gateway sees distinct clients. */
  localAddress?: string;
  headers?: Record<string, string>;
  /** Hold asked of the gateway, s. Default 120. */
  timeoutSeconds?: number;
}

/** Sends `count` long-polls (`?wait=<revision>`) to a gateway; they stay held until closed. */
export function holdLongPolls(baseUrl: string, revision: number, count: number, options: LongPollOptions = {}): HeldLongPolls {
  const requests: ClientRequest[] = [];
  const state = { answered: 0 };
  for (let i = 0; i < count; i++) {
    const req = topologyRequest(baseUrl, `?wait=${revision}&timeout=${options.timeoutSeconds ?? 120}`, options, () => state.answered++);
    requests.push(req);
  }
  return {
    get answered() {
      return state.answered;
    },
    close() {
      for (const r of requests) r.destroy();
    },
  };
}

/** One answer of the topology endpoint: its status, headers and body. */
export interface TopologyAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One GET of the topology endpoint with `query`, on a connection of its own. */
export function getTopology(baseUrl: string, query: string, options: LongPollOptions = {}): Promise<TopologyAnswer> {
  return new Promise((resolve, reject) => {
    const req = topologyRequest(baseUrl, query, options, (answer) => resolve(answer));
    req.on('error', reject);
  });
}

function topologyRequest(baseUrl: string, query: string, options: LongPollOptions, onAnswer: (answer: TopologyAnswer) => void): ClientRequest {
  const url = new URL(`/.well-known/topology${query}`, baseUrl);
  const req = request(
    url,
    { agent: false, headers: options.headers ?? {}, ...(options.localAddress ? { localAddress: options.localAddress } : {}) },
    (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => onAnswer({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', () => undefined);
    },
  );
  // A held request the test aborts ends in an error it expects.
  req.on('error', () => undefined);
  req.end();
  return req;
}
