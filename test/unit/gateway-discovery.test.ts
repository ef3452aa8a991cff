import { expect } from 'chai';
import { LongPolls } from '../../gateway/longpoll.js';
import { ifNoneMatchMatches, negotiateEncoding, Representation } from '../../gateway/representation.js';
import { GATEWAY_DEFAULTS, GatewayOptionsError, resolveGatewayOptions, resolveWorkersOptions, WORKERS_DEFAULTS, type GatewayOptions } from '../../gateway/index.js';

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
