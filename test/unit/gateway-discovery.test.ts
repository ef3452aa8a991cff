import { expect } from 'chai';
import { createServer, get, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Discovery, Publication } from '../../gateway/discovery.js';
import { LongPolls } from '../../gateway/longpoll.js';
import { ifNoneMatchMatches, negotiateEncoding, Representation } from '../../gateway/representation.js';
import { GATEWAY_DEFAULTS, GatewayOptionsError, resolveGatewayOptions, resolveWorkersOptions, WORKERS_DEFAULTS, type GatewayOptions } from '../../gateway/index.js';
import { TopologySnapshot } from '../../store/index.js';
import { region, service } from '../support/store.js';
import { waitFor } from '../support/wait.js';

describe('gateway content negotiation and validators', () => {
  it('prefers br, then gzip, honouring q-values and *', () => {
    expect(negotiateEncoding(undefined)).to.equal('identity');
    expect(negotiateEncoding('gzip, deflate, br')).to.equal('br');
    expect(negotiateEncoding('gzip')).to.equal('gzip');
    expect(negotiateEncoding('br;q=0, gzip')).to.equal('gzip');
    expect(negotiateEncoding('br;q=0.5, gzip;q=0.8')).to.equal('gzip');
    expect(negotiateEncoding('gzip;q=0, br;q=0')).to.equal('identity');
    expect(negotiateEncoding('*')).to.equal('br');
    expect(negotiateEncoding('*;q=0, gzip')).to.equal('gzip');
    expect(negotiateEncoding('identity')).to.equal('identity');
    expect(negotiateEncoding('GZIP')).to.equal('gzip');
    // Bounded: an oversized or many-token header is not parsed (identity is always acceptable).
    expect(negotiateEncoding(`${'x'.repeat(15_000)}, br`)).to.equal('identity');
    expect(negotiateEncoding(`${Array.from({ length: 20 }, (_, i) => `c${i}`).join(', ')}, br`)).to.equal('identity');
  });

  it('derives a strong ETag from the revision and the bytes', () => {
    const options = { contentType: 'application/json', revision: 12, cacheControl: 'public, max-age=5', headers: [] };
    const a = new Representation(Buffer.from('{"a":1}'), options);
    const b = new Representation(Buffer.from('{"a":2}'), options);
    expect(a.etag).to.match(/^"12-[A-Za-z0-9_-]{12}"$/);
    expect(a.etag).not.to.equal(b.etag);
  });

  it('evaluates If-None-Match as a list of entity tags compared weakly (RFC 9110 §13.1.2), never as a substring', () => {
    const etag = '"134-MBofAbCdEfGh"';
    expect(ifNoneMatchMatches(etag, etag)).to.equal(true);
    expect(ifNoneMatchMatches(`W/${etag}`, etag)).to.equal(true);
    expect(ifNoneMatchMatches(`"x", W/"y" ,${etag}`, etag)).to.equal(true);
    expect(ifNoneMatchMatches('*', etag)).to.equal(true);
    expect(ifNoneMatchMatches(' * ', etag)).to.equal(true);
    // Each of these matched before: a substring test.
    expect(ifNoneMatchMatches('"134-MBofAbCdEfGh-bogus"', etag)).to.equal(false);
    expect(ifNoneMatchMatches('"134-MBofAbCdEfGh-br"', etag)).to.equal(false);
    expect(ifNoneMatchMatches(`xx${etag}`, etag)).to.equal(false);
    expect(ifNoneMatchMatches(`${etag} junk`, etag)).to.equal(false);
    expect(ifNoneMatchMatches('"x", *', etag)).to.equal(false);
    expect(ifNoneMatchMatches('', etag)).to.equal(false);
    expect(ifNoneMatchMatches(undefined, etag)).to.equal(false);
  });
});

