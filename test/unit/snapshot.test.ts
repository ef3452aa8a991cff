import { buildDocument } from '../../gateway/document.js';
import { expect } from 'chai';
import { TopologySnapshot } from '../../store/index.js';
import type { GatewayRegistration } from '../../openapi/index.js';
import { region, service } from '../support/store.js';

const gw = (id: string, r: string): GatewayRegistration => ({
  id,
  region: r,
  url: `http://${id}.example`,
  status: 'up',
  startedAt: '2026-01-01T00:00:00.000Z',
});

function snapshot(revision = 7): TopologySnapshot {
  return new TopologySnapshot(
    'prod',
    revision,
    new Map([
      ['eu-west', region('eu-west', 'EU')],
      ['us-east', region('us-east', 'US')],
    ]),
    new Map([
      ['hr', service('hr', ['eu-west'], { placement: 'pinned', jurisdictions: ['EU'] })],
      ['search', service('search', ['us-east'], { placement: 'global', failover: ['us-east'] })],
    ]),
    new Map([
      ['eu-west/gw-1', gw('gw-1', 'eu-west')],
      ['us-east/gw-2', gw('gw-2', 'us-east')],
    ]),
  );
}

describe('TopologySnapshot', () => {
  const options = { maxStaleSeconds: 300, refreshIntervalSeconds: 30, refreshJitterSeconds: 10 };

  it('builds the public document without upstreams, with links and serving regions', () => {
    const doc = buildDocument(snapshot(), options);
    expect(doc.revision).to.equal(7);
    // Nothing of the serving gateway: the same revision has the same bytes on every gateway.
    expect(doc).not.to.have.any.keys('generatedAt', 'servedBy');
    expect(JSON.stringify(buildDocument(snapshot(), options))).to.equal(JSON.stringify(doc));
    expect(doc._links.self.href).to.equal('/.well-known/topology');
    expect(doc._links.service).to.deep.equal({ href: '/.well-known/topology/services/{name}', templated: true });
    expect(doc._links.services!.href).to.equal('/.well-known/topology/services');
    expect(doc.regions.map((r) => [r.name, r.gateways.map((g) => g.id)])).to.deep.equal([
      ['eu-west', ['gw-1']],
      ['us-east', ['gw-2']],
    ]);
    const hr = doc.services.find((s) => s.name === 'hr')!;
    expect(hr).to.include({ placement: 'pinned', basePath: '/hr/v1' });
    expect(hr.regions).to.deep.equal(['eu-west']);
    expect(hr.jurisdictions).to.deep.equal(['EU']);
    // Entry points: the base path on every gateway of the serving regions, followable as they are.
    expect(hr._links!.self.href).to.equal('/.well-known/topology/services/hr');
    expect(hr._links!.entrypoints).to.deep.equal([{ href: 'http://gw-1.example/hr/v1', name: 'gw-1', region: 'eu-west', title: 'gw-1 (eu-west)' }]);
    expect(doc.services.find((s) => s.name === 'search')!._links!.entrypoints.map((e) => e.href)).to.deep.equal([
      'http://gw-1.example/search/v1',
      'http://gw-2.example/search/v1',
    ]);
    // A global service is served by every region, wherever its upstreams are.
    expect(doc.services.find((s) => s.name === 'search')!.regions).to.deep.equal(['eu-west', 'us-east']);
    expect(JSON.stringify(doc)).not.to.match(/127\.0\.0\.1|upstream|deployments/);
  });

  it('marks stale documents with the time since when', () => {
    const since = new Date('2026-11-22T01:00:00Z');
    const doc = buildDocument(snapshot(), { ...options, stale: true, staleSince: since });
    expect(doc.stale).to.equal(true);
    expect(doc.staleSince).to.equal(since.toISOString());
  });

  it('compares content regardless of revision, and round-trips through the internal view', () => {
    const a = snapshot(7);
    const b = TopologySnapshot.fromInternal(JSON.parse(JSON.stringify(a.toInternal())));
    expect(b.revision).to.equal(7);
    expect(a.sameContent(b)).to.equal(true);
    expect(a.sameContent(snapshot(9))).to.equal(true);
    const c = new TopologySnapshot('prod', 7, a.regions, new Map(), a.gateways);
    expect(a.sameContent(c)).to.equal(false);
    expect(a.atRevision(5)).to.equal(a);
    expect(a.atRevision(9).revision).to.equal(9);
  });
});
