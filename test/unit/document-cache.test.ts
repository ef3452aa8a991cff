import { buildDocument } from '../../gateway/document.js';
import { expect } from 'chai';
import { DocumentCache } from '../../gateway/document-cache.js';
import { TopologySnapshot } from '../../store/index.js';
import { region, service } from '../support/store.js';

const options = { baseUrl: 'https://eu.example', maxStaleSeconds: 300, refreshIntervalSeconds: 30, refreshJitterSeconds: 5, now: new Date('2026-12-01T00:00:00Z') };

function snapshot(revision: number, services: ReturnType<typeof service>[], regions = ['eu-west', 'us-east']): TopologySnapshot {
  return new TopologySnapshot(
    'prod',
    revision,
    new Map(regions.map((r) => [r, region(r, r.startsWith('eu') ? 'EU' : 'US')])),
    new Map(services.map((s) => [s.name, s])),
    new Map(),
  );
}

describe('DocumentCache (the gateway\'s reuse of service entries between revisions)', () => {
  const hr = service('hr', ['eu-west'], { placement: 'pinned', jurisdictions: ['EU'] });
  const search = service('search', ['us-east'], { placement: 'global', failover: ['us-east'] });
  const catalog = service('catalog', ['eu-west', 'us-east']);

  it('serializes exactly as JSON.stringify, stale fields included', () => {
    const cache = new DocumentCache();
    const doc = buildDocument(snapshot(3, [hr, search, catalog]), { ...options, entries: cache, stale: true, staleSince: new Date(0), servedBy: { gateway: 'g', region: 'eu-west' } });
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

  it('keys entries by base URL too, and hands out frozen entries', () => {
    const cache = new DocumentCache();
    const a = buildDocument(snapshot(3, [hr]), { ...options, entries: cache });
    const b = buildDocument(snapshot(3, [hr]), { ...options, baseUrl: 'https://us.example', entries: cache });
    expect(b.services[0]!._links!.self.href).to.equal('https://us.example/.well-known/topology/services/hr');
    expect(Object.isFrozen(a.services[0]!.regions)).to.equal(true);
  });
});
