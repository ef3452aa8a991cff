import { expect } from 'chai';
import type { ApiError } from '../../openapi/index.js';
import { adminCall } from '../support/admin-api.js';
import { startBackend, startGateway, writeTopology, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { rawRequest, slowHeaders, type RawReply } from '../support/raw-http.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { region, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

const HEADERS_TIMEOUT_MS = 1000;
const MAX_LONG_POLLS = 20;

/** A raw request line and headers, ending the head; `extra` goes in verbatim. */
const head = (line: string, extra = '') => `${line}\r\nHost: h\r\n${extra}Connection: close\r\n\r\n`;

/** The answer must be a 4xx/5xx in `allowed` (a JSON error body when the application answered). */
function expectRefused(name: string, reply: RawReply, allowed: number[]): void {
  expect(allowed, `${name}: got ${JSON.stringify(reply.text.slice(0, 200))}`).to.include(reply.status);
}

/**
 * Hostile HTTP against a gateway and the registry, over raw sockets where a client library would
 * refuse to send it. gateway.test.ts already covers traversal, absolute-form targets, 413/431,
 * request smuggling and garbage; the cases here add slow clients, CRLF tricks, Host tricks on
 * discovery, long-poll floods, and the registry's side of all of it. After each, the process must
 * still answer.
 */
describe('HTTP abuse against the gateway and the registry', function () {
  this.timeout(30_000);
  const ctx = useEtcd();
  let g: StartedGateway;
  let backend: TestBackend;
  let reg: TestRegistry;

  before(async () => {
    const env = uniqueEnv('abuse');
    backend = await startBackend('eu');
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU')],
      services: [{ name: 'catalog', basePath: '/catalog/v1', placement: 'regional', deployments: [{ region: 'eu-west', upstreams: [backend.url] }] }],
    });
    g = await startGateway({
      etcd: ctx.etcd.endpoints,
      environment: env,
      region: 'eu-west',
      id: 'gw-1',
      maxLongPolls: MAX_LONG_POLLS,
      // Every test client is 127.0.0.1: the global limit is what is tested here.
      maxLongPollsPerClient: MAX_LONG_POLLS,
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      requestTimeoutMs: 2000,
      maxBodyBytes: 4096,
      maxHeaderBytes: 4096,
    });
    reg = await startRegistry({ endpoints: ctx.etcd.endpoints, maxBodyBytes: 64 * 1024 });
  });
  after(async () => {
    await g?.close();
    await reg?.close();
    await backend?.close();
  });

  async function stillServing(): Promise<void> {
    expect((await fetch(`${g.url}/healthz`)).status, 'gateway /healthz').to.equal(200);
    expect((await fetch(`${g.url}/catalog/v1/ok`)).status, 'gateway proxying').to.equal(200);
    expect((await fetch(`${reg.url}/healthz`)).status, 'registry /healthz').to.equal(200);
    expect((await adminCall(reg.url, 'GET', '/v1/environments', { token: reg.adminToken })).status, 'registry API').to.equal(200);
  }

  const malformed: [string, string, number[]][] = [
    // Absolute form is accepted (RFC 9112 §3.2.2) but routed by its path alone: nothing is at these paths.
    ['absolute-form target', head('GET http://evil/ HTTP/1.1'), [404]],
    ['absolute-form to the metadata service', head('GET http://169.254.169.254/latest/meta-data HTTP/1.1'), [404]],
    ['absolute-form with credentials', head('GET http://user:pw@evil/ HTTP/1.1'), [400]],
    ['bare CR in a header value', head('GET /catalog/v1/x HTTP/1.1', 'X-A: b\rInjected: c\r\n'), [400]],
    ['bare LF in a header value', head('GET /catalog/v1/x HTTP/1.1', 'X-A: b\nInjected: c\r\n'), [400]],
    ['NUL in a header value', head('GET /catalog/v1/x HTTP/1.1', 'X-A: b\u0000c\r\n'), [400]],
    ['space in a header name', head('GET /catalog/v1/x HTTP/1.1', 'X A: b\r\n'), [400]],
    ['CRLF encoded in the path', head('GET /catalog/v1/x%0d%0aSet-Cookie:%20a=b HTTP/1.1'), [200, 400]],
    ['two Host headers', 'GET /catalog/v1/x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n', [400]],
    ['no Host header', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', [400]],
    ['encoded traversal', head('GET /catalog/v1/%2e%2e/%2e%2e/etc/passwd HTTP/1.1'), [400]],
    ['encoded slash traversal', head('GET /catalog/v1/..%2f..%2fadmin HTTP/1.1'), [400]],
    ['traversal under .well-known', head('GET /.well-known/topology/services/..%2f..%2fx HTTP/1.1'), [400, 404]],
    ['oversized head', head('GET /catalog/v1/x HTTP/1.1', `X-Big: ${'a'.repeat(8000)}\r\n`), [431]],
    ['oversized body', head('POST /catalog/v1/x HTTP/1.1', 'Content-Length: 100000\r\n') + 'x'.repeat(5000), [413]],
    ['negative Content-Length', head('POST /catalog/v1/x HTTP/1.1', 'Content-Length: -1\r\n'), [400]],
    ['HTTP/2 preface on HTTP/1', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', [400, 505]],
    ['unknown HTTP version', head('GET /healthz HTTP/9.9'), [400, 505]],
    ['POST to the topology document', head('POST /.well-known/topology HTTP/1.1', 'Content-Length: 2\r\n') + '{}', [405]],
  ];

  it('answers malformed and hostile requests with a clear 4xx, reaching no backend, and keeps serving', async () => {
    const before = backend.received.length;
    for (const [name, payload, allowed] of malformed) {
      const reply = await rawRequest(g.url, payload);
      expectRefused(name, reply, allowed);
      if (reply.status === 400 && /\r\n\r\n\{/.test(reply.text)) expect(reply.text, name).to.match(/"code":"BAD_REQUEST"/);
    }
    // Only the CRLF-in-path request may reach the backend, with the CRLF still encoded.
    const reached = backend.received.slice(before);
    expect(reached.every((r) => r.url.includes('%0d%0a')), JSON.stringify(reached.map((r) => r.url))).to.equal(true);
    await stillServing();
  });

  it('builds discovery answers from its own public URL, whatever Host or X-Forwarded-Host say', async () => {
    for (const extra of ['Host: evil.example\r\n', 'X-Forwarded-Host: evil.example\r\nForwarded: host=evil.example\r\n']) {
      const payload = `GET /.well-known/topology HTTP/1.1\r\n${extra.startsWith('Host') ? '' : 'Host: h\r\n'}${extra}Connection: close\r\n\r\n`;
      const reply = await rawRequest(g.url, payload);
      expect(reply.status).to.equal(200);
      expect(reply.text).to.not.include('evil.example');
      expect(reply.text).to.include(g.url);
    }
  });

  it('cuts slow-loris clients after its headers timeout and serves others meanwhile', async () => {
    const slow = Array.from({ length: 10 }, () => slowHeaders(g.url, 200, 100));
    try {
      // Served promptly while ten slow clients hold connections.
      const started = Date.now();
      expect((await fetch(`${g.url}/healthz`)).status).to.equal(200);
      const servedMs = Date.now() - started;
      const replies = await Promise.all(slow.map((s) => s.reply));
      for (const r of replies) {
        expect(r.status, r.text.slice(0, 100)).to.equal(408);
        // node checks timeouts every headersTimeout/4 now (every 30 s before the gateway set it).
        expect(r.ms).to.be.below(HEADERS_TIMEOUT_MS * 2 + 500);
      }
      console.log(`      slow-loris: 10 clients cut with 408 after ${Math.min(...replies.map((r) => r.ms))}–${Math.max(...replies.map((r) => r.ms))} ms (headers timeout ${HEADERS_TIMEOUT_MS} ms); /healthz meanwhile in ${servedMs} ms`);
    } finally {
      for (const s of slow) s.socket.destroy();
    }
    await stillServing();
  });

  it(`refuses long-polls past maxLongPolls (${MAX_LONG_POLLS}) with 503 and Retry-After, and frees them when clients leave`, async () => {
    const rev = g.gateway.revision;
    const controllers = Array.from({ length: MAX_LONG_POLLS + 15 }, () => new AbortController());
    const polls = controllers.map((c) =>
      fetch(`${g.url}/.well-known/topology?wait=${rev}&timeout=20`, { signal: c.signal }).then(
        async (res) => ({ status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as ApiError }),
        () => ({ status: 0, retryAfter: null, body: undefined }),
      ),
    );
    try {
      await waitFor(() => g.gateway.heldLongPolls === MAX_LONG_POLLS, { what: 'the gateway to hold its maximum of long-polls' });
      const refused = await waitFor(
        async () => {
          const settled = await Promise.all(polls.map((p) => Promise.race([p, new Promise<undefined>((r) => setImmediate(() => r(undefined)))])));
          const done = settled.filter((x) => x !== undefined);
          return done.length === 15 ? done : undefined;
        },
        { what: 'the extra long-polls to be refused' },
      );
      for (const r of refused) {
        expect(r!.status).to.equal(503);
        expect(r!.body?.code).to.equal('TOO_MANY_LONG_POLLS');
        expect(Number(r!.retryAfter)).to.be.at.least(1);
      }
      // A plain fetch is still served while every long-poll slot is taken.
      expect((await fetch(`${g.url}/.well-known/topology`)).status).to.equal(200);
    } finally {
      for (const c of controllers) c.abort();
      await Promise.all(polls);
    }
    await waitFor(() => g.gateway.heldLongPolls === 0, { what: 'held long-polls to be released by disconnects' });
    await stillServing();
  });

  it('registry: refuses oversized, malformed, mistyped and traversing requests with clear 4xx errors', async () => {
    const token = reg.adminToken;
    const env = uniqueEnv('abuse');
    const cases: [string, () => Promise<{ status: number; code?: string }>, number, string?][] = [
      ['apply without a token, oversized', () => adminCall<ApiError>(reg.url, 'POST', `/v1/environments/${env}/apply`, { body: 'x'.repeat(200_000) }).then((r) => ({ status: r.status, code: r.body.code })), 401, 'UNAUTHORIZED'],
      ['oversized apply', () => adminCall<ApiError>(reg.url, 'POST', `/v1/environments/${env}/apply`, { token, body: 'x'.repeat(200_000) }).then((r) => ({ status: r.status, code: r.body.code })), 413, 'PAYLOAD_TOO_LARGE'],
      [
        'oversized chunked apply',
        async () => {
          const chunk = 'y'.repeat(16 * 1024);
          const body = `${Array.from({ length: 8 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('')}0\r\n\r\n`;
          const r = await rawRequest(reg.url, head(`POST /v1/environments/${env}/apply HTTP/1.1`, `Authorization: Bearer ${token}\r\nContent-Type: application/yaml\r\nTransfer-Encoding: chunked\r\n`) + body);
          return { status: r.status, code: /"code":"([A-Z_]+)"/.exec(r.text)?.[1] };
        },
        413,
        'PAYLOAD_TOO_LARGE',
      ],
      ['malformed JSON apply', () => adminCall<ApiError>(reg.url, 'POST', `/v1/environments/${env}/apply`, { token, type: 'application/json', body: '{"documents": [' }).then((r) => ({ status: r.status, code: r.body.code })), 422, 'VALIDATION_FAILED'],
      ['non-UTF-8 apply', () => adminCall<ApiError>(reg.url, 'POST', `/v1/environments/${env}/apply`, { token, body: '\udcff\ud800 apiVersion' }).then((r) => ({ status: r.status, code: r.body.code })), 422, 'VALIDATION_FAILED'],
      ['malformed JSON promotion', () => adminCall<ApiError>(reg.url, 'POST', '/v1/promotions', { token, type: 'application/json', body: '{"from": "a",' }).then((r) => ({ status: r.status, code: r.body.code })), 400, 'BAD_REQUEST'],
      ['promotion with a prototype key', () => adminCall<ApiError>(reg.url, 'POST', '/v1/promotions', { token, type: 'application/json', body: '{"from":"a","to":"b","__proto__":{"admin":true}}' }).then((r) => ({ status: r.status, code: r.body.code })), 400, 'BAD_REQUEST'],
      ['text/plain apply', () => adminCall<ApiError>(reg.url, 'POST', `/v1/environments/${env}/apply`, { token, type: 'text/plain', body: 'a: 1' }).then((r) => ({ status: r.status, code: r.body.code })), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['multipart apply', () => adminCall<ApiError>(reg.url, 'POST', `/v1/environments/${env}/apply`, { token, type: 'multipart/form-data; boundary=x', body: '--x--' }).then((r) => ({ status: r.status, code: r.body.code })), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['YAML promotion', () => adminCall<ApiError>(reg.url, 'POST', '/v1/promotions', { token, type: 'application/yaml', body: 'from: a' }).then((r) => ({ status: r.status, code: r.body.code })), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      ['encoded traversal in the environment', () => adminCall<ApiError>(reg.url, 'GET', '/v1/environments/..%2f..%2fetc/topology', { token }).then((r) => ({ status: r.status, code: r.body.code })), 400, 'INVALID_NAME'],
      // The router does not decode %2e%2e into a parameter: no route matches.
      ['dot-dot environment', () => adminCall<ApiError>(reg.url, 'GET', '/v1/environments/%2e%2e/status', { token }).then((r) => ({ status: r.status, code: r.body.code })), 404, 'NOT_FOUND'],
      ['bad boolean flag', () => adminCall<ApiError>(reg.url, 'POST', `/v1/environments/${env}/apply?dryRun=maybe`, { token, body: 'a: 1' }).then((r) => ({ status: r.status, code: r.body.code })), 400, 'BAD_REQUEST'],
      ['10 KB bearer token', () => adminCall<ApiError>(reg.url, 'GET', '/v1/environments', { token: 'x'.repeat(10_000) }).then((r) => ({ status: r.status, code: r.body.code })), 401, 'UNAUTHORIZED'],
    ];
    for (const [name, run, status, code] of cases) {
      const r = await run();
      expect([r.status, r.code], name).to.deep.equal([status, code]);
    }
    for (const [name, payload, allowed] of [
      ['absolute-form target', head('GET http://evil/v1/environments HTTP/1.1'), [401]],
      ['bare CR in a header', head('GET /v1/environments HTTP/1.1', 'X-A: b\rInjected: c\r\n'), [400]],
      ['oversized head', head('GET /v1/environments HTTP/1.1', `X-Big: ${'a'.repeat(20_000)}\r\n`), [431]],
      ['no Host header', 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', [400]],
      ['garbage', 'NOT HTTP AT ALL\r\n\r\n', [400]],
    ] as const) {
      expectRefused(name, await rawRequest(reg.url, payload), [...allowed]);
    }
    // Ten slow-loris clients do not stop the registry from answering (node's own 60 s headers timeout cuts them later).
    const slow = Array.from({ length: 10 }, () => slowHeaders(reg.url, 200, 50));
    try {
      expect((await fetch(`${reg.url}/healthz`)).status).to.equal(200);
    } finally {
      for (const s of slow) s.socket.destroy();
    }
    expect((await adminCall(reg.url, 'GET', `/v1/environments/${env}/status`, { token })).status).to.be.oneOf([200, 404]);
    await stillServing();
  });
});