describe('gateway long-polls', () => {
  it('wakes waiters older than a published revision, times out the rest, and bounds their number', async () => {
    const polls = new LongPolls(2, 2);
    const woken: string[] = [];
    const cancelA = polls.hold(5, 10_000, 'x', (r) => woken.push(`a:${r}`));
    polls.hold(9, 30, 'y', (r) => woken.push(`b:${r}`));
    expect(cancelA).to.be.a('function');
    expect(polls.hold(1, 1000, 'z', () => undefined)).to.equal('full');
    polls.publish(6);
    expect(woken).to.deep.equal(['a:changed']);
    await new Promise((r) => setTimeout(r, 60));
    expect(woken).to.deep.equal(['a:changed', 'b:timeout']);
    expect(polls.size).to.equal(0);
    const cancel = polls.hold(1, 10_000, 'x', (r) => woken.push(`c:${r}`)) as () => void;
    cancel();
    polls.hold(1, 10_000, 'x', (r) => woken.push(`d:${r}`));
    polls.closeAll();
    expect(woken).to.deep.equal(['a:changed', 'b:timeout', 'd:closing']);
  });

  it('bounds the long-polls of one client address, and frees its share as they end', () => {
    const polls = new LongPolls(10, 2);
    const cancels = [polls.hold(1, 10_000, 'a', () => undefined), polls.hold(1, 10_000, 'a', () => undefined)];
    expect(polls.hold(1, 10_000, 'a', () => undefined)).to.equal('client');
    expect(polls.hold(1, 10_000, 'b', () => undefined)).to.be.a('function');
    (cancels[0] as () => void)();
    expect(polls.hold(1, 10_000, 'a', () => undefined)).to.be.a('function');
    polls.publish(2);
    expect(polls.size).to.equal(0);
    expect(polls.hold(1, 10_000, 'a', () => undefined)).to.be.a('function');
    polls.closeAll();
  });
});

