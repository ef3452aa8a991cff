import { expect } from 'chai';
import { rejectedManifests } from '../support/manifests.js';
import { loadManifests, ValidationError } from '../../registry/index.js';

const rejected = rejectedManifests;

const region = (spec: string) => `apiVersion: waymark/v1\nkind: Region\nmetadata: { name: eu-west }\nspec:\n${spec}`;
const service = (spec: string) => `apiVersion: waymark/v1\nkind: Service\nmetadata: { name: hr }\nspec:\n${spec}`;

describe('variables stay private', () => {
  it('refuses ${var} in every public field of a region, naming file, document, line, field and the rule', () => {
    const details = rejected([
      { file: 'regions.yaml', text: region('  jurisdiction: EU\n  provider: "${cloud}"\n  location: "dc ${dbPassword}"\n') },
    ]);
    expect(details.map((d) => [d.file, d.document, d.resource, d.field, d.line])).to.deep.equal([
      ['regions.yaml', 0, 'Region/eu-west', 'spec.provider', 6],
      ['regions.yaml', 0, 'Region/eu-west', 'spec.location', 7],
    ]);
    expect(details[1].message).to.match(/^\$\{dbPassword\} in spec.location: variables may only be used in spec.deployments\[\]\.upstreams and spec.cors.allowOrigins\[\], because spec.location is published in the public topology document/);
  });

  it('refuses ${var} in base path, placement, jurisdictions, failover and deployment regions; allows it in upstreams', () => {
    const text = service(
      '  basePath: "/${team}/v1"\n  placement: "${placement}"\n  jurisdictions: ["${jur}"]\n  failover: ["${fo}"]\n' +
        '  deployments:\n    - { region: "${r}", upstreams: ["${hrUp}"] }\n',
    );
    const fields = rejected([{ file: 's.yaml', text }]).map((d) => d.field);
    for (const f of ['spec.basePath', 'spec.placement', 'spec.jurisdictions[0]', 'spec.failover[0]', 'spec.deployments[0].region']) {
      expect(fields).to.include(f);
    }
    expect(fields.filter((f) => f?.includes('upstreams'))).to.deep.equal([]);
  });

  it('accepts variables in upstreams and the $${literal} escape elsewhere', () => {
    const loaded = loadManifests(
      [
        { file: 'r.yaml', text: region('  jurisdiction: EU\n  location: "price $${notAVariable}"\n') },
        { file: 's.yaml', text: service('  basePath: /hr/v1\n  placement: regional\n  deployments: [{ region: eu-west, upstreams: ["http://${host}:80"] }]\n') },
      ],
      'prod',
    );
    expect(loaded.resources).to.have.length(2);
  });

  it('refuses them in a promoted source (parsed documents), saying to fix the source environment', () => {
    const value = { apiVersion: 'waymark/v1', kind: 'Region', metadata: { name: 'eu-west' }, spec: { jurisdiction: 'EU', location: '${dbPassword}' } };
    let err: unknown;
    try {
      loadManifests([{ file: '(source of staging)', documents: [{ value, origin: { file: 'regions.yaml', document: 3 } }] }], 'prod', {}, 'staging');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ValidationError);
    const [d] = (err as ValidationError).details;
    expect(d).to.include({ file: 'regions.yaml', document: 3, field: 'spec.location' });
    expect(d.message).to.match(/source applied to environment staging cannot be promoted: apply staging again/);
    expect(d.message).not.to.include('secret');
  });
});

describe('variable names', () => {
  for (const name of ['__proto__', 'constructor', 'prototype']) {
    it(`refuses a variable named ${name}, naming the file and field`, () => {
      const env = `apiVersion: waymark/v1\nkind: Environment\nmetadata: { name: prod }\nspec:\n  variables:\n    ok: "1"\n    ${name}: "http://10.0.0.1"\n`;
      const [d, ...more] = rejected([{ file: 'env.yaml', text: env }, { file: 'r.yaml', text: region('  jurisdiction: EU\n') }]);
      expect(more).to.deep.equal([]);
      expect(d).to.include({ file: 'env.yaml', document: 0, field: `spec.variables.${name}`, line: 7 });
      expect(d.message).to.match(/reserved name/);
    });
  }

  it('keeps variables in an object without a prototype', () => {
    const env = 'apiVersion: waymark/v1\nkind: Environment\nmetadata: { name: prod }\nspec:\n  variables: { toString: "x" }\n';
    const loaded = loadManifests([{ file: 'env.yaml', text: env }, { file: 'r.yaml', text: region('  jurisdiction: EU\n') }], 'prod');
    expect(Object.getPrototypeOf(loaded.environment!.variables)).to.equal(null);
    expect(loaded.environment!.variables.toString).to.equal('x');
  });
});
