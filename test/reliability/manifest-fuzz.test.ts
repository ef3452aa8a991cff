import { expect } from 'chai';
import fc from 'fast-check';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import type { ErrorDetail } from '../../openapi/index.js';
import { isValidName } from '../../topology/index.js';
import { applyManifests, loadManifests, ValidationError, type ManifestSource, type OperationContext } from '../../registry/index.js';
import { applyYaml } from '../support/admin-api.js';
import { regionYaml, serviceYaml, yamlDocuments } from '../support/manifests.js';
import { useRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv } from '../support/wait.js';

/** Longest one input may take to be accepted or rejected (51 000 documents take about 2.5 s here). */
const RUN_BOUND_MS = 5000;

/** Runs `fn`, which must return or throw a ValidationError with details, within RUN_BOUND_MS. */
function outcome<T>(fn: () => T): { ok: true; value: T } | { ok: false; details: ErrorDetail[] } {
  const started = performance.now();
  try {
    const value = fn();
    return { ok: true, value };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw new Error(`not a ValidationError: ${String(err)}`, { cause: err });
    checkDetails(err.details);
    return { ok: false, details: err.details };
  } finally {
    const ms = performance.now() - started;
    if (ms > RUN_BOUND_MS) throw new Error(`one input took ${Math.round(ms)} ms`);
  }
}

function checkDetails(details: readonly ErrorDetail[]): void {
  expect(details.length, 'a rejection names at least one problem').to.be.greaterThan(0);
  for (const d of details) {
    expect(d.message, JSON.stringify(d)).to.be.a('string').and.not.equal('');
    expect(d.file, `where: ${JSON.stringify(d)}`).to.be.a('string');
  }
}

function checkLoaded(loaded: ReturnType<typeof loadManifests>): void {
  expect(loaded.resources.length + (loaded.environment ? 1 : 0), 'an accepted set has documents').to.be.greaterThan(0);
  for (const r of loaded.resources) expect(isValidName(r.manifest.name), r.manifest.name).to.equal(true);
}

// ---- generators -------------------------------------------------------------------------------

/** Fragments that YAML and JSON give meaning to, to make strings that get past the tokenizer. */
const yamlToken = fc.constantFrom(
  'apiVersion: waymark/v1', 'kind: Service', 'kind: Region', 'kind: Environment', 'metadata:', '  name: hr', 'spec:',
  '  basePath: /hr/v1', '  placement: regional', '  deployments:', '    - region: eu-west', '      upstreams: [http://10.0.0.1]',
  '\n', '\n', '---\n', '- ', '  ', ': ', '&a ', '*a', '<<: *a', '[', ']', '{', '}', ',', '"', "'", '#', '!!str ', '!!binary ',
  '!foo ', '%YAML 1.2\n', '? ', '|', '>-', '\t', '\u0000', '\ufeff', '${x}', '$${x}', '\r\n', 'null', '~', '1e309', '0x1F', '.nan',
);
const yamlish = fc.array(yamlToken, { maxLength: 60 }).map((parts) => parts.join(''));

