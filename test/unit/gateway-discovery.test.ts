import { expect } from 'chai';
import { LongPolls } from '../../gateway/longpoll.js';
import { negotiateEncoding, Representation } from '../../gateway/representation.js';
import { GATEWAY_DEFAULTS, GatewayOptionsError, resolveGatewayOptions, type GatewayOptions } from '../../gateway/index.js';

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
  });

  it('derives a strong ETag from the revision and the bytes, and matches every coding of it', () => {
    const a = new Representation(Buffer.from('{"a":1}'), { contentType: 'application/json', revision: 12, headers: [] });
    const b = new Representation(Buffer.from('{"a":2}'), { contentType: 'application/json', revision: 12, headers: [] });
    expect(a.etag).to.match(/^"12-[A-Za-z0-9_-]{12}"$/);
    expect(a.etag).not.to.equal(b.etag);
    expect(a.matches(a.etag)).to.equal(true);
    expect(a.matches(`W/${a.etag}`)).to.equal(true);
    expect(a.matches(`"x", ${a.etag.slice(0, -1)}-gzip"`)).to.equal(true);
    expect(a.matches(b.etag)).to.equal(false);
    expect(a.matches('*')).to.equal(true);
    expect(a.matches(undefined)).to.equal(false);
  });
});

describe('gateway long-polls', () => {
  it('wakes waiters older than a published revision, times out the rest, and bounds their number', async () => {
    const polls = new LongPolls(2);
    const woken: string[] = [];
    const cancelA = polls.hold(5, 10_000, (r) => woken.push(`a:${r}`));
    polls.hold(9, 30, (r) => woken.push(`b:${r}`));
    expect(cancelA).to.be.a('function');
    expect(polls.hold(1, 1000, () => undefined)).to.equal(undefined);
    polls.publish(6);
    expect(woken).to.deep.equal(['a:changed']);
    await new Promise((r) => setTimeout(r, 60));
    expect(woken).to.deep.equal(['a:changed', 'b:timeout']);
    expect(polls.size).to.equal(0);
    const cancel = polls.hold(1, 10_000, (r) => woken.push(`c:${r}`))!;
    cancel();
    polls.hold(1, 10_000, (r) => woken.push(`d:${r}`));
    polls.closeAll();
    expect(woken).to.deep.equal(['a:changed', 'b:timeout', 'd:closing']);
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
});
