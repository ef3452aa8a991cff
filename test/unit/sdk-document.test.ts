import { expect } from 'chai';
import { checkDocument, parseDocument } from '../../client-sdk/document.js';
import { InvalidTopologyError } from '../../client-sdk/errors.js';
import { topologyDoc } from '../support/topology-doc.js';

const good = () =>
  topologyDoc({
    regions: [{ name: 'eu-west', gateways: [{ url: 'https://eu.example.com' }] }],
    services: [{ name: 'catalog' }, { name: 'hr', placement: 'pinned', jurisdictions: ['EU'] }],
  });

function rejection(body: unknown): InvalidTopologyError {
  try {
    parseDocument(typeof body === 'string' ? body : JSON.stringify(body), 'http://gw/x', 1024 * 1024);
  } catch (err) {
    expect(err).to.be.instanceOf(InvalidTopologyError);
    return err as InvalidTopologyError;
  }
  throw new Error('expected the document to be rejected');
}

describe('SDK document validation', () => {
  it('accepts a document of the contract', () => {
    const doc = good();
    expect(parseDocument(JSON.stringify(doc), 'http://gw/x', 1024 * 1024)).to.deep.equal(doc);
  });

  it('rejects malformed JSON, naming the source', () => {
    const err = rejection('{"environment": "prod",');
    expect(err.code).to.equal('INVALID_TOPOLOGY');
    expect(err.reason).to.equal('malformed');
    expect(err.message).to.include('http://gw/x').and.include('not JSON');
  });

  it('rejects a document larger than the limit', () => {
    expect(() => parseDocument(JSON.stringify(good()), 'src', 100)).to.throw(InvalidTopologyError).with.property('reason', 'too-large');
  });

  it('names each field that is wrong', () => {
    const doc = good() as unknown as Record<string, unknown>;
    doc.revision = -1;
    doc.environment = 'Prod!';
    (doc.services as Record<string, unknown>[])[0]!.placement = 'everywhere';
    const err = rejection(doc);
    expect(err.problems).to.include.members([
      'revision: must be an integer ≥ 0',
      'environment: must be a DNS label (lowercase letters, digits, "-")',
      'services[0].placement: must be "global", "regional" or "pinned"',
    ]);
  });

  for (const url of ['javascript:alert(1)', 'file:///etc/passwd', 'ftp://eu.example.com', 'data:text/plain,hi', 'not a url', 'https://user:pw@eu.example.com']) {
    it(`rejects a gateway URL ${url}`, () => {
      const doc = good();
      doc.regions[0]!.gateways[0]!.url = url;
      expect(rejection(doc).problems.join()).to.include('regions[0].gateways[0].url');
    });
  }

  it('rejects base paths that could escape the service (dot segments, query, absolute URL)', () => {
    for (const basePath of ['/a/../admin', 'catalog', '/a?x=1', '//evil.example.com/x', '/a#f']) {
      const doc = good();
      doc.services[0]!.basePath = basePath;
      expect(rejection(doc).problems.join(), basePath).to.include('services[0].basePath');
    }
  });

  it('accepts service-desc and service-doc links under the base path or absolute, and rejects any other', () => {
    const withLinks = (desc: string) => {
      const doc = good();
      doc.services[0]!._links = {
        self: { href: '/.well-known/topology/services/catalog' },
        entrypoints: [],
        'service-desc': { href: desc },
        'service-doc': { href: 'https://docs.example.com/catalog' },
      };
      return doc;
    };
    const doc = withLinks('/catalog/v1/openapi.json');
    expect(parseDocument(JSON.stringify(doc), 'http://gw/x', 1024 * 1024)).to.deep.equal(doc);
    for (const href of ['javascript:alert(1)', '/admin/openapi.json', '/catalog/v1/../../admin', 'https://user:pw@docs.example.com/', 'docs']) {
      const bad = withLinks(href);
      expect(rejection(bad).problems.join(), href).to.include("services[0]._links.service-desc.href");
    }
  });

  it('rejects a service that names an unknown region, duplicates, and a pinned service without jurisdictions', () => {
    const doc = good();
    doc.services[0]!.regions = ['mars-1'];
    doc.services.push({ ...doc.services[0]!, regions: ['eu-west'] });
    delete doc.services[1]!.jurisdictions;
    const problems = rejection(doc).problems.join('\n');
    expect(problems).to.include('unknown region "mars-1"');
    expect(problems).to.include('duplicate service "catalog"');
    expect(problems).to.include('services[1].jurisdictions: a pinned service must list its jurisdictions');
  });

  it('rejects what is not an object at all', () => {
    for (const v of [null, 42, 'text', [1, 2]]) expect(() => checkDocument(v, 'src')).to.throw(InvalidTopologyError);
  });
});
