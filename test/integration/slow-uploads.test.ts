import { expect } from 'chai';
import type { ApiError } from '../../openapi/index.js';
import { startGateway, writeTopology, type StartedGateway } from '../support/gateway.js';
import { parseResponses, slowUpload, type RawReply } from '../support/raw-http.js';
import { startRecordingBackend, type RecordingBackend } from '../support/recording-backend.js';
import { region, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** Small limits, so the slow clients are cut in about a second. */
const LIMITS = {
  upstreamMaxSockets: 8,
  bodyBufferBytes: 1024,
  bodyTimeoutMs: 1000,
  bodyMinBytesPerSecond: 1024,
  // 2 of the 8 sockets.
  upstreamUploadShare: 0.25,
  maxBodyBytes: 128 * 1024 * 1024,
};

const upload = (path: string, framing: string) => `POST ${path} HTTP/1.1\r\nHost: gw.example\r\n${framing}\r\n`;

function errorCode(reply: RawReply): string | undefined {
  const [res] = parseResponses(reply.text).responses;
  return res ? (JSON.parse(res.body) as ApiError).code : undefined;
}

/** Ordinary GETs, all at once; each must answer well before any slow client would be done (0: no answer in 5 s). */
async function ordinaryGets(url: string, n: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      try {
        const res = await fetch(`${url}/catalog/v1/items/${i}`, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        return res.status;
      } catch {
        return 0;
      }
    }),
  );
}

/** The slow clients' answers, or a failure naming how many were still waiting after `ms`. */
async function answers(slow: Array<{ reply: Promise<RawReply> }>, ms = 10_000): Promise<RawReply[]> {
  const done: RawReply[] = [];
  for (const s of slow) void s.reply.then((r) => done.push(r));
  await waitFor(() => done.length === slow.length, { timeoutMs: ms, what: `the slow clients to be answered (${slow.length})` }).catch(() => {
    throw new Error(`${slow.length - done.length} of ${slow.length} slow clients still held after ${ms} ms; answered: ${done.map((r) => r.status).join(', ')}`);
  });
  return Promise.all(slow.map((s) => s.reply));
}

