import { buildDocument } from '../../gateway/document.js';
import { expect } from 'chai';
import { DocumentCache } from '../../gateway/document-cache.js';
import { TopologySnapshot } from '../../store/index.js';
import type { GatewayRegistration } from '../../openapi/index.js';
import { region, service } from '../support/store.js';

const options = { maxStaleSeconds: 300, refreshIntervalSeconds: 30, refreshJitterSeconds: 5 };

function snapshot(revision: number, services: ReturnType<typeof service>[], regions = ['eu-west', 'us-east'], gateways: GatewayRegistration[] = []): TopologySnapshot {
  return new TopologySnapshot(
    'prod',
    revision,
    new Map(regions.map((r) => [r, region(r, r.startsWith('eu') ? 'EU' : 'US')])),
    new Map(services.map((s) => [s.name, s])),
    new Map(gateways.map((g) => [`${g.region}/${g.id}`, g])),
  );
}

const gw = (id: string, r: string): GatewayRegistration => ({ id, region: r, url: `http://${id}.example`, status: 'up', startedAt: '2026-01-01T00:00:00.000Z' });

describe('DocumentCache (the gateway\'s reuse of service entries between revisions)', () => {
  const hr = service('hr', ['eu-west'], { placement: 'pinned', jurisdictions: ['EU'] });
  const search = service('search', ['us-east'], { placement: 'global', failover: ['us-east'] });
  const catalog = service('catalog', ['eu-west', 'us-east']);

  it('serializes exactly as JSON.stringify, stale fields included', () => {
    const cache = new DocumentCache();
    const doc = buildDocument(snapshot(3, [hr, search, catalog]), { ...options, entries: cache, stale: true, staleSince: new Date(0) });
    expect(cache.stringify(doc)).to.equal(JSON.stringify(doc));
    expect(cache.stringify(doc)).to.equal(JSON.stringify(doc));
  });

  it('rebuilds only the changed service, and every entry when the regions change', () => {
    const cache = new DocumentCache();
    const first = buildDocument(snapshot(3, [hr, search, catalog]), { ...options, entries: cache });
    const moved = { ...catalog, basePath: '/catalog/v2' };
    const second = buildDocument(snapshot(4, [hr, search, moved]), { ...options, entries: cache });
    const byName = (d: typeof first, n: string) => d.services.find((s) => s.name === n)!;
    expect(byName(second, 'hr')).to.equal(byName(first, 'hr'));
    expect(byName(second, 'search')).to.equal(byName(first, 'search'));
    expect(byName(second, 'catalog')).to.not.equal(byName(first, 'catalog'));
    expect(byName(second, 'catalog').basePath).to.equal('/catalog/v2');
    expect(cache.stringify(second)).to.equal(JSON.stringify(buildDocument(snapshot(4, [hr, search, moved]), options)));

    // A global service is served by every region: a new region must show in its entry.
    const third = buildDocument(snapshot(5, [hr, search, moved], ['eu-west', 'us-east', 'ap-south']), { ...options, entries: cache });
    expect(byName(third, 'search').regions).to.deep.equal(['ap-south', 'eu-west', 'us-east']);
    expect(cache.stringify(third)).to.equal(JSON.stringify(buildDocument(snapshot(5, [hr, search, moved], ['eu-west', 'us-east', 'ap-south']), options)));
  });

  it('rebuilds the entries of a region whose gateways change, and only those; hands out frozen entries', () => {
    const cache = new DocumentCache();
    const a = buildDocument(snapshot(3, [hr, search, catalog], undefined, [gw('e1', 'eu-west')]), { ...options, entries: cache });
    const b = buildDocument(snapshot(4, [hr, search, catalog], undefined, [gw('e1', 'eu-west'), gw('u1', 'us-east')]), { ...options, entries: cache });
    const byName = (d: typeof a, n: string) => d.services.find((s) => s.name === n)!;
    expect(byName(b, 'hr')).to.equal(byName(a, 'hr'));
    expect(byName(b, 'catalog')).to.not.equal(byName(a, 'catalog'));
    expect(byName(b, 'search')._links!.entrypoints.map((e) => e.name)).to.deep.equal(['e1', 'u1']);
    expect(cache.stringify(b)).to.equal(JSON.stringify(buildDocument(snapshot(4, [hr, search, catalog], undefined, [gw('e1', 'eu-west'), gw('u1', 'us-east')]), options)));
    expect(Object.isFrozen(a.services[0]!.regions)).to.equal(true);
  });
});
