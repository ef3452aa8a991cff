import { expect } from 'chai';
import type { AxiosResponse } from 'axios';
import { alternateHrefs, findAlternate, MAX_LINK_HEADER_LENGTH, MAX_LINK_VALUES } from '../../client-sdk/misdirected.js';
import { Resolver } from '../../client-sdk/resolver.js';
import { topologyDoc } from '../support/topology-doc.js';

const response = (headers: Record<string, string>, data: unknown = '') => ({ headers, data, status: 421 }) as unknown as AxiosResponse;

describe('SDK 421 alternates', () => {
  const doc = topologyDoc({
    regions: [
      { name: 'eu-west', jurisdiction: 'EU', gateways: [{ url: 'http://eu-1.test' }] },
      { name: 'eu-central', jurisdiction: 'EU', gateways: [{ url: 'http://eu-2.test' }] },
      { name: 'us-east', jurisdiction: 'US', gateways: [{ url: 'http://us-1.test' }] },
    ],
    services: [{ name: 'hr', placement: 'pinned', jurisdictions: ['EU'] }],
  });
  const { candidates } = Resolver.build(doc, { region: 'eu-west' }).resolver.resolve('hr');

  it('reads alternates from the Link header and the body', () => {
    const r = response(
      { link: '<http://a.test/x>; rel="alternate", <http://b.test/>; rel=next, <http://c.test/>; rel="preload alternate"' },
      JSON.stringify({ code: 'MISDIRECTED', message: 'm', _links: { 'alternate-1': { href: 'http://d.test/' }, 'alternate-2': { href: 'http://a.test/x' } } }),
    );
    expect(alternateHrefs(r)).to.deep.equal(['http://a.test/x', 'http://c.test/', 'http://d.test/']);
  });

  it('parses a long hostile Link header in one pass, within its documented bounds (length, link-values)', () => {
    // 20 KB of unclosed '<' after a valid alternate: the old regex rescanned from each '<' (quadratic).
    const hostile = `<http://a.test/x>; rel="alternate", ${'<'.repeat(20_000)}`;
    expect(alternateHrefs(response({ link: hostile }))).to.deep.equal(['http://a.test/x']);
    // A megabyte is over MAX_LINK_HEADER_LENGTH: ignored whole (the body's alternates still count).
    const huge = `<http://a.test/x>; rel="alternate", ${'<'.repeat(1_000_000)}`;
    const body = JSON.stringify({ code: 'MISDIRECTED', message: 'm', _links: { alternate: { href: 'http://d.test/' } } });
    expect(alternateHrefs(response({ link: huge }, body))).to.deep.equal(['http://d.test/']);
    // Only the first MAX_LINK_VALUES link-values are read.
    const many = [...Array.from({ length: MAX_LINK_VALUES }, (_, i) => `<http://n${i}.test/>; rel=next`), '<http://late.test/>; rel=alternate'].join(', ');
    expect(many.length).to.be.below(MAX_LINK_HEADER_LENGTH);
    expect(alternateHrefs(response({ link: many }))).to.deep.equal([]);
    const within = [...Array.from({ length: MAX_LINK_VALUES - 1 }, (_, i) => `<http://n${i}.test/>; rel=next`), '<http://ok.test/>; rel=alternate'].join(', ');
    expect(alternateHrefs(response({ link: within }))).to.deep.equal(['http://ok.test/']);
    // Quoted commas and semicolons belong to their parameter.
    expect(alternateHrefs(response({ link: '<http://q.test/>; title="a, b; c"; rel="alternate"' }))).to.deep.equal(['http://q.test/']);
  });

  it('follows an alternate that is a candidate of the service, full URL or gateway base', () => {
    const full = findAlternate(response({ link: '<http://eu-2.test/hr/v1/people/1?x=1>; rel="alternate"' }), 'http://eu-1.test/hr/v1/people/1', candidates, '/people/1');
    expect(full?.candidate.gateway.url).to.equal('http://eu-2.test');
    expect(full?.path).to.equal('/people/1?x=1');
    expect(full?.hasQuery).to.equal(true);
    const base = findAlternate(response({}, { _links: { alternate: [{ href: 'http://eu-2.test/' }] } }), 'http://eu-1.test/hr/v1/p', candidates, '/p');
    expect(base?.candidate.gateway.url).to.equal('http://eu-2.test');
    expect(base?.path).to.equal('/p');
  });

  it('ignores alternates outside the service candidates (another jurisdiction, any other host)', () => {
    for (const href of ['http://us-1.test/hr/v1/p', 'http://evil.test/hr/v1/p', 'http://eu-2.test.evil.test/hr/v1/p', 'javascript:alert(1)']) {
      expect(findAlternate(response({ link: `<${href}>; rel="alternate"` }), 'http://eu-1.test/hr/v1/p', candidates, '/p'), href).to.equal(undefined);
    }
  });
});
