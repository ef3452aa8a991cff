import { expect } from 'chai';
import { checkDocument } from '../../client-sdk/document.js';
import { InvalidTopologyError } from '../../client-sdk/errors.js';
import { buildDocument } from '../../gateway/document.js';
import type { RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import { Problems } from '../../registry/manifest/errors.js';
import { checkBeforeWriting } from '../../registry/apply/prewrite.js';
import type { LocatedManifest } from '../../registry/manifest/schema.js';
import type { Placed } from '../../registry/manifest/validate.js';
import { KeyLayout, TopologyRecords, TopologySnapshot } from '../../store/index.js';
import { checkRecord } from '../../topology/index.js';
import { CORPUS, stored, VALID_GATEWAY, VALID_REGION, VALID_SERVICE, type CorpusEntry } from '../support/record-corpus.js';

const layout = new KeyLayout();
const ENV = 'prod';

function keyOf(e: CorpusEntry): string | undefined {
  switch (e.kind) {
    case 'region':
      return layout.region(ENV, e.name);
    case 'service':
      return layout.service(ENV, e.name);
    case 'gateway':
      return layout.gateway(ENV, e.region ?? 'eu-west', e.name);
    case 'commit':
      return layout.commit(ENV);
    default:
      return undefined;
  }
}

/** The registry's pre-write check (regions and services are what it writes). */
function registryAccepts(e: CorpusEntry): boolean | undefined {
  if (e.kind !== 'region' && e.kind !== 'service') return undefined;
  const problems = new Problems();
  const from: LocatedManifest = {
    origin: { file: 'corpus.yaml', document: 0 },
    manifest: { kind: 'Region', name: e.name, spec: { jurisdiction: 'EU' } },
    locate: () => undefined,
  };
  const regions = new Map<string, Placed<RegionDefinition>>(e.kind === 'region' ? [[e.name, { value: e.value as RegionDefinition, from }]] : []);
  const services = new Map<string, Placed<ServiceDefinition>>(e.kind === 'service' ? [[e.name, { value: e.value as ServiceDefinition, from }]] : []);
  checkBeforeWriting(regions, services, problems);
  return problems.size === 0;
}

/** The gateway's own pre-write check of its registration and report (Registration). */
function gatewayWriterAccepts(e: CorpusEntry): boolean | undefined {
  if (e.kind !== 'gateway' && e.kind !== 'report') return undefined;
  return checkRecord(e.kind, e.value, { name: e.name, region: e.region ?? 'eu-west' }).ok;
}

/** What a reader (gateway watch, registry view/status/apply) makes of the stored value, over a valid environment. */
function readBack(e: CorpusEntry): { accepted: boolean; records: TopologyRecords } {
  const records = new TopologyRecords(layout, ENV);
  records.apply(layout.region(ENV, 'eu-west'), JSON.stringify(VALID_REGION));
  records.apply(layout.service(ENV, 'catalog'), JSON.stringify(VALID_SERVICE));
  records.apply(layout.gateway(ENV, 'eu-west', 'gw-1'), JSON.stringify(VALID_GATEWAY));
  const key = keyOf(e)!;
  records.apply(key, stored(e) ?? 'undefined');
  return { accepted: !records.invalid.has(key), records };
}

describe('one corpus, one verdict at every boundary (registry pre-write, store reader, gateway document, SDK)', () => {
  for (const e of CORPUS) {
    it(`${e.kind}: ${e.what} is ${e.valid ? 'accepted' : 'rejected'} everywhere`, () => {
      const registry = registryAccepts(e);
      if (registry !== undefined) expect(registry, 'registry pre-write check').to.equal(e.valid);
      const writer = gatewayWriterAccepts(e);
      if (writer !== undefined) expect(writer, "gateway's pre-write check").to.equal(e.valid);
      if (keyOf(e) === undefined) return;
      const { accepted, records } = readBack(e);
      expect(accepted, 'store record reader').to.equal(e.valid);
      if (!e.valid) {
        // Quarantined: the last valid version of the key stays.
        if (e.kind === 'service') expect(records.services.get('catalog')).to.deep.equal(VALID_SERVICE);
        if (e.kind === 'region') expect(records.regions.get('eu-west')).to.deep.equal(VALID_REGION);
        if (e.kind === 'gateway') expect(records.gateways.get('eu-west/gw-1')).to.deep.equal(VALID_GATEWAY);
        expect(records.invalid.get(keyOf(e)!)?.reason).to.be.a('string').and.not.equal('');
      }
      // What the gateway publishes from those records, the SDK accepts.
      const doc = buildDocument(records.freeze(7), { maxStaleSeconds: 300, refreshIntervalSeconds: 30, refreshJitterSeconds: 5 });
      expect(() => checkDocument(JSON.parse(JSON.stringify(doc)), 'gateway')).not.to.throw();
    });
  }

  it('a document built from the invalid records anyway (no quarantine, the old gateway) is rejected by the SDK', () => {
    const attacks: Array<[string, Partial<ServiceDefinition> | Partial<RegionDefinition>, 'service' | 'region']> = [
      ['placement <script>', { placement: '<script>' as ServiceDefinition['placement'] }, 'service'],
      ['location with CR/LF', { location: 'a\r\nb' }, 'region'],
    ];
    for (const [what, patch, kind] of attacks) {
      const regions = new Map([['eu-west', { ...VALID_REGION, ...(kind === 'region' ? patch : {}) } as RegionDefinition]]);
      const services = new Map([['catalog', { ...VALID_SERVICE, ...(kind === 'service' ? patch : {}) } as ServiceDefinition]]);
      const doc = buildDocument(new TopologySnapshot(ENV, 7, regions, services, new Map()), {
        maxStaleSeconds: 300,
        refreshIntervalSeconds: 30,
        refreshJitterSeconds: 5,
      });
      expect(() => checkDocument(JSON.parse(JSON.stringify(doc)), 'gateway'), what).to.throw(InvalidTopologyError);
    }
  });

  it('a re-read keeps the last valid version of a key that turned invalid, and forgets keys that are gone', () => {
    const first = new TopologyRecords(layout, ENV);
    first.load([
      [layout.region(ENV, 'eu-west'), JSON.stringify(VALID_REGION)],
      [layout.service(ENV, 'catalog'), JSON.stringify(VALID_SERVICE)],
      [layout.service(ENV, 'gone'), JSON.stringify({ ...VALID_SERVICE, name: 'gone', basePath: '/gone' })],
    ]);
    const again = TopologyRecords.from(first.freeze(1), layout);
    again.load([
      [layout.region(ENV, 'eu-west'), JSON.stringify(VALID_REGION)],
      [layout.service(ENV, 'catalog'), '{"deployments":[null]}'],
    ]);
    expect(again.services.get('catalog')).to.deep.equal(VALID_SERVICE);
    expect(again.services.has('gone')).to.equal(false);
    expect(again.invalidRecords().map((r) => r.key)).to.deep.equal([layout.service(ENV, 'catalog')]);
  });
});
