import { expect } from 'chai';
import { connect } from 'node:net';
import { startGateway, writeTopology, type StartedGateway } from '../support/gateway.js';
import { parseResponses, rawRequest } from '../support/raw-http.js';
import { startRecordingBackend, type RecordedRequest, type RecordingBackend } from '../support/recording-backend.js';
import { region, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** A complete request outside the service's base path, with an attacker-chosen Host. */
const SMUGGLED = 'GET /admin HTTP/1.1\r\nHost: evil.example\r\nX-Marker: smuggled\r\n\r\n';
/**
 * A smuggled request the backend answers late: on the reused upstream connection, that answer is
 * what the next caller gets.
 */
const SLOW = 'GET /catalog/v1/slow?ms=300 HTTP/1.1\r\nHost: evil.example\r\nX-Marker: slow-smuggled\r\n\r\n';
/** A smuggled request still waiting for 50 body bytes: the next caller's request becomes its body. */
const INCOMPLETE = 'GET /catalog/v1/incomplete HTTP/1.1\r\nHost: evil.example\r\nX-Marker: incomplete\r\nContent-Length: 50\r\n\r\n';

/** A chunked body in one chunk. */
const chunked = (body: string) => `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;

/** A request head for `/catalog/v1/<marker>` carrying `X-Marker: <marker>`; `extra` goes in verbatim. */
function head(method: string, marker: string, extra = '', { version = '1.1', close = true }: { version?: string; close?: boolean } = {}): string {
  return `${method} /catalog/v1/${marker} HTTP/${version}\r\nHost: gw.example\r\nX-Marker: ${marker}\r\n${extra}${close ? 'Connection: close\r\n' : ''}\r\n`;
}

/** What the backend must have seen for one forwarded client request. */
interface Forwarded {
  method: string;
  marker: string;
  bodyLength: number;
}

interface Case {
  name: string;
  /** Raw bytes sent on one client connection (pipelined requests concatenated). */
  payload: string;
  /** Either the requests the backend must see (and the clients get answers for, in order), or the status of a refusal. */
  expect: { forward: Forwarded[] } | { refuse: number };
}

const fwd = (method: string, marker: string, bodyLength: number): { forward: Forwarded[] } => ({ forward: [{ method, marker, bodyLength }] });
const REFUSED = { refuse: 400 };

const cases: Case[] = [
  // CL.TE and TE.CL: both framing headers.
  { name: 'CL.TE: Content-Length then Transfer-Encoding', payload: head('POST', 'clte', `Content-Length: ${5 + SMUGGLED.length}\r\nTransfer-Encoding: chunked\r\n`) + '0\r\n\r\n' + SMUGGLED, expect: REFUSED },
  { name: 'CL.TE on GET', payload: head('GET', 'clte-get', `Content-Length: ${5 + SMUGGLED.length}\r\nTransfer-Encoding: chunked\r\n`) + '0\r\n\r\n' + SMUGGLED, expect: REFUSED },
  { name: 'TE.CL: Transfer-Encoding then Content-Length', payload: head('POST', 'tecl', 'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.CL with an empty Transfer-Encoding', payload: head('POST', 'tecl-empty', `Transfer-Encoding: \r\nContent-Length: ${SMUGGLED.length}\r\n`) + SMUGGLED, expect: REFUSED },
  { name: 'TE.CL with Transfer-Encoding: xchunked', payload: head('POST', 'tecl-x', `Transfer-Encoding: xchunked\r\nContent-Length: ${SMUGGLED.length}\r\n`) + SMUGGLED, expect: REFUSED },
  // TE.TE: a Transfer-Encoding one parser reads as chunked and another does not.
  { name: 'TE.TE: Transfer-Encoding: xchunked', payload: head('POST', 'xchunked', 'Transfer-Encoding: xchunked\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: space before the colon', payload: head('POST', 'te-space', 'Transfer-Encoding : chunked\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: chunked, identity', payload: head('POST', 'te-ci', 'Transfer-Encoding: chunked, identity\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: identity, chunked', payload: head('GET', 'te-ic', 'Transfer-Encoding: identity, chunked\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: gzip, chunked (a coding the gateway does not decode)', payload: head('POST', 'te-gc', 'Transfer-Encoding: gzip, chunked\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: empty list element (,chunked)', payload: head('GET', 'te-comma', 'Transfer-Encoding: ,chunked\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: chunked twice', payload: head('POST', 'te-dup', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: identity then chunked on two lines', payload: head('GET', 'te-2lines', 'Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: chunked then identity on two lines', payload: head('POST', 'te-2lines-b', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: tab before the value (valid whitespace, re-framed)', payload: head('GET', 'te-tab', 'Transfer-Encoding:\tchunked\r\n') + chunked(SMUGGLED), expect: fwd('GET', 'te-tab', SMUGGLED.length) },
  { name: 'TE.TE: tab after the value', payload: head('POST', 'te-tab-after', 'Transfer-Encoding: chunked\t\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: space after the value (valid whitespace, re-framed)', payload: head('GET', 'te-sp-after', 'Transfer-Encoding: chunked \r\n') + chunked(SMUGGLED), expect: fwd('GET', 'te-sp-after', SMUGGLED.length) },
  { name: 'TE.TE: vertical tab', payload: head('POST', 'te-vtab', 'Transfer-Encoding:\u000bchunked\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: upper case (re-framed)', payload: head('GET', 'te-upper', 'TRANSFER-ENCODING: CHUNKED\r\n') + chunked(SMUGGLED), expect: fwd('GET', 'te-upper', SMUGGLED.length) },
  { name: 'TE.TE: quoted "chunked"', payload: head('POST', 'te-quoted', 'Transfer-Encoding: "chunked"\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: obs-fold of the value', payload: head('POST', 'te-fold', 'Transfer-Encoding:\r\n chunked\r\n') + chunked(SMUGGLED), expect: REFUSED },
  { name: 'TE.TE: header line folded into the previous one', payload: head('POST', 'te-fold-line', `X-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: ${SMUGGLED.length}\r\n`) + SMUGGLED, expect: REFUSED },
  { name: 'TE.TE: empty Transfer-Encoding on GET, request pipelined behind', payload: head('GET', 'te-empty', 'Transfer-Encoding: \r\n', { close: false }) + SMUGGLED, expect: REFUSED },
  // Framing headers named in Connection.
  { name: 'Connection: content-length on GET', payload: head('GET', 'conn-cl-get', `Content-Length: ${SMUGGLED.length}\r\nConnection: content-length, close\r\n`, { close: false }) + SMUGGLED, expect: fwd('GET', 'conn-cl-get', SMUGGLED.length) },
  { name: 'Connection: content-length on POST', payload: head('POST', 'conn-cl-post', `Content-Length: ${SMUGGLED.length}\r\nConnection: content-length, close\r\n`, { close: false }) + SMUGGLED, expect: fwd('POST', 'conn-cl-post', SMUGGLED.length) },
  { name: 'Connection: content-length with a slow smuggled request', payload: head('GET', 'conn-cl-slow', `Content-Length: ${SLOW.length}\r\nConnection: content-length, close\r\n`, { close: false }) + SLOW, expect: fwd('GET', 'conn-cl-slow', SLOW.length) },
  { name: 'Connection: content-length with an incomplete smuggled request', payload: head('DELETE', 'conn-cl-incomplete', `Content-Length: ${INCOMPLETE.length}\r\nConnection: content-length, close\r\n`, { close: false }) + INCOMPLETE, expect: fwd('DELETE', 'conn-cl-incomplete', INCOMPLETE.length) },
  { name: 'Connection: transfer-encoding on GET', payload: head('GET', 'conn-te-get', 'Transfer-Encoding: chunked\r\nConnection: transfer-encoding, close\r\n', { close: false }) + chunked(SMUGGLED), expect: fwd('GET', 'conn-te-get', SMUGGLED.length) },
  { name: 'Connection: host', payload: head('GET', 'conn-host', 'Connection: host, close\r\n', { close: false }), expect: fwd('GET', 'conn-host', 0) },
  // Bodies on methods that usually have none: forwarded with the gateway's own framing.
  ...['GET', 'HEAD', 'DELETE', 'OPTIONS'].flatMap((m): Case[] => [
    { name: `${m} with a Content-Length body`, payload: head(m, `${m.toLowerCase()}-cl`, `Content-Length: ${SMUGGLED.length}\r\n`) + SMUGGLED, expect: fwd(m, `${m.toLowerCase()}-cl`, SMUGGLED.length) },
    { name: `${m} with a chunked body`, payload: head(m, `${m.toLowerCase()}-te`, 'Transfer-Encoding: chunked\r\n') + chunked(SMUGGLED), expect: fwd(m, `${m.toLowerCase()}-te`, SMUGGLED.length) },
  ]),
  { name: 'GET with a slow smuggled request as its chunked body', payload: head('GET', 'get-slow', 'Transfer-Encoding: chunked\r\n') + chunked(SLOW), expect: fwd('GET', 'get-slow', SLOW.length) },
  { name: 'GET with an incomplete smuggled request as its chunked body', payload: head('GET', 'get-incomplete', 'Transfer-Encoding: chunked\r\n') + chunked(INCOMPLETE), expect: fwd('GET', 'get-incomplete', INCOMPLETE.length) },
  // HTTP/1.0 (RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing).
  { name: 'HTTP/1.0 POST with Transfer-Encoding', payload: head('POST', 'h10-te', 'Transfer-Encoding: chunked\r\n', { version: '1.0', close: false }) + chunked(SMUGGLED), expect: REFUSED },
  { name: 'HTTP/1.0 GET with Transfer-Encoding', payload: head('GET', 'h10-te-get', 'Transfer-Encoding: chunked\r\n', { version: '1.0', close: false }) + chunked(SMUGGLED), expect: REFUSED },
  { name: 'HTTP/1.0 GET with Content-Length', payload: head('GET', 'h10-cl', `Content-Length: ${SMUGGLED.length}\r\n`, { version: '1.0', close: false }) + SMUGGLED, expect: fwd('GET', 'h10-cl', SMUGGLED.length) },
  // Content-Length values.
  { name: 'Content-Length twice, same value', payload: head('POST', 'cl-dup', 'Content-Length: 3\r\nContent-Length: 3\r\n') + 'abc', expect: REFUSED },
  { name: 'Content-Length twice, different values', payload: head('POST', 'cl-diff', `Content-Length: 3\r\nContent-Length: ${SMUGGLED.length}\r\n`) + SMUGGLED, expect: REFUSED },
  { name: 'Content-Length as a list', payload: head('POST', 'cl-list', 'Content-Length: 3, 3\r\n') + 'abc', expect: REFUSED },
  ...['+3', '-1', '0x3', '3 3', '', '99999999999999999999999'].map((v): Case => ({
    name: `Content-Length: ${JSON.stringify(v)}`,
    payload: head('POST', 'cl-bad', `Content-Length: ${v}\r\n`) + 'abc',
    expect: REFUSED,
  })),
  { name: 'Content-Length with leading zeros (re-framed)', payload: head('POST', 'cl-zeros', 'Content-Length: 0003\r\n') + 'abc', expect: fwd('POST', 'cl-zeros', 3) },
  // Pipelined requests on one client connection.
  {
    name: 'pipelined: POST, GET, chunked POST, GET with a body',
    payload:
      head('POST', 'pipe-1', 'Content-Length: 3\r\n', { close: false }) +
      'abc' +
      head('GET', 'pipe-2', '', { close: false }) +
      head('POST', 'pipe-3', 'Transfer-Encoding: chunked\r\n', { close: false }) +
      chunked('hello') +
      head('GET', 'pipe-4', `Content-Length: ${SMUGGLED.length}\r\n`) +
      SMUGGLED,
    expect: { forward: [{ method: 'POST', marker: 'pipe-1', bodyLength: 3 }, { method: 'GET', marker: 'pipe-2', bodyLength: 0 }, { method: 'POST', marker: 'pipe-3', bodyLength: 5 }, { method: 'GET', marker: 'pipe-4', bodyLength: SMUGGLED.length }] },
  },
  {
    name: 'pipelined: GET with a chunked slow smuggled request, then GET',
    payload: head('GET', 'pipe-slow', 'Transfer-Encoding: chunked\r\n', { close: false }) + chunked(SLOW) + head('GET', 'pipe-after'),
    expect: { forward: [{ method: 'GET', marker: 'pipe-slow', bodyLength: SLOW.length }, { method: 'GET', marker: 'pipe-after', bodyLength: 0 }] },
  },
  {
    name: 'pipelined: a refused request, then a valid one (never forwarded)',
    payload: head('POST', 'pipe-refused', 'Transfer-Encoding: identity, chunked\r\n', { close: false }) + chunked('abc') + head('GET', 'pipe-behind'),
    expect: REFUSED,
  },
];

describe('request smuggling through the proxy (raw bytes, real gateway, keep-alive backend)', function () {
  this.timeout(30_000);
  const ctx = useEtcd();
  let env: string;
  let backend: RecordingBackend;
  let g: StartedGateway;
  let canaries = 0;

  before(async () => {
    env = uniqueEnv('smuggle');
    backend = await startRecordingBackend();
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU')],
      services: [{ name: 'catalog', basePath: '/catalog/v1', placement: 'regional', deployments: [{ region: 'eu-west', upstreams: [backend.url] }] }],
    });
  });
  // A gateway per case, so an upstream connection one case left desynchronised cannot fail the next.
  beforeEach(async () => {
    g = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-1', maxBodyBytes: 64 * 1024 });
  });
  afterEach(async () => {
    await g?.close();
  });
  after(async () => {
    await backend?.close();
    const refused = cases.filter((c) => 'refuse' in c.expect).length;
    console.log(`      ${cases.length} framings sent as raw bytes: ${refused} refused with 400 and the connection closed, ${cases.length - refused} re-framed; ${canaries} callers after them each got their own answer`);
  });

  /** A plain request on a new connection must get its own answer, and be the only thing the backend sees. */
  async function canary(): Promise<RecordedRequest> {
    const marker = `canary-${++canaries}`;
    const before = backend.received.length;
    const reply = await rawRequest(g.url, head('GET', marker));
    const [res] = parseResponses(reply.text).responses;
    expect(res?.status, `canary: ${reply.text.slice(0, 300)}`).to.equal(200);
    expect(JSON.parse(res.body).marker, 'the canary got another request\'s answer').to.equal(marker);
    await waitFor(() => backend.received.length > before, { what: 'the canary at the backend' });
    const seen = backend.received.slice(before);
    expect(seen.map((r) => r.marker), 'the backend saw more than the canary').to.deep.equal([marker]);
    return seen[0];
  }

  for (const c of cases) {
    it(c.name, async () => {
      const before = backend.received.length;
      const parseErrors = backend.parseErrors.length;
      const reply = await rawRequest(g.url, c.payload);
      if ('refuse' in c.expect) {
        expect(reply.status, reply.text.slice(0, 300)).to.equal(c.expect.refuse);
        expect(reply.closed, 'the connection must be closed after a refusal').to.equal(true);
        expect(parseResponses(reply.text).responses, 'one answer, then the close').to.have.length(1);
        await canary();
        expect(backend.received.slice(before, -1), 'nothing of a refused request reaches the backend').to.deep.equal([]);
      } else {
        const want = c.expect.forward;
        const { responses } = parseResponses(reply.text, want.map((w) => w.method));
        expect(responses.map((r) => r.status), reply.text.slice(0, 400)).to.deep.equal(want.map(() => 200));
        expect(responses.map((r) => r.headers['x-marker-echo']?.[0]), 'each client request gets its own answer').to.deep.equal(want.map((w) => w.marker));
        await waitFor(() => backend.received.length >= before + want.length, { what: 'the forwarded requests at the backend' });
        const last = await canary();
        const seen = backend.received.slice(before, -1);
        // Pipelined requests are forwarded side by side: the order they reach the backend is free.
        const byMarker = (a: { marker?: string }, b: { marker?: string }) => String(a.marker).localeCompare(String(b.marker));
        expect(
          seen.map((r) => ({ method: r.method, url: r.url, marker: r.marker, bodyLength: r.bodyLength })).sort(byMarker),
          'the backend must see exactly the client requests, inside the base path, with their bodies',
        ).to.deep.equal(want.map((w) => ({ method: w.method, url: `/catalog/v1/${w.marker}`, marker: w.marker, bodyLength: w.bodyLength })).sort(byMarker));
        for (const r of seen) {
          expect(r.headers.host, 'Host is the upstream\'s').to.equal(backend.host);
          expect(r.headers['x-forwarded-for'], 'forwarded by the gateway').to.be.a('string');
          expect(r.headers.forwarded, 'forwarded by the gateway').to.match(/by=_gw-1/);
        }
        // The canary went over a pooled connection the case used: a desynchronised one would have shown.
        expect(seen.map((r) => r.connection), 'an upstream connection is reused after a clean exchange').to.include(last.connection);
      }
      expect(backend.parseErrors.slice(parseErrors), 'the backend never saw bytes that were not HTTP').to.deep.equal([]);
    });
  }
});

describe('upstream connections after an exchange that did not end cleanly', function () {
  this.timeout(30_000);
  const ctx = useEtcd();
  let backend: RecordingBackend;
  let g: StartedGateway;

  before(async () => {
    const env = uniqueEnv('reuse');
    backend = await startRecordingBackend();
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU')],
      services: [{ name: 'catalog', basePath: '/catalog/v1', placement: 'regional', deployments: [{ region: 'eu-west', upstreams: [backend.url] }] }],
    });
    g = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-1', upstreamTimeoutMs: 500, maxBodyBytes: 1024 * 1024 });
  });
  after(async () => {
    await g?.close();
    await backend?.close();
  });

  /** Runs `exchange`, then checks the upstream connection it used was closed and the next caller gets its own answer on another. */
  async function neverReused(marker: string, exchange: () => Promise<void>): Promise<void> {
    const closedBefore = backend.closedConnections.length;
    await exchange();
    await waitFor(() => backend.closedConnections.length > closedBefore, { what: `the upstream connection of ${marker} to be closed` });
    const before = backend.received.length;
    const reply = await rawRequest(g.url, head('GET', `after-${marker}`));
    const [res] = parseResponses(reply.text).responses;
    expect(res?.status, reply.text.slice(0, 300)).to.equal(200);
    expect(res.headers['x-marker-echo']?.[0], 'the next caller gets its own answer').to.equal(`after-${marker}`);
    const after = backend.received.slice(before);
    expect(after.map((r) => r.marker)).to.deep.equal([`after-${marker}`]);
    expect(backend.closedConnections, 'the next caller went over a live connection').to.not.include(after[0].connection);
  }

  it('when the client goes away mid-response', async () => {
    await neverReused('client-abort', async () => {
      const url = new URL(g.url);
      const socket = connect(Number(url.port), url.hostname);
      socket.on('error', () => undefined);
      socket.write('GET /catalog/v1/stream?chunks=50&delayMs=100 HTTP/1.1\r\nHost: gw\r\nX-Marker: client-abort\r\n\r\n');
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.destroy();
    });
  });

  it('when the upstream does not answer in time (504), so its late answer never reaches the next caller', async () => {
    await neverReused('timeout', async () => {
      const reply = await rawRequest(g.url, head('GET', 'timeout').replace('/catalog/v1/timeout', '/catalog/v1/slow?ms=1500'));
      expect(reply.status).to.equal(504);
    });
  });

  it('when the upstream cuts its response short', async () => {
    await neverReused('truncated', async () => {
      const reply = await rawRequest(g.url, head('GET', 'truncated'));
      expect(reply.closed).to.equal(true);
      expect(parseResponses(reply.text).responses, 'no complete response').to.have.length(0);
    });
  });

  it('when the client goes away mid-upload', async () => {
    await neverReused('upload-abort', async () => {
      const url = new URL(g.url);
      const socket = connect(Number(url.port), url.hostname);
      socket.on('error', () => undefined);
      socket.write(head('POST', 'upload-abort', 'Content-Length: 500000\r\n', { close: false }) + 'x'.repeat(200_000));
      const started = backend.started();
      // Leave once the gateway streams it on.
      await waitFor(() => backend.started() > started, { what: 'the upload to reach the backend' });
      socket.destroy();
    });
  });
});

describe('error answers written straight onto a client connection', function () {
  this.timeout(30_000);
  const ctx = useEtcd();
  let backend: RecordingBackend;
  let g: StartedGateway;

  before(async () => {
    const env = uniqueEnv('clienterr');
    backend = await startRecordingBackend();
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU')],
      services: [{ name: 'catalog', basePath: '/catalog/v1', placement: 'regional', deployments: [{ region: 'eu-west', upstreams: [backend.url] }] }],
    });
    g = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-1' });
  });
  after(async () => {
    await g?.close();
    await backend?.close();
  });

  it('never answers a parse error in the place of an earlier pipelined request still in flight', async () => {
    const reply = await rawRequest(g.url, head('GET', 'inflight', '', { close: false }).replace('/catalog/v1/inflight', '/catalog/v1/slow?ms=300') + 'NOT HTTP AT ALL\r\n\r\n');
    expect(reply.closed).to.equal(true);
    const { responses } = parseResponses(reply.text);
    // The connection may be cut, but whatever answer comes is the in-flight request's own.
    for (const r of responses) expect([r.status, r.headers['x-marker-echo']?.[0]], reply.text.slice(0, 300)).to.deep.equal([200, 'inflight']);
  });

  it('never writes an error answer into a response already under way', async () => {
    const url = new URL(g.url);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    // Past the gateway's buffer (64 KiB), so the body streams and the upstream answers before it ends.
    const big = 'z'.repeat(70_000);
    socket.write(`POST /catalog/v1/early?ms=2000 HTTP/1.1\r\nHost: gw.example\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n`);
    await waitFor(() => text.includes('early\n'), { what: 'the upstream answer to start' });
    socket.write('not a chunk size\r\n');
    await closed;
    expect(text.match(/HTTP\/1\.[01] \d{3}/g), text.slice(0, 400)).to.deep.equal(['HTTP/1.1 200']);
  });
});
