import { expect } from 'chai';
import { rejectedManifests } from '../support/manifests.js';
import { readFileSync } from 'node:fs';
import type { ErrorDetail, RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import { loadManifests, substitute, ValidationError } from '../../registry/index.js';
import { Problems } from '../../registry/manifest/errors.js';
import { renderManifest } from '../../registry/manifest/render.js';
import { validateTopology, type Placed } from '../../registry/manifest/validate.js';
import { fieldChanges } from '../../registry/apply/plan.js';
import { decodeSource, encodeSource, mergeSource, sourceMutations } from '../../registry/apply/source.js';
import { KeyLayout } from '../../store/index.js';

const region = (name: string, jurisdiction = 'EU') =>
  `apiVersion: waymark/v1\nkind: Region\nmetadata: { name: ${name} }\nspec: { jurisdiction: ${jurisdiction}, provider: cloud-a }\n`;

const rejected = rejectedManifests;

/** Loads, renders and validates the whole state, as an apply with prune does. */
function check(yaml: string, variables: Record<string, string> = {}): ErrorDetail[] {
  const loaded = loadManifests([{ file: 'm.yaml', text: yaml }], 'prod');
  const problems = new Problems();
  const regions = new Map<string, Placed<RegionDefinition>>();
  const services = new Map<string, Placed<ServiceDefinition>>();
  for (const m of loaded.resources) {
    const r = renderManifest(m, { ...loaded.environment?.variables, ...variables }, 'prod', problems);
    if (r?.kind === 'Region') regions.set(r.definition.name, { value: r.definition, from: m });
    if (r?.kind === 'Service') services.set(r.definition.name, { value: r.definition, from: m });
  }
  validateTopology(regions, services, problems);
  return problems.details;
}

const svc = (name: string, spec: string) => `apiVersion: waymark/v1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n${spec}`;

describe('manifests', () => {
  it('loads the global-enterprise example with its variables', () => {
    const dir = 'examples/global-enterprise';
    const loaded = loadManifests(
      ['regions.yaml', 'services.yaml', 'environments/prod.yaml'].map((f) => ({ file: f, text: readFileSync(`${dir}/${f}`, 'utf8') })),
      'prod',
    );
    expect(loaded.resources.map((r) => `${r.manifest.kind}/${r.manifest.name}`)).to.include.members(['Region/eu-west', 'Service/hr']);
    expect(loaded.environment?.variables.hrEuWest).to.match(/^http:/);
    const hr = loaded.resources.find((r) => r.manifest.name === 'hr')!;
    expect(hr.origin).to.deep.equal({ file: 'services.yaml', document: 0 });
    expect(hr.locate(['spec', 'deployments', 0, 'region'])).to.deep.equal({ line: 10, column: 7 });
  });

  it('reports YAML syntax errors with line and column', () => {
    const [d] = rejected([{ file: 'bad.yaml', text: `${region('eu-west')}---\nkind: Region\nmetadata: { name: [oops }\n` }]);
    expect(d).to.include({ file: 'bad.yaml', document: 1 });
    expect(d.line).to.equal(7);
    expect(d.column).to.be.a('number');
    expect(d.message).to.match(/^YAML syntax error/);
  });

  it('rejects unknown apiVersion, kind and fields, naming each field', () => {
    const details = rejected([
      {
        file: 'x.yaml',
        text: 'apiVersion: waymark/v2\nkind: Region\nmetadata: { name: eu-west }\nspec: { jurisdiction: EU, zone: a }\n---\napiVersion: waymark/v1\nkind: Gateway\nmetadata: { name: g }\nspec: {}\n',
      },
    ]);
    expect(details.map((d) => [d.document, d.field])).to.deep.equal([
      [0, 'apiVersion'],
      [0, 'spec.zone'],
      [1, 'kind'],
    ]);
    expect(details[1]).to.include({ resource: 'Region/eu-west', line: 4, column: 27 });
    expect(details[2].message).to.match(/unknown kind "Gateway"/);
  });

  it('rejects names that are not DNS labels, and duplicate resources', () => {
    const details = rejected([
      { file: 'a.yaml', text: `${region('EU_West')}---\n${region('eu-west')}` },
      { file: 'b.yaml', text: region('eu-west') },
    ]);
    expect(details[0]).to.include({ file: 'a.yaml', document: 0, field: 'metadata.name', line: 3 });
    expect(details[0].message).to.match(/not a valid name/);
    expect(details[1]).to.include({ file: 'b.yaml', document: 0, resource: 'Region/eu-west' });
    expect(details[1].message).to.match(/defined twice: first in a.yaml document 1/);
  });

  it('rejects an Environment document for another environment', () => {
    const [d] = rejected([{ file: 'e.yaml', text: 'apiVersion: waymark/v1\nkind: Environment\nmetadata: { name: dev }\nspec: { variables: { a: "1" } }\n' }]);
    expect(d).to.include({ resource: 'Environment/dev', field: 'metadata.name' });
    expect(d.message).to.match(/targets environment prod/);
  });

  it('rejects documents over the size limit and alias bombs', () => {
    const big = svc('big', `  basePath: /big\n  placement: global\n  deployments: [{ region: eu-west, upstreams: ["http://x/${'a'.repeat(200_000)}"] }]\n`);
    const [d] = rejected([{ file: 'big.yaml', text: big }]);
    expect(d.message).to.match(/over the limit of 131072/);
    const bomb = 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n';
    const [e] = rejected([{ file: 'bomb.yaml', text: bomb }]);
    expect(e.message).to.match(/alias/i);
  });

  it('rejects an empty set', () => {
    const [d] = rejected([{ file: 'empty.yaml', text: '# nothing\n' }]);
    expect(d.message).to.match(/no resources/);
  });

  it('accepts JSON arrays and envelopes with positions', () => {
    const doc = { apiVersion: 'waymark/v1', kind: 'Region', metadata: { name: 'eu-west' }, spec: { jurisdiction: 'EU', extra: 1 } };
    const details = rejected([{ file: 'r.json', text: JSON.stringify([doc, doc], null, 2) }]);
    expect(details[0]).to.include({ file: 'r.json', document: 0, field: 'spec.extra' });
    expect(details[0].line).to.be.greaterThan(1);
    expect(details[1]).to.include({ document: 1, field: 'spec.extra' });
    const ok = loadManifests([{ file: 'r.json', text: JSON.stringify({ documents: [{ ...doc, spec: { jurisdiction: 'EU' } }] }) }], 'prod');
    expect(ok.resources).to.have.length(1);
  });

  it('checks placement, jurisdictions, regions, base paths and upstreams', () => {
    const yaml = [
      region('eu-west'),
      region('us-east', 'US'),
      svc('hr', '  basePath: /hr/v1\n  placement: pinned\n  jurisdictions: [EU]\n  deployments:\n    - { region: eu-west, upstreams: ["${hrEu}"] }\n'),
      svc('hr2', '  basePath: /hr/v2\n  placement: pinned\n  jurisdictions: [EU]\n  deployments:\n    - { region: eu-west, upstreams: ["http://10.0.0.1"] }\n    - { region: us-east, upstreams: ["http://10.0.0.1"] }\n'),
      svc('nojur', '  basePath: /nojur\n  placement: pinned\n  deployments: [{ region: eu-west, upstreams: ["http://a"] }]\n'),
      svc('a', '  basePath: /a\n  placement: global\n  deployments: [{ region: mars, upstreams: ["ftp://a", "/relative"] }]\n'),
      svc('ab', '  basePath: /a/b\n  placement: regional\n  deployments: [{ region: eu-west, upstreams: ["https://ab.internal:8443"] }]\n'),
    ].join('---\n');
    let details: ErrorDetail[] = [];
    try {
      check(yaml);
    } catch (err) {
      details = (err as ValidationError).details;
    }
    // Shape problems (pinned without jurisdictions) stop the load before rendering.
    expect(details.map((d) => `${d.resource} ${d.field}`)).to.deep.equal(['Service/nojur spec.jurisdictions']);
    details = check(yaml.split('---\n').filter((d) => !d.includes('nojur')).join('---\n'));
    const seen = details.map((d) => `${d.resource} ${d.field}: ${d.message}`);
    expect(seen, seen.join('\n')).to.have.length(6);
    expect(seen[0]).to.match(/^Service\/hr spec.deployments\[0\].upstreams\[0\]: variable hrEu is not defined in environment prod/);
    expect(seen[1]).to.match(/^Service\/hr2 spec.deployments\[1\].region: pinned service hr2 may only run in EU, but region us-east is in jurisdiction US/);
    expect(seen[2]).to.match(/^Service\/a spec.deployments\[0\].region: region mars is not defined/);
    expect(seen[3]).to.match(/^Service\/a spec.deployments\[0\].upstreams\[0\]: "ftp:\/\/a" is not an http\(s\) URL/);
    expect(seen[4]).to.match(/^Service\/a spec.deployments\[0\].upstreams\[1\]: "\/relative" is not an absolute URL/);
    expect(seen[5]).to.match(/^Service\/ab spec.basePath: base path \/a\/b overlaps \/a of service a/);
    expect(details[0]).to.include({ file: 'm.yaml', document: 2, line: 19 });
  });

  it('accepts docs and openapi links that are absolute http(s) URLs or paths under the base path, and renders them', () => {
    const deployments = '  deployments: [{ region: eu-west, upstreams: [http://10.0.0.1] }]\n';
    const yaml = `${region('eu-west')}---\n${svc('hr', `  basePath: /hr/v1\n  placement: regional\n  docs: https://docs.example.com/hr#intro\n  openapi: /hr/v1/openapi.json\n${deployments}`)}`;
    const loaded = loadManifests([{ file: 'm.yaml', text: yaml }], 'prod');
    const rendered = renderManifest(loaded.resources[1]!, {}, 'prod', new Problems());
    expect(rendered?.kind === 'Service' && rendered.definition).to.include({ docs: 'https://docs.example.com/hr#intro', openapi: '/hr/v1/openapi.json' });
    expect(check(yaml)).to.deep.equal([]);
  });

  it('refuses docs and openapi links outside the base path, of another scheme, with credentials, or with a variable', () => {
    const spec = (docs: string, openapi = '/hr/v1/openapi.json') =>
      `${region('eu-west')}---\n${svc('hr', `  basePath: /hr/v1\n  placement: regional\n  docs: ${JSON.stringify(docs)}\n  openapi: ${JSON.stringify(openapi)}\n  deployments: [{ region: eu-west, upstreams: [http://10.0.0.1] }]\n`)}`;
    for (const [docs, pattern] of [
      ['/crm/v1/docs', /path under the base path \/hr\/v1/],
      ['/hr/v10/docs', /path under the base path/],
      ['/hr/v1/../../admin', /path under the base path/],
      ['docs/hr', /absolute http\(s\) URL/],
      ['ftp://docs.example.com/hr', /absolute http\(s\) URL/],
      ['javascript:alert(1)', /absolute http\(s\) URL/],
      ['https://user:pw@docs.example.com/', /credentials/],
    ] as const) {
      const [d, ...more] = rejected([{ file: 'm.yaml', text: spec(docs) }]);
      expect(more, docs).to.deep.equal([]);
      expect(d, docs).to.include({ field: 'spec.docs', resource: 'Service/hr', file: 'm.yaml' });
      expect(d!.message, docs).to.match(pattern);
    }
    const [v, ...more] = rejected([{ file: 'm.yaml', text: spec('https://docs.example.com/${docsHost}', '${spec}') }]);
    expect(v).to.include({ field: 'spec.docs' });
    expect(v!.message).to.match(/\$\{docsHost\} in spec\.docs: variables may only be used in spec\.deployments\[\]\.upstreams/);
    expect(more.map((d) => d.field)).to.deep.equal(['spec.openapi']);
  });

  it('treats equal base paths and a root path as overlapping, but not /a and /ab', () => {
    const base = region('eu-west');
    const s = (name: string, path: string) => svc(name, `  basePath: ${path}\n  placement: regional\n  deployments: [{ region: eu-west, upstreams: ["http://a"] }]\n`);
    expect(check([base, s('a', '/a'), s('ab', '/ab')].join('---\n'))).to.deep.equal([]);
    expect(check([base, s('a', '/a/'), s('b', '/a')].join('---\n'))).to.have.length(1);
    expect(check([base, s('root', '/'), s('b', '/b/c')].join('---\n'))).to.have.length(1);
    expect(check([base, s('q', '/b?x=1')].join('---\n'))[0].message).to.match(/not a base path/);
  });

  it('substitutes variables, with $${x} as an escape', () => {
    expect(substitute('http://${host}:${port}/$${literal}', { host: 'h', port: '80' })).to.deep.equal({
      text: 'http://h:80/${literal}',
      missing: [],
    });
    expect(substitute('${a}${b}', { a: '1' }).missing).to.deep.equal(['b']);
    expect(substitute('${toString}', {}).missing).to.deep.equal(['toString']);
  });
});

describe('apply planning', () => {
  it('lists changed fields as manifest paths', () => {
    const from: ServiceDefinition = { name: 'a', basePath: '/a', placement: 'regional', deployments: [{ region: 'x', upstreams: ['http://1'] }] };
    const to: ServiceDefinition = { ...from, failover: ['x'], deployments: [{ region: 'x', upstreams: ['http://2'] }] };
    expect(fieldChanges(from, to)).to.deep.equal([
      { field: 'spec.deployments[0].upstreams', from: ['http://1'], to: ['http://2'] },
      { field: 'spec.failover', to: ['x'] },
    ]);
  });

  it('stores sources as ASCII chunks, writing only changed chunks and deleting stale ones', () => {
    const loaded = loadManifests([{ file: 'r.yaml', text: region('eu-west').replace('cloud-a', 'clöud-ä 🌍') }], 'prod');
    const text = encodeSource(mergeSource(undefined, loaded.resources, false));
    expect(/^[\x00-\x7f]*$/.test(text)).to.equal(true);
    expect(decodeSource(text)!.documents[0].resource).to.deep.include({ spec: { jurisdiction: 'EU', provider: 'clöud-ä 🌍' } });
    const layout = new KeyLayout();
    const muts = sourceMutations(layout, 'prod', text, [
      { key: layout.source('prod', 0), value: text.slice(0, 100) },
      { key: layout.source('prod', 1), value: 'x' },
      { key: layout.source('prod', 2), value: 'y' },
    ], 100);
    const chunks = Math.ceil(text.length / 100);
    expect(chunks).to.be.at.least(3);
    const expected = [];
    for (let i = 1; i < chunks; i++) expected.push({ type: 'put', key: layout.source('prod', i), value: text.slice(i * 100, i * 100 + 100) });
    expect(muts).to.deep.equal(expected);
    expect(sourceMutations(layout, 'prod', text.slice(0, 100), [
      { key: layout.source('prod', 0), value: text.slice(0, 100) },
      { key: layout.source('prod', 1), value: 'x' },
    ], 100)).to.deep.equal([{ type: 'delete', key: layout.source('prod', 1) }]);
  });
});
