import { expect } from 'chai';
import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import { candidateGateways } from '../../topology/index.js';
import { NoRouteError } from '../../client-sdk/errors.js';
import { fastestRegion, Resolver } from '../../client-sdk/resolver.js';
import { topologyDoc } from '../support/topology-doc.js';

const gw = (region: string, n = 1) => Array.from({ length: n }, (_, i) => ({ url: `http://${region}-${i + 1}.test` }));

describe('SDK resolver', () => {
  const doc = topologyDoc({
    revision: 10,
    regions: [
      { name: 'eu-west', jurisdiction: 'EU', gateways: gw('eu-west', 2) },
      { name: 'eu-central', jurisdiction: 'EU', gateways: gw('eu-central') },
      { name: 'us-east', jurisdiction: 'US', gateways: gw('us-east') },
      { name: 'ap-south', jurisdiction: 'IN', gateways: [{ url: 'http://ap-south-1.test', status: 'draining' }] },
    ],
    services: [
      { name: 'catalog', failover: ['us-east'] },
      { name: 'hr', placement: 'pinned', jurisdictions: ['EU'] },
      { name: 'billing', basePath: '/billing', regions: ['us-east'] },
    ],
  });

  it('orders the client region first, then the failover list, then the rest by measured latency', () => {
    const latencyMs = new Map([
      ['eu-central', 30],
      ['ap-south', 5],
    ]);
    const { resolver } = Resolver.build(doc, { region: 'eu-west', latencyMs });
    const route = resolver.resolve('catalog');
    expect(route.candidates.map((c) => c.gateway.url)).to.deep.equal([
      'http://eu-west-1.test',
      'http://eu-west-2.test',
      'http://us-east-1.test',
      'http://eu-central-1.test',
    ]);
    expect(route.candidates[0]!.baseUrl).to.equal('http://eu-west-1.test/catalog/v1');
    expect(route.candidates.every((c) => !c.lastResort)).to.equal(true);
  });

  it("tries a region's gateways by id whatever the document's order, never a draining one", () => {
    const listed = topologyDoc({
      regions: [
        {
          name: 'eu-west',
          gateways: [
            { id: 'gw-eu-west', url: 'http://gw.test' },
            { id: 'old', url: 'http://old.test', status: 'draining' },
            { id: 'dispatcher', url: 'http://dispatcher.test' },
          ],
        },
      ],
      services: [{ name: 'catalog' }],
    });
    const ids = Resolver.build(listed, { region: 'eu-west' }).resolver.resolve('catalog').candidates.map((c) => c.gateway.id);
    expect(ids).to.deep.equal(['dispatcher', 'gw-eu-west']);
    expect(candidateGateways(listed, listed.services[0]!, { region: 'eu-west' }).map((g) => g.id)).to.deep.equal(ids);
  });

  it('never returns a draining gateway', () => {
    const { resolver } = Resolver.build(doc, { region: 'ap-south' });
    expect(resolver.resolve('catalog').candidates.map((c) => c.gateway.region)).not.to.include('ap-south');
  });

  it('keeps a pinned service within its jurisdictions, even for a client in another one', () => {
    const { resolver } = Resolver.build(doc, { region: 'us-east' });
    expect(resolver.resolve('hr').candidates.map((c) => c.gateway.region)).to.deep.equal(['eu-central', 'eu-west', 'eu-west']);
  });

  it('never routes a pinned service outside its jurisdictions (property)', () => {
    const regionNames = ['r1', 'r2', 'r3', 'r4', 'r5'];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('EU', 'US', 'CH'), { minLength: 5, maxLength: 5 }),
        fc.subarray(regionNames),
        fc.subarray(['EU', 'US', 'CH'], { minLength: 1 }),
        fc.array(fc.constantFrom(...regionNames)),
        fc.option(fc.constantFrom(...regionNames), { nil: undefined }),
        (jurisdictions, serving, allowed, failover, clientRegion) => {
          const d = topologyDoc({
            regions: regionNames.map((name, i) => ({ name, jurisdiction: jurisdictions[i]!, gateways: gw(name) })),
            services: [{ name: 'p', placement: 'pinned', jurisdictions: allowed, regions: serving, failover }],
          });
          const { resolver } = Resolver.build(d, clientRegion ? { region: clientRegion } : {});
          for (const c of resolver.resolve('p').candidates) {
            const j = d.regions.find((r) => r.name === c.gateway.region)!.jurisdiction;
            if (!allowed.includes(j) || !serving.includes(c.gateway.region)) return false;
          }
          return true;
        },
      ),
    );
  });

  it('precomputes exactly what candidateGateways gives for each service (property)', () => {
    const regionNames = ['r1', 'r2', 'r3', 'r4'];
    const serviceArb = fc.record({
      placement: fc.constantFrom('global' as const, 'regional' as const, 'pinned' as const),
      regions: fc.subarray(regionNames),
      failover: fc.array(fc.constantFrom(...regionNames), { maxLength: 3 }),
      jurisdictions: fc.subarray(['EU', 'US'], { minLength: 1 }),
    });
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('EU', 'US'), { minLength: 4, maxLength: 4 }),
        fc.array(fc.constantFrom('up' as const, 'draining' as const), { minLength: 8, maxLength: 8 }),
        fc.array(serviceArb, { minLength: 1, maxLength: 6 }),
        fc.dictionary(fc.constantFrom(...regionNames), fc.integer({ min: 1, max: 200 })),
        fc.option(fc.constantFrom(...regionNames), { nil: undefined }),
        (jurisdictions, statuses, specs, rtt, region) => {
          const d = topologyDoc({
            regions: regionNames.map((name, i) => ({
              name,
              jurisdiction: jurisdictions[i]!,
              gateways: [0, 1].map((k) => ({ url: `http://${name}-${k}.test`, status: statuses[i * 2 + k]! })),
            })),
            services: specs.map((s, i) => ({ name: `s${i}`, ...s })),
          });
          const latencyMs = new Map(Object.entries(rtt));
          const { resolver } = Resolver.build(d, { ...(region ? { region } : {}), latencyMs });
          const expectedRegion = region ?? fastestRegion(latencyMs);
          for (const service of d.services) {
            const want = candidateGateways(d, service, { ...(expectedRegion ? { region: expectedRegion } : {}), latencyMs });
            expect(resolver.resolve(service.name).candidates.map((c) => c.gateway)).to.deep.equal(want);
          }
        },
      ),
    );
  });

  it('throws NoRouteError for an unknown service', () => {
    const { resolver } = Resolver.build(doc, {});
    expect(() => resolver.resolve('nope')).to.throw(NoRouteError).with.property('code', 'NO_ROUTE');
  });

  it('without a configured region, puts the region with the lowest RTT first', () => {
    const latencyMs = new Map([
      ['us-east', 12],
      ['eu-west', 80],
      ['eu-central', 40],
    ]);
    expect(fastestRegion(latencyMs)).to.equal('us-east');
    const { resolver } = Resolver.build(doc, { latencyMs });
    expect(resolver.region).to.equal('us-east');
    expect(resolver.resolve('hr').candidates.map((c) => c.gateway.region)).to.deep.equal(['eu-central', 'eu-west', 'eu-west']);
  });

  it('keeps the previous gateways as a last resort when an update leaves a service with none', () => {
    const first = Resolver.build(doc, { region: 'eu-west' }).resolver;
    const emptied = topologyDoc({
      revision: 11,
      regions: [
        { name: 'eu-west', jurisdiction: 'EU' },
        { name: 'eu-central', jurisdiction: 'EU' },
        { name: 'us-east', jurisdiction: 'US', gateways: gw('us-east') },
      ],
      services: [
        { name: 'catalog', regions: ['eu-west'] },
        { name: 'hr', placement: 'pinned', jurisdictions: ['EU'] },
        { name: 'billing', basePath: '/billing', regions: ['us-east'] },
      ],
    });
    const { resolver, lastResort } = Resolver.build(emptied, { region: 'eu-west' }, first);
    expect(lastResort.map((e) => e.service).sort()).to.deep.equal(['catalog', 'hr']);
    const hr = resolver.resolve('hr').candidates;
    expect(hr.every((c) => c.lastResort)).to.equal(true);
    expect(hr.map((c) => c.gateway.region)).to.deep.equal(['eu-west', 'eu-west', 'eu-central']);
    expect(resolver.resolve('billing').candidates.map((c) => c.lastResort)).to.deep.equal([false]);
    // Still kept one revision later, while the service has no gateway of its own.
    const again = Resolver.build({ ...emptied, revision: 12 }, { region: 'eu-west' }, resolver);
    expect(again.resolver.resolve('hr').candidates).to.have.length(3);
  });

  it('never keeps a last-resort gateway outside the jurisdictions the service allows now', () => {
    const first = Resolver.build(doc, { region: 'eu-west' }).resolver;
    const moved = topologyDoc({
      revision: 11,
      regions: [
        { name: 'eu-west', jurisdiction: 'EU' },
        { name: 'eu-central', jurisdiction: 'EU' },
        { name: 'us-east', jurisdiction: 'US' },
      ],
      // catalog becomes pinned to US, where no gateway is up: its EU and US gateways of before…
      services: [{ name: 'catalog', placement: 'pinned', jurisdictions: ['US'] }],
    });
    const { resolver } = Resolver.build(moved, { region: 'eu-west' }, first);
    // …only the US one may be kept.
    expect(resolver.resolve('catalog').candidates.map((c) => c.gateway.region)).to.deep.equal(['us-east']);
  });

  it('resolves in well under 2 µs at 10 000 services (a map lookup per revision)', function () {
    this.timeout(20_000);
    const services = Array.from({ length: 10_000 }, (_, i) => ({
      name: `svc-${i}`,
      ...(i % 3 === 0 ? { placement: 'pinned' as const, jurisdictions: ['EU'] } : {}),
      failover: ['us-east'],
    }));
    const big = topologyDoc({
      regions: [
        { name: 'eu-west', jurisdiction: 'EU', gateways: gw('eu-west', 3) },
        { name: 'eu-central', jurisdiction: 'EU', gateways: gw('eu-central', 3) },
        { name: 'us-east', jurisdiction: 'US', gateways: gw('us-east', 3) },
        { name: 'us-west', jurisdiction: 'US', gateways: gw('us-west', 3) },
      ],
      services,
    });
    const buildStart = performance.now();
    const { resolver } = Resolver.build(big, { region: 'eu-west' });
    const buildMs = performance.now() - buildStart;
    const names = services.map((s) => s.name);
    let sink = 0;
    for (const name of names) sink += resolver.resolve(name).candidates.length; // first calls materialize each list
    const n = 500_000;
    const start = performance.now();
    for (let i = 0; i < n; i++) sink += resolver.resolve(names[i % 10_000]!).candidates.length;
    const perCallUs = ((performance.now() - start) * 1000) / n;
    expect(sink).to.be.greaterThan(0);
    console.log(`      resolver: build ${buildMs.toFixed(1)} ms for 10 000 services; resolve ${perCallUs.toFixed(3)} µs/call`);
    expect(perCallUs).to.be.lessThan(2);
  });
});
