import { expect } from 'chai';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { buildDocument } from '../../gateway/document.js';
import { gatewayKey, TopologySnapshot } from '../../store/index.js';
import {
  checkRecord,
  validateCommitRecord,
  validateGatewayRegistration,
  validateGatewayReport,
  validateRegionDefinition,
  validateServiceDefinition,
  validateTopologyDocument,
  type RecordKind,
} from '../../topology/index.js';
import type { GatewayRegistration, RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import { CORPUS, mutateRecord, VALID_COMMIT, VALID_GATEWAY, VALID_REGION, VALID_REPORT, VALID_SERVICE } from '../support/record-corpus.js';

const SCHEMA_OF: Record<RecordKind | 'document', string> = {
  region: 'RegionDefinition',
  service: 'ServiceDefinition',
  gateway: 'GatewayRegistration',
  report: 'GatewayReport',
  commit: 'CommitRecord',
  document: 'TopologyDocument',
};

/** The contract's schemas, compiled by ajv with formats: the reference the core validators must never be looser than. */
function contractValidators(): Record<RecordKind | 'document', (v: unknown) => boolean> {
  const spec = parse(readFileSync('openapi/waymark.yaml', 'utf8')) as Record<string, unknown>;
  const ajv = new Ajv2020({ strict: false, allErrors: false });
  addFormats.default(ajv);
  ajv.addSchema({ $id: 'waymark', components: (spec as { components: unknown }).components });
  const out = {} as Record<RecordKind | 'document', (v: unknown) => boolean>;
  for (const [kind, name] of Object.entries(SCHEMA_OF)) {
    const validate = ajv.compile({ $ref: `waymark#/components/schemas/${name}` });
    out[kind as RecordKind | 'document'] = (v) => validate(v) === true;
  }
  return out;
}

const VALID_OF: Record<RecordKind, Record<string, unknown>> = {
  region: VALID_REGION,
  service: VALID_SERVICE,
  gateway: VALID_GATEWAY,
  report: VALID_REPORT,
  commit: VALID_COMMIT,
};

/** Values a hostile or broken writer puts anywhere. */
const HOSTILE: readonly unknown[] = [
  null,
  true,
  0,
  -1,
  1e308,
  1.5,
  Number.MAX_SAFE_INTEGER + 2,
  '',
  'x',
  '<script>alert(1)</script>',
  'javascript:alert(1)',
  'a\r\nb',
  '\u0000',
  '\u001b[2J',
  'EU',
  'eu-west',
  '/x/v1',
  'http://127.0.0.1:1',
  'http://a/%zz',
  'http://a/[x]',
  'HTTP://A',
  '2026-02-30T00:00:00Z',
  '2026-12-01T10:00:00Z',
  'up',
  'pinned',
  [],
  [null],
  [[[[[[[[[[[[]]]]]]]]]]]],
  {},
  { region: 'eu-west' },
  'y'.repeat(3000),
];

/** A valid record with one field (possibly nested) replaced by a hostile value, removed, or added. */
function mutated(kind: RecordKind): fc.Arbitrary<unknown> {
  const base = VALID_OF[kind];
  const value = fc.oneof(fc.constantFrom(...HOSTILE), fc.jsonValue({ maxDepth: 3 }), fc.string());
  return fc
    .tuple(fc.nat(), fc.nat(), value, fc.boolean())
    .map(([a, b, v, remove]) => JSON.parse(JSON.stringify(mutateRecord(base, a, b, v, remove, ['extra', 'jurisdictions', 'failover', 'staleSince', 'invalidRecords']))) as unknown);
}

describe('core validators', () => {
  describe('each kind', () => {
    it('accepts the valid record of each kind', () => {
      expect(validateRegionDefinition(VALID_REGION, { name: 'eu-west' })).to.deep.equal([]);
      expect(validateServiceDefinition(VALID_SERVICE, { name: 'catalog' })).to.deep.equal([]);
      expect(validateGatewayRegistration(VALID_GATEWAY, { name: 'gw-1', region: 'eu-west' })).to.deep.equal([]);
      expect(validateGatewayReport(VALID_REPORT, { name: 'gw-1', region: 'eu-west' })).to.deep.equal([]);
      expect(validateCommitRecord(VALID_COMMIT)).to.deep.equal([]);
    });

    it('names the path and the problem (issue 13: deployments: [null], a deployment without upstreams)', () => {
      expect(validateServiceDefinition({ ...VALID_SERVICE, deployments: [null] })).to.deep.equal(['deployments[0]: must be an object']);
      expect(validateServiceDefinition({ ...VALID_SERVICE, deployments: [{ region: 'eu-west' }] })).to.deep.equal(['deployments[0].upstreams: is required']);
      expect(validateServiceDefinition({ ...VALID_SERVICE, placement: '<script>' })).to.deep.equal(['placement: must be "global", "regional" or "pinned"']);
      expect(validateGatewayRegistration({ ...VALID_GATEWAY, status: 'evil' })).to.deep.equal(['status: must be "up" or "draining"']);
      expect(validateGatewayRegistration({ ...VALID_GATEWAY, url: 'javascript:alert(1)' })[0]).to.match(/^url: must be an http\(s\) URL/);
      expect(validateRegionDefinition({ ...VALID_REGION, location: 'a\r\nb' })).to.deep.equal(['location: must not contain control characters']);
      expect(validateRegionDefinition(VALID_REGION, { name: 'us-east' })).to.deep.equal(['name: is "eu-west" but the key says "us-east"']);
      expect(validateGatewayRegistration(VALID_GATEWAY, { name: 'gw-1', region: 'us-east' })).to.deep.equal(['region: is "eu-west" but the key says "us-east"']);
    });

    it('judges every record of the corpus as expected', () => {
      for (const e of CORPUS) {
        const checked = checkRecord(e.kind, JSON.parse(JSON.stringify(e.value) ?? 'null'), { name: e.name, ...(e.region ? { region: e.region } : {}) });
        expect(checked.ok, `${e.kind}: ${e.what}: ${checked.ok ? '' : checked.problems.join('; ')}`).to.equal(e.valid);
      }
    });

    it('caps the problems it lists', () => {
      const problems = validateServiceDefinition({ ...VALID_SERVICE, deployments: Array.from({ length: 100 }, () => null) });
      expect(problems).to.have.length(21);
      expect(problems[20]).to.equal('(80 more problems)');
    });

    it('never throws, whatever the value (fast-check)', () => {
      const kinds: RecordKind[] = ['region', 'service', 'gateway', 'report', 'commit'];
      fc.assert(
        fc.property(fc.oneof(fc.anything(), fc.jsonValue()), fc.constantFrom(...kinds), (v, kind) => {
          checkRecord(kind, v, { name: 'x', region: 'y' });
          validateTopologyDocument(v);
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('against the contract (ajv compiles openapi/waymark.yaml)', () => {
    const ajv = contractValidators();

    it('the contract accepts every valid record of the corpus', () => {
      for (const e of CORPUS.filter((x) => x.valid)) expect(ajv[e.kind](JSON.parse(JSON.stringify(e.value))), `${e.kind}: ${e.what}`).to.equal(true);
    });

    it('a core validator never accepts what the contract rejects: the corpus', () => {
      for (const e of CORPUS) {
        const v = JSON.parse(JSON.stringify(e.value) ?? 'null') as unknown;
        if (checkRecord(e.kind, v).ok) expect(ajv[e.kind](v), `${e.kind}: ${e.what}`).to.equal(true);
      }
    });

    for (const kind of ['region', 'service', 'gateway', 'report', 'commit'] as const) {
      it(`a core validator never accepts what the contract rejects: mutated ${SCHEMA_OF[kind]}s (fast-check)`, () => {
        fc.assert(
          fc.property(mutated(kind), (v) => !checkRecord(kind, v).ok || ajv[kind](v)),
          { numRuns: 1500 },
        );
      });
    }

    it('the document validator never accepts what the contract rejects: mutated documents (fast-check)', () => {
      const doc = gatewayDocument(3);
      fc.assert(
        fc.property(fc.nat(), fc.nat(), fc.constantFrom(...HOSTILE), (a, b, v) => {
          const copy = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
          const keys = Object.keys(copy);
          const key = keys[a % keys.length];
          const field = copy[key];
          if (Array.isArray(field) && field.length > 0) {
            const item = field[b % field.length] as Record<string, unknown>;
            const inner = Object.keys(item);
            item[inner[b % inner.length]] = v;
          } else copy[key] = v;
          const value = JSON.parse(JSON.stringify(copy)) as unknown;
          return validateTopologyDocument(value).length > 0 || ajv.document(value);
        }),
        { numRuns: 1500 },
      );
    });
  });

  describe('speed', () => {
    it('validates 10 000 services, and the document built from them, in well under a second', () => {
      const services = Array.from({ length: 10_000 }, (_, i) => ({
        ...VALID_SERVICE,
        name: `svc-${i}`,
        basePath: `/svc-${i}/v1`,
        deployments: [
          { region: 'eu-west', upstreams: [`http://10.0.${i % 250}.1:8080`, `http://10.0.${i % 250}.2:8080`] },
          { region: 'us-east', upstreams: [`http://10.1.${i % 250}.1:8080`] },
        ],
      }));
      const texts = services.map((s) => JSON.stringify(s));
      const started = performance.now();
      for (let i = 0; i < texts.length; i++) {
        const checked = checkRecord('service', JSON.parse(texts[i]), { name: `svc-${i}` });
        if (!checked.ok) throw new Error(checked.problems.join('; '));
      }
      const records = performance.now() - started;
      const doc = gatewayDocument(10_000);
      const docStarted = performance.now();
      expect(validateTopologyDocument(doc)).to.deep.equal([]);
      const document = performance.now() - docStarted;
      console.log(`      10 000 services: records parsed and validated in ${records.toFixed(0)} ms, their document validated in ${document.toFixed(0)} ms`);
      expect(records).to.be.below(2000);
      expect(document).to.be.below(2000);
    });
  });
});

/** A document as the gateway builds it, for `n` services in two regions. */
export function gatewayDocument(n: number) {
  const regions = new Map<string, RegionDefinition>([
    ['eu-west', { name: 'eu-west', jurisdiction: 'EU', provider: 'cloud-a', location: 'Dublin' }],
    ['us-east', { name: 'us-east', jurisdiction: 'US' }],
  ]);
  const services = new Map<string, ServiceDefinition>();
  for (let i = 0; i < n; i++) {
    services.set(`svc-${i}`, {
      name: `svc-${i}`,
      basePath: `/svc-${i}/v1`,
      placement: i % 3 === 0 ? 'pinned' : 'regional',
      ...(i % 3 === 0 ? { jurisdictions: ['EU'] } : {}),
      deployments: [{ region: 'eu-west', upstreams: ['http://10.0.0.1:8080'] }],
    });
  }
  const gateways = new Map<string, GatewayRegistration>([[gatewayKey('eu-west', 'gw-1'), VALID_GATEWAY as GatewayRegistration]]);
  return buildDocument(new TopologySnapshot('prod', 42, regions, services, gateways), {
    maxStaleSeconds: 300,
    refreshIntervalSeconds: 30,
    refreshJitterSeconds: 5,
  });
}
