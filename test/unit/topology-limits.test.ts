import { expect } from 'chai';
import axios from 'axios';
import { checkDocument } from '../../client-sdk/document.js';
import { InvalidTopologyError } from '../../client-sdk/errors.js';
import { LatencyTable, probeRegions } from '../../client-sdk/latency.js';
import { candidateGateways, orderRegions, TOPOLOGY_LIMITS, validateTopologyDocument } from '../../topology/index.js';
import type { RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import { Problems } from '../../registry/manifest/errors.js';
import { validateTopology, type Placed } from '../../registry/manifest/validate.js';
import { startHttpStub } from '../support/http-stub.js';
import { topologyDoc, type RegionSpec } from '../support/topology-doc.js';

const regionSpecs = (n: number, gatewaysEach = 1, url = (i: number) => `http://r${i}.test`): RegionSpec[] =>
  Array.from({ length: n }, (_, i) => ({ name: `r${i}`, gateways: Array.from({ length: gatewaysEach }, () => ({ url: url(i) })) }));

/** TOPOLOGY_LIMITS: one rule set for the registry, the gateway and the SDK. */
describe('topology size limits and the work per document', () => {
  it('accepts a document at every cap and rejects one over any cap, saying which', () => {
    const L = TOPOLOGY_LIMITS;
    const atCap = topologyDoc({ regions: regionSpecs(L.maxRegions, 1), services: [{ name: 'svc' }] });
    expect(validateTopologyDocument(atCap)).to.deep.equal([]);
    const cases: Array<[string, ReturnType<typeof topologyDoc>, RegExp]> = [
      ['regions', topologyDoc({ regions: regionSpecs(L.maxRegions + 1), services: [] }), /1001 regions, over the limit of 1000/],
      ['services', topologyDoc({ regions: regionSpecs(1), services: Array.from({ length: L.maxServices + 1 }, (_, i) => ({ name: `s${i}` })) }), /20001 services, over the limit of 20000/],
      ['gateways per region', topologyDoc({ regions: regionSpecs(1, L.maxGatewaysPerRegion + 1), services: [] }), /257 gateways in region r0, over the limit of 256 per region/],
      ['gateways', topologyDoc({ regions: regionSpecs(25, 201), services: [] }), /5025 gateways, over the limit of 5000/],
    ];
    for (const [what, doc, message] of cases) {
      const problems = validateTopologyDocument(doc);
      expect(problems.join('\n'), what).to.match(message);
      expect(() => checkDocument(doc, 'gateway http://gw'), what).to.throw(InvalidTopologyError);
    }
  });

  it("the registry rejects an apply whose resulting environment is over the caps, and takes one at them", () => {
    const regions = (n: number) => new Map(Array.from({ length: n }, (_, i) => [`r${i}`, { value: { name: `r${i}`, jurisdiction: 'EU' } }] as [string, Placed<RegionDefinition>]));
    const services = (n: number) =>
      new Map(
        Array.from({ length: n }, (_, i) => [
          `s${i}`,
          { value: { name: `s${i}`, basePath: `/s${i}`, placement: 'regional', deployments: [{ region: 'r0', upstreams: ['http://10.0.0.1:8080'] }] } },
        ] as [string, Placed<ServiceDefinition>]),
      );
    const problems = (r: number, s: number) => {
      const p = new Problems();
      validateTopology(regions(r), services(s), p);
      return p.details.map((d) => d.message);
    };
    expect(problems(TOPOLOGY_LIMITS.maxRegions, 10)).to.deep.equal([]);
    expect(problems(TOPOLOGY_LIMITS.maxRegions + 1, TOPOLOGY_LIMITS.maxServices + 1)).to.deep.equal([
      'the environment would have 1001 regions, over the limit of 1000 (TOPOLOGY_LIMITS): remove resources, or split it into environments',
      'the environment would have 20001 services, over the limit of 20000 (TOPOLOGY_LIMITS): remove resources, or split it into environments',
    ]);
  });

  it('orders the regions of a document at the caps correctly (own region, failover list, then by latency and name)', () => {
    const n = TOPOLOGY_LIMITS.maxRegions;
    const failover = Array.from({ length: n / 2 }, (_, i) => `r${n - 1 - i * 2}`);
    const doc = topologyDoc({ regions: regionSpecs(n), services: [{ name: 'svc', failover }] });
    const latencyMs = new Map(Array.from({ length: n }, (_, i) => [`r${i}`, i % 7] as [string, number]));
    const order = orderRegions(doc, doc.services[0]!, { region: 'r10', latencyMs });
    expect(order.length).to.equal(n);
    expect(new Set(order).size).to.equal(n);
    expect(order.slice(0, 1 + failover.length)).to.deep.equal(['r10', ...failover.filter((r) => r !== 'r10')]);
    const rest = order.slice(1 + failover.filter((r) => r !== 'r10').length);
    for (let i = 1; i < rest.length; i++) {
      const [a, b] = [latencyMs.get(rest[i - 1]!)!, latencyMs.get(rest[i]!)!];
      expect(a < b || (a === b && rest[i - 1]! < rest[i]!), `${rest[i - 1]} before ${rest[i]}`).to.equal(true);
    }
    expect(candidateGateways(doc, doc.services[0]!, { region: 'r10', latencyMs }).map((g) => g.region)).to.deep.equal(order);
  });

  it('probes region latencies at most maxConcurrentProbes at a time (a counting server), and measures every region', async () => {
    let inFlight = 0;
    let most = 0;
    let served = 0;
    const server = await startHttpStub((_url, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        inFlight--;
        served++;
        res.end('ok');
      }, 20);
    });
    try {
      const base = server.url;
      const doc = topologyDoc({ regions: regionSpecs(60, 1, () => base), services: [] });
      const table = new LatencyTable();
      await probeRegions(doc, axios.create(), table, 10_000, new AbortController().signal, 4);
      expect(served).to.equal(60);
      expect(doc.regions.every((r) => table.has(r.name))).to.equal(true);
      expect(most).to.be.at.most(4);
    } finally {
      await server.close();
    }
  });
});