describe('gateway long-poll answers', () => {
  // Every waiter comes from 127.0.0.1: the per-client bound must let them all in.
  const settings = resolveGatewayOptions({ etcd: { endpoints: ['http://127.0.0.1:2379'] }, environment: 'prod', region: 'eu-west', id: 'gw-1', maxLongPollsPerClient: 100 });
  const snapshot = (revision: number, basePath: string) =>
    new TopologySnapshot('prod', revision, new Map([['eu-west', region('eu-west')]]), new Map([['catalog', service('catalog', ['eu-west'], { basePath })]]), new Map());
  let server: Server | undefined;

  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = undefined;
  });

  it('hands every waiter of a coding the one buffer serialized (and compressed) for the revision', async () => {
    const discovery = new Discovery(settings, () => [], () => ({}));
    const first = new Publication(snapshot(3, '/catalog/v1'), 'http://127.0.0.1:1', settings, undefined);
    discovery.publish(first);
    // What each answer's body was, as the object handed to node: a copy or a new serialization would be another one.
    const bodies: Array<{ coding: string; body: unknown }> = [];
    server = createServer((req, res) => {
      const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
      res.end = ((chunk?: unknown) => {
        bodies.push({ coding: String(req.headers['accept-encoding'] ?? 'identity'), body: chunk });
        return end(chunk);
      }) as ServerResponse['end'];
      discovery.topology(req, res, req.url!.slice(req.url!.indexOf('?')));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const waiters = 12;
    const answers = Array.from({ length: waiters }, (_, i) => {
      const coding = i % 2 === 0 ? 'identity' : 'gzip';
      return new Promise<{ coding: string; status: number; body: Buffer }>((resolve, reject) => {
        const req = get({ host: '127.0.0.1', port, path: '/.well-known/topology?wait=3&timeout=30', headers: { 'accept-encoding': coding } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ coding, status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        req.on('error', reject);
      });
    });
    await waitFor(() => discovery.heldLongPolls === waiters, { what: `${waiters} long-polls to be held` });
    const next = new Publication(snapshot(4, '/catalog/v2'), 'http://127.0.0.1:1', settings, undefined, first);
    discovery.publish(next);
    const got = await Promise.all(answers);

    const expected = Buffer.from(JSON.stringify(next.doc));
    for (const a of got) {
      expect(a.status).to.equal(200);
      expect(a.coding === 'gzip' ? gunzipSync(a.body) : a.body).to.deep.equal(expected);
    }
    expect(bodies).to.have.length(waiters);
    const identity = bodies.filter((b) => b.coding === 'identity').map((b) => b.body);
    const gzip = bodies.filter((b) => b.coding === 'gzip').map((b) => b.body);
    expect(identity[0]).to.equal(next.topology.bytes);
    expect(new Set(identity).size, 'identity bodies').to.equal(1);
    expect(new Set(gzip).size, 'gzip bodies').to.equal(1);
    discovery.close();
  });
});

describe('gateway options', () => {
  const base = { etcd: { endpoints: ['http://127.0.0.1:2379'] }, environment: 'prod', region: 'eu-west', id: 'gw-1' };

  it('applies every default once and derives stale-if-error from maxStaleSeconds', () => {
    const o = resolveGatewayOptions({ ...base, maxStaleSeconds: 90, publicUrl: 'https://gw.example/' });
    expect(o.leaseTtlSeconds).to.equal(GATEWAY_DEFAULTS.leaseTtlSeconds);
    expect(o.staleIfErrorSeconds).to.equal(90);
    expect(o.publicUrl).to.equal('https://gw.example');
    expect(resolveGatewayOptions({ ...base, staleIfErrorSeconds: 5 }).staleIfErrorSeconds).to.equal(5);
  });

  it('refuses bad options with an error naming the option', () => {
    const bad: Array<[Partial<GatewayOptions>, string]> = [
      [{ environment: 'Prod' }, 'environment'],
      [{ region: '' }, 'region'],
      [{ id: 'a/b' }, 'id'],
      [{ port: 70000 }, 'port'],
      [{ leaseTtlSeconds: 0 }, 'leaseTtlSeconds'],
      [{ leaseTtlSeconds: 1.5 }, 'leaseTtlSeconds'],
      [{ publicUrl: 'ftp://x' }, 'publicUrl'],
      [{ maxLongPolls: -1 }, 'maxLongPolls'],
      [{ bodyBufferBytes: 0 }, 'bodyBufferBytes'],
      [{ bodyTimeoutMs: -1 }, 'bodyTimeoutMs'],
      [{ bodyMinBytesPerSecond: 0 }, 'bodyMinBytesPerSecond'],
      [{ upstreamUploadShare: 0 }, 'upstreamUploadShare'],
      [{ upstreamUploadShare: 1.5 }, 'upstreamUploadShare'],
    ];
    for (const [patch, option] of bad) {
      expect(() => resolveGatewayOptions({ ...base, ...patch }), option)
        .to.throw(GatewayOptionsError)
        .with.property('option', option);
    }
  });

  it('gives a worker of --workers N its share of the gateway-wide limits, rounded up', () => {
    const o = resolveGatewayOptions({ ...base, maxLongPolls: 9, maxLongPollsPerClient: 1, worker: { index: 1, count: 2 } });
    expect([o.maxLongPolls, o.maxLongPollsPerClient, o.upstreamMaxSockets]).to.deep.equal([5, 1, GATEWAY_DEFAULTS.upstreamMaxSockets / 2]);
    const alone = resolveGatewayOptions(base);
    expect([alone.maxLongPolls, alone.maxLongPollsPerClient]).to.deep.equal([GATEWAY_DEFAULTS.maxLongPolls, GATEWAY_DEFAULTS.maxLongPollsPerClient]);
    for (const [worker, option] of [
      [{ index: 2, count: 2 }, 'worker.index'],
      [{ index: 0, count: 0 }, 'worker.count'],
    ] as const) {
      expect(() => resolveGatewayOptions({ ...base, worker }), option).to.throw(GatewayOptionsError).with.property('option', option);
    }
    expect(resolveWorkersOptions({ count: 2 })).to.deep.equal({ ...WORKERS_DEFAULTS, count: 2 });
    expect(() => resolveWorkersOptions({ count: 0 })).to.throw(GatewayOptionsError).with.property('option', 'workers');
    expect(() => resolveWorkersOptions({ count: 2, restartDelayMs: -1 })).to.throw(GatewayOptionsError).with.property('option', 'workers.restartDelayMs');
  });
});
