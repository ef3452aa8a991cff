import { expect } from 'chai';
import fc from 'fast-check';
import type { IncomingMessage } from 'node:http';
import { HeaderValueError, isHeaderSafe, linkValue, uriReference } from '../../gateway/header-value.js';
import { LoopGuard, MAX_WAYMARK_HOPS } from '../../gateway/loop-guard.js';
import { GatewayHttpError } from '../../gateway/errors.js';

const request = (headers: Record<string, string | string[]>) => ({ headers }) as unknown as IncomingMessage;

describe('gateway header values', () => {
  it('percent-encodes what cannot be in a URI reference, keeping valid escapes', () => {
    expect(uriReference('/crm/v1/x?a=1&b=%2F')).to.equal('/crm/v1/x?a=1&b=%2F');
    expect(uriReference('/x?a=1>;rel="alternate",<http://evil/')).to.equal('/x?a=1%3E;rel=%22alternate%22,%3Chttp://evil/');
    expect(uriReference('/x?q=50%')).to.equal('/x?q=50%25');
    expect(uriReference('/x?q=%zz')).to.equal('/x?q=%25zz');
    expect(uriReference('/café?x=ü')).to.equal('/caf%C3%A9?x=%C3%BC');
    expect(uriReference('/x?a=b c\r\nd#e[f]{g}|h^i`j\\k')).to.equal('/x?a=b%20c%0D%0Ad%23e%5Bf%5D%7Bg%7D%7Ch%5Ei%60j%5Ck');
  });

  it('never lets any input leave its link', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
        const href = `http://127.0.0.1:8080/svc${uriReference(s)}`;
        const value = linkValue(href, { rel: 'alternate', title: 'gw-1 (eu-west)' });
        expect(isHeaderSafe(value)).to.equal(true);
        expect([...value.matchAll(/</g)]).to.have.length(1);
        expect([...value.matchAll(/>/g)]).to.have.length(1);
        expect(value.split('"')).to.have.length(5);
      }),
    );
  });

  it('refuses to build a link from an unsafe target or parameter', () => {
    expect(() => linkValue('http://a/\r\nSet-Cookie: x=1', { rel: 'alternate' })).to.throw(HeaderValueError);
    expect(() => linkValue('http://a/>, <http://evil/', { rel: 'alternate' })).to.throw(HeaderValueError);
    expect(() => linkValue('http://a/', { title: 'é' })).to.throw(HeaderValueError);
    expect(linkValue('http://a/', { title: 'say "hi"\\' })).to.equal('<http://a/>; title="say \\"hi\\"\\\\"');
  });
});

describe('gateway loop guard', () => {
  it('appends its token, refuses its own token and too many gateways with 508', () => {
    const a = new LoopGuard('gw-eu');
    const b = new LoopGuard('gw-eu'); // same id, another environment or process
    expect(a.token).to.match(/^gw-eu\.[0-9a-f]{8}$/);
    expect(a.token).not.to.equal(b.token);
    const first = a.next(request({}));
    expect(first).to.deep.equal({ hops: a.token });
    const atB = b.next(request({ 'x-waymark-hops': a.token }));
    expect(atB).to.deep.equal({ hops: `${a.token}, ${b.token}` });
    const back = a.next(request({ 'x-waymark-hops': `${a.token}, ${b.token}` }));
    expect('error' in back && back.error).to.be.instanceOf(GatewayHttpError);
    expect('error' in back && [back.error.status, back.error.code]).to.deep.equal([508, 'LOOP_DETECTED']);
    const third = new LoopGuard('gw-x').next(request({ 'x-waymark-hops': `${a.token}, ${b.token}` }));
    expect('error' in third && third.error.message).to.include(`at most ${MAX_WAYMARK_HOPS}`);
  });

  it('ignores what a client made up, and bounds Via', () => {
    const g = new LoopGuard('gw-1');
    expect(g.next(request({ 'x-waymark-hops': 'junk, <script>, a.b' }))).to.deep.equal({ hops: g.token });
    expect(g.next(request({ 'x-waymark-hops': ['x.0000000a', 'y.0000000b'] }))).to.have.property('error');
    expect(g.next(request({ via: Array.from({ length: 17 }, (_, i) => `1.1 p${i}`).join(', ') }))).to.have.property('error');
    expect(g.next(request({ via: '1.1 cdn, 1.1 lb' }))).to.have.property('hops');
  });
});