const names = fc.oneof(
  fc.constantFrom('hr', 'crm', 'eu-west', 'us-east', 'prod'),
  fc.constantFrom('../x', 'a/b', '', 'a'.repeat(64), 'HR', '\u04bbr', 'hr\u200b', '\uff48\uff52', '-a', 'a-', 'a..b', '%2e%2e', 'a b'),
  fc.string({ maxLength: 70 }),
  fc.integer(),
  fc.constant(null),
);
const regionNames = fc.oneof(fc.constantFrom('eu-west', 'us-east', 'nowhere'), names);
const upstreams = fc.oneof(
  fc.array(
    fc.oneof(
      fc.constantFrom('http://10.0.0.1:8080', 'https://backend.internal', 'file:///etc/passwd', 'javascript:alert(1)', 'http://', 'not a url', '${up}', '$${up}', '//x'),
      fc.string({ maxLength: 30 }),
    ),
    { maxLength: 3 },
  ),
  fc.anything({ maxDepth: 2 }),
);
const regionDoc = fc.record({
  apiVersion: fc.constantFrom('waymark/v1', 'waymark/v2', 1),
  kind: fc.constantFrom('Region', 'region', 'Service'),
  metadata: fc.record({ name: names }, { requiredKeys: [] }),
  spec: fc.oneof(
    fc.record({ jurisdiction: fc.oneof(fc.constantFrom('EU', 'US', 'eu', 'E U'), fc.anything({ maxDepth: 1 })), provider: fc.string({ maxLength: 10 }) }, { requiredKeys: [] }),
    fc.anything({ maxDepth: 2 }),
  ),
});
const serviceDoc = fc.record({
  apiVersion: fc.constant('waymark/v1'),
  kind: fc.constant('Service'),
  metadata: fc.record({ name: names, labels: fc.anything({ maxDepth: 1 }) }, { requiredKeys: ['name'] }),
  spec: fc.record(
    {
      basePath: fc.oneof(fc.constantFrom('/hr/v1', '/crm', '/', '/../x', '/a/%2e%2e', 'x', '/a?b', '//a', '/a b'), fc.string({ maxLength: 20 })),
      placement: fc.constantFrom('global', 'regional', 'pinned', 'other'),
      jurisdictions: fc.array(fc.constantFrom('EU', 'US', 'eu'), { maxLength: 2 }),
      failover: fc.array(regionNames, { maxLength: 2 }),
      deployments: fc.oneof(fc.array(fc.record({ region: regionNames, upstreams }, { requiredKeys: [] }), { maxLength: 3 }), fc.anything({ maxDepth: 2 })),
      extra: fc.anything({ maxDepth: 1 }),
    },
    { requiredKeys: ['basePath', 'deployments'] },
  ),
});
const environmentDoc = fc.record({
  apiVersion: fc.constant('waymark/v1'),
  kind: fc.constant('Environment'),
  metadata: fc.record({ name: fc.constantFrom('prod', 'dev') }),
  spec: fc.record({ variables: fc.oneof(fc.dictionary(fc.constantFrom('up', 'x', '1bad', '__proto__'), fc.oneof(fc.constantFrom('http://10.0.0.9', '${up}'), fc.anything({ maxDepth: 0 })), { maxKeys: 3 }), fc.anything({ maxDepth: 1 })) }),
});
/** A valid service of eu-west/us-east, so that some sets pass and get written. */
const validService = fc
  .tuple(fc.constantFrom('hr', 'crm', 'pay', 'docs'), fc.constantFrom('eu-west', 'us-east'), fc.constantFrom('regional', 'global'))
  .map(([name, where, placement]) => ({
    apiVersion: 'waymark/v1',
    kind: 'Service',
    metadata: { name },
    spec: { basePath: `/${name}/v1`, placement, deployments: [{ region: where, upstreams: ['http://10.0.0.1:8080'] }] },
  }));