describe('slow uploads and upstream socket shares (real gateway, real backend)', function () {
  this.timeout(30_000);
  const ctx = useEtcd();
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()!();
  });

  async function setup(services: string[] = ['catalog']): Promise<{ g: StartedGateway; backend: RecordingBackend }> {
    const env = uniqueEnv('slow');
    const backend = await startRecordingBackend();
    cleanup.push(() => backend.close());
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU')],
      services: services.map((name) => ({ name, basePath: `/${name}/v1`, placement: 'regional' as const, deployments: [{ region: 'eu-west', upstreams: [backend.url] }] })),
    });
    const g = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-1', ...LIMITS });
    cleanup.push(() => g.close());
    return { g, backend };
  }

  it('keeps trickling bodies off upstream sockets: ordinary GETs succeed, the slow clients get 408', async () => {
    const { g, backend } = await setup();
    // 1 byte every 200 ms: a 100-byte body would take 20 s.
    const slow = [
      ...Array.from({ length: 60 }, () => slowUpload(g.url, upload('/catalog/v1/upload', 'Content-Length: 100\r\n'), 'x'.repeat(100), { intervalMs: 200 })),
      ...Array.from({ length: 4 }, () => slowUpload(g.url, upload('/catalog/v1/upload', 'Transfer-Encoding: chunked\r\n'), '1\r\nx\r\n'.repeat(20) + '0\r\n\r\n', { intervalMs: 200 })),
    ];
    cleanup.push(() => slow.forEach((s) => s.socket.destroy()));
    await waitFor(() => slow.every((s) => s.socket.bytesWritten > 0), { what: 'every slow uploader to have started' });

    const statuses = await ordinaryGets(g.url, 20);
    expect(statuses, 'ordinary GETs while 64 uploads trickle').to.deep.equal(statuses.map(() => 200));

    const replies = await answers(slow);
    for (const r of replies) {
      expect(r.status, r.text.slice(0, 200)).to.equal(408);
      expect(errorCode(r)).to.equal('REQUEST_TIMEOUT');
      // Cut by the body deadline, long before the 20 s the body would take.
      expect(r.ms).to.be.below(10_000);
    }
    expect(backend.received.filter((r) => r.method === 'POST'), 'no trickling body reached the backend').to.deep.equal([]);
    expect(backend.started(), 'only the GETs took upstream sockets').to.equal(20);
    console.log(`      64 slow uploads cut with 408 after ${Math.min(...replies.map((r) => r.ms))}–${Math.max(...replies.map((r) => r.ms))} ms; 20 GETs meanwhile all 200`);
  });

  it('cuts streamed uploads below the minimum rate with 408, and never lets them hold more than their share of sockets', async () => {
    const { g, backend } = await setup();
    // Past the buffer at once (so they stream), then 1 byte every 100 ms.
    const slow = Array.from({ length: 5 }, () =>
      slowUpload(g.url, upload('/catalog/v1/big', 'Content-Length: 100000\r\n'), 'y'.repeat(100_000), { intervalMs: 100, burst: 4096 }),
    );
    cleanup.push(() => slow.forEach((s) => s.socket.destroy()));
    await waitFor(() => backend.started() >= 2, { what: 'two uploads to stream to the backend' });
    expect(backend.started(), 'uploads streaming to the backend').to.equal(2);

    const statuses = await ordinaryGets(g.url, 20);
    expect(statuses, 'ordinary GETs while uploads trickle').to.deep.equal(statuses.map(() => 200));

    const replies = await answers(slow);
    const outcomes = replies.map((r) => `${r.status} ${errorCode(r)}`).sort();
    // The upload share of 8 sockets is 2: the other three are refused at once.
    expect(outcomes).to.deep.equal(['408 REQUEST_TIMEOUT', '408 REQUEST_TIMEOUT', '503 UPLOADS_BUSY', '503 UPLOADS_BUSY', '503 UPLOADS_BUSY']);
    for (const r of replies) expect(r.ms).to.be.below(10_000);
    // The two that streamed were aborted upstream, never completed with a short body.
    expect(backend.received.filter((r) => r.method === 'POST')).to.deep.equal([]);
    expect(backend.started(), 'two uploads and the GETs reached the backend').to.equal(22);

    // Their slots are free again: an upload at a normal pace streams, under its Content-Length.
    const body = 'w'.repeat(100_000);
    const res = await fetch(`${g.url}/catalog/v1/big`, { method: 'POST', body, signal: AbortSignal.timeout(5000) });
    expect(res.status).to.equal(200);
    const [stored] = backend.received.filter((r) => r.method === 'POST');
    expect([stored.bodyLength, stored.headers['content-length'], stored.headers['transfer-encoding']]).to.deep.equal([100_000, '100000', undefined]);
  });

  it('never counts against a client the time the upstream held its body back', async () => {
    const { g, backend } = await setup();
    // Far more than the socket buffers hold, sent at full speed to an upstream that reads nothing
    // for 2.5 bodyTimeoutMs windows: the client is held back by the upstream, not slow.
    const body = Buffer.alloc(64 * 1024 * 1024, 'v');
    const res = await fetch(`${g.url}/catalog/v1/stall?ms=2500`, { method: 'POST', body, signal: AbortSignal.timeout(20_000) });
    expect(res.status, await res.clone().text()).to.equal(200);
    expect(((await res.json()) as { bodyLength: number }).bodyLength).to.equal(body.length);
    expect(backend.received.map((r) => r.bodyLength)).to.deep.equal([body.length]);
  });

  it('gives each service its own share of upstream sockets, even on a shared backend', async () => {
    const { g, backend } = await setup(['catalog', 'orders']);
    // More held calls to catalog than it has sockets (8): they hold all of them, and two wait.
    const held = Array.from({ length: 10 }, () =>
      fetch(`${g.url}/catalog/v1/hold`, { signal: AbortSignal.timeout(15_000) }).then(async (res) => {
        await res.arrayBuffer();
        return res.status;
      }),
    );
    cleanup.push(() => backend.releaseHeld());
    await waitFor(() => backend.started() >= LIMITS.upstreamMaxSockets, { what: 'catalog to hold all its sockets' });
    const res = await fetch(`${g.url}/orders/v1/x`, { signal: AbortSignal.timeout(5000) }).catch((err: Error) => err);
    expect(res instanceof Response ? res.status : res.message, 'orders while catalog holds every socket of its pool').to.equal(200);
    expect(backend.started(), 'catalog never got more than its sockets').to.equal(LIMITS.upstreamMaxSockets + 1);
    // Each release lets the waiting calls take a freed socket; release until all ten are answered.
    let answered = 0;
    void Promise.all(held).then(() => (answered = held.length));
    await waitFor(
      () => {
        backend.releaseHeld();
        return answered === held.length;
      },
      { what: 'the held catalog calls to be answered' },
    );
    expect(await Promise.all(held)).to.deep.equal(held.map(() => 200));
  });
});