/** A set of near-valid documents, written out as YAML, a JSON array, or handed over parsed. */
const nearValid = fc
  .tuple(fc.array(fc.oneof({ arbitrary: validService, weight: 4 }, regionDoc, serviceDoc, environmentDoc), { minLength: 1, maxLength: 4 }), fc.constantFrom('yaml', 'json', 'parsed'))
  .map(([docs, form]): ManifestSource => {
    const plain = JSON.parse(JSON.stringify(docs, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? 'null') as unknown[];
    if (form === 'parsed') return { file: 'fuzz.json', documents: plain.map((value) => ({ value })) };
    if (form === 'json') return { file: 'fuzz.json', text: JSON.stringify(plain) };
    return { file: 'fuzz.yaml', text: plain.map((d) => stringify(d)).join('---\n') };
  });

// ---- the corpus -----------------------------------------------------------------------------

const laughs = [
  'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
  ...Array.from({ length: 8 }, (_, i) => {
    const [prev, cur] = [String.fromCharCode(97 + i), String.fromCharCode(98 + i)];
    return `${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`;
  }),
].join('\n');
const region = (name: string, extra = '') => `apiVersion: waymark/v1\nkind: Region\nmetadata: { name: ${JSON.stringify(name)} }\nspec: { jurisdiction: EU${extra} }\n`;

/**
 * Hostile manifests; the registry must reject every one with details (the loader alone checks
 * syntax, shape and names; upstreams and variables are checked when the apply is rendered).
 */
const NASTY: Record<string, string> = {
  'billion laughs (alias bomb)': laughs,
  'alias bomb inside a service': `apiVersion: waymark/v1\nkind: Service\nmetadata: { name: hr }\nspec:\n  basePath: /hr\n  placement: regional\n  x: &x [1,2,3,4,5,6,7,8,9,10]\n  deployments: [${Array(200).fill('*x').join(',')}]\n`,
  'deep flow nesting': '['.repeat(20_000) + ']'.repeat(20_000),
  'deep block nesting': Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1',
  'deep JSON nesting': '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000),
  'huge scalar (2 MB)': region('big', `, location: "${'a'.repeat(2_000_000)}"`),
  '51 000 documents': '{}\n---\n'.repeat(51_000),
  '60 000 keys in one mapping': region('wide', `, ${Array.from({ length: 60_000 }, (_, i) => `k${i}: v`).join(', ')}`),
  'duplicate keys': 'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: a }\nmetadata: { name: b }\nspec: { jurisdiction: EU }\n',
  'wrong types': 'apiVersion: waymark/v1\nkind: Service\nmetadata: { name: [hr] }\nspec:\n  basePath: 42\n  placement: true\n  deployments: eu-west\n',
  'spec as a list': 'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: a }\nspec: [EU]\n',
  'Cyrillic look-alike name': region('\u04bbr'),
  'zero-width space in a name': region('hr\u200b'),
  'full-width name': region('\uff48\uff52'),
  'name ../x': region('../x'),
  'name a/b': region('a/b'),
  'empty name': region(''),
  'name of 64 characters': region('a'.repeat(64)),
  'upper-case name': region('EU-West'),
  'percent-encoded traversal name': region('%2e%2e'),
  'upstream file://': serviceYaml('hr', { deployments: { 'eu-west': ['file:///etc/passwd'] } }),
  'upstream javascript:': serviceYaml('hr', { deployments: { 'eu-west': ['javascript:alert(1)'] } }),
  'base path traversal': `${region('eu-west')}---\n${serviceYaml('hr', { basePath: '/hr/../admin', deployments: { 'eu-west': ['http://10.0.0.1'] } })}`,
  'encoded base path traversal': `${region('eu-west')}---\n${serviceYaml('hr', { basePath: '/hr/%2e%2e/admin?x=1', deployments: { 'eu-west': ['http://10.0.0.1'] } })}`,
  '__proto__ key': '{"apiVersion":"waymark/v1","kind":"Region","metadata":{"name":"x"},"spec":{"jurisdiction":"EU","__proto__":{"polluted":1}}}',
  'constructor.prototype key': '{"apiVersion":"waymark/v1","kind":"Region","metadata":{"name":"x","constructor":{"prototype":{"polluted":1}}},"spec":{"jurisdiction":"EU"}}',
  'NUL byte and BOM': `\ufeffapiVersion: waymark/v1\u0000\nkind: Region\n`,
  'unknown tags': 'apiVersion: !!js/function "return 1"\nkind: !foo Region\nmetadata: !!binary aGVsbG8=\n',
  'YAML merge key': 'base: &b { jurisdiction: EU }\napiVersion: waymark/v1\nkind: Region\nmetadata: { name: a }\nspec: { <<: *b }\n',
  'undefined variable': serviceYaml('hr', { deployments: { 'eu-west': ['${nope}'] } }),
  'unterminated variable': `${region('eu-west')}---\n${serviceYaml('hr', { deployments: { 'eu-west': ['http://${up'] } })}`,
  'Environment for another environment': 'apiVersion: waymark/v1\nkind: Environment\nmetadata: { name: other }\nspec: { variables: {} }\n',
  'only comments': '# nothing\n---\n# still nothing\n',
  'empty text': '',
  'not YAML at all': '\u0001\u0002\u0003 : : : [[[',
};

describe('hostile manifests (property-based fuzz and a corpus of nasty YAML)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const reg = useRegistry(ctx);

  it('loadManifests: arbitrary strings and YAML-ish token soup end in a result or a ValidationError with details', () => {
    const env = 'prod';
    let rejected = 0;
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 400 }), yamlish), (text) => {
        const res = outcome(() => loadManifests([{ file: 'fuzz.yaml', text }], env));
        if (res.ok) checkLoaded(res.value);
        else rejected++;
      }),
      { numRuns: 400, interruptAfterTimeLimit: 20_000 },
    );
    expect(rejected).to.be.greaterThan(0);
  });

  it('loadManifests: near-valid structured manifests (YAML, JSON, parsed) never crash, hang or pass an invalid name', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(nearValid, (source) => {
        const res = outcome(() => loadManifests([source], 'prod'));
        if (res.ok) {
          checkLoaded(res.value);
          accepted++;
        } else {
          rejected++;
        }
      }),
      { numRuns: 400, interruptAfterTimeLimit: 20_000 },
    );
    expect(rejected).to.be.greaterThan(0);
    console.log(`      near-valid manifests: ${accepted} accepted, ${rejected} rejected with details`);
  });

  it('applyManifests against etcd: a rejected apply writes nothing, an accepted one is readable back', async () => {
    const env = uniqueEnv('fuzz');
    const opCtx: OperationContext = { conn: ctx.conn, layout: ctx.layout, leaseId: () => undefined };
    const revision = async () => Number((await ctx.conn.client.get('/').exec()).header.revision);
    await applyManifests(opCtx, { environment: env, sources: [{ file: 'seed.yaml', text: yamlDocuments(regionYaml('eu-west', 'EU'), regionYaml('us-east', 'US')) }] });
    let accepted = 0;
    let rejected = 0;
    // Services move between regions across runs; base paths stay unique per name.
    await fc.assert(
      fc.asyncProperty(nearValid, async (source) => {
        const before = await revision();
        const started = performance.now();
        try {
          const res = await applyManifests(opCtx, { environment: env, sources: [source] });
          expect(res.environment).to.equal(env);
          expect(res.revision).to.be.at.least(before);
          accepted++;
        } catch (err) {
          if (!(err instanceof ValidationError)) throw err;
          checkDetails(err.details);
          expect(await revision(), 'etcd revision after a rejected apply').to.equal(before);
          rejected++;
        }
        expect(performance.now() - started).to.be.below(RUN_BOUND_MS);
      }),
      { numRuns: 60, interruptAfterTimeLimit: 20_000 },
    );
    expect(accepted, 'some generated sets are valid').to.be.greaterThan(0);
    expect(rejected).to.be.greaterThan(0);
    console.log(`      applies through etcd: ${accepted} accepted, ${rejected} rejected without a write`);
  });

  it('rejects every nasty input with details, in bounded time, and through the registry leaves etcd untouched', async () => {
    const env = uniqueEnv('nasty');
    await applyYaml(reg.url, reg.adminToken, env, yamlDocuments(regionYaml('eu-west', 'EU')));
    const timings: string[] = [];
    for (const [name, text] of Object.entries(NASTY)) {
      const started = performance.now();
      outcome(() => loadManifests([{ file: 'nasty.yaml', text }], env));
      const localMs = Math.round(performance.now() - started);

      const before = Number((await ctx.conn.client.get('/').exec()).header.revision);
      const answer = await applyYaml(reg.url, reg.adminToken, env, text);
      expect([answer.status, answer.body.code], name).to.deep.equal([422, 'VALIDATION_FAILED']);
      checkDetails(answer.body.details ?? []);
      expect(Number((await ctx.conn.client.get('/').exec()).header.revision), `${name}: etcd revision`).to.equal(before);
      expect(({} as Record<string, unknown>).polluted, `${name}: Object.prototype`).to.equal(undefined);
      timings.push(`${name} ${localMs}/${answer.ms} ms`);
    }
    expect((await fetch(`${reg.url}/healthz`)).status).to.equal(200);
    console.log(`      nasty corpus (${Object.keys(NASTY).length} inputs, loader/HTTP): ${timings.join('; ')}`);
  });
});
