import { expect } from 'chai';
import { corsOriginProblem, validateCorsPolicy, validateServiceDefinition } from '../../topology/index.js';
import { rejectedManifests } from '../support/manifests.js';
import type { RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import { loadManifests } from '../../registry/index.js';
import { checkBeforeWriting } from '../../registry/apply/prewrite.js';
import { Problems } from '../../registry/manifest/errors.js';
import { renderManifest } from '../../registry/manifest/render.js';
import type { Placed } from '../../registry/manifest/validate.js';

const manifest = (cors: string) =>
  [
    'apiVersion: waymark/v1',
    'kind: Service',
    'metadata: { name: shop }',
    'spec:',
    '  basePath: /shop/v1',
    '  placement: regional',
    '  deployments: [{ region: eu-west, upstreams: ["http://127.0.0.1:9000"] }]',
    '  cors:',
    ...cors.split('\n').map((l) => `    ${l}`),
    '',
  ].join('\n');

describe('CORS policies: the core rule (topology/cors.ts) and the manifest field', () => {
  it('accepts serialized origins or "*" alone, tokens, booleans and a bounded max age', () => {
    expect(validateCorsPolicy({ allowOrigins: ['https://app.example.com', 'http://127.0.0.1:8080'] })).to.deep.equal([]);
    expect(validateCorsPolicy({ allowOrigins: ['*'], allowMethods: ['GET', 'PUT', 'PATCH'], allowHeaders: ['content-type', 'Authorization'], exposeHeaders: ['x-total-count'], maxAgeSeconds: 0 })).to.deep.equal([]);
    expect(validateCorsPolicy({ allowOrigins: ['https://a.example'], allowCredentials: true, maxAgeSeconds: 86_400 })).to.deep.equal([]);
  });

  it('names every problem with its field', () => {
    for (const bad of ['https://app.example.com/', 'https://App.example.com', 'https://app.example.com:443', 'https://app.example.com/x', 'ftp://a.example', 'app.example.com', 'null', ' https://a.example', 'https://a.example\n']) {
      expect(corsOriginProblem(bad), bad).to.match(/must be "\*" or an origin/);
    }
    expect(validateCorsPolicy({})).to.deep.equal(['allowOrigins: is required: the origins whose pages may call the service, or ["*"]']);
    expect(validateCorsPolicy({ allowOrigins: [] })).to.deep.equal(['allowOrigins: must list at least one origin']);
    expect(validateCorsPolicy({ allowOrigins: ['*', 'https://a.example'] })).to.deep.equal(['allowOrigins: "*" must be alone: it already allows every origin']);
    expect(validateCorsPolicy({ allowOrigins: ['*'], allowCredentials: true })[0]).to.match(/^allowCredentials: cannot be true with allowOrigins \["\*"\]/);
    expect(validateCorsPolicy({ allowOrigins: ['https://a.example', 'https://a.example'] })).to.deep.equal(['allowOrigins[1]: "https://a.example" is listed twice']);
    expect(validateCorsPolicy({ allowOrigins: ['https://a.example'], allowMethods: ['GET', '*', 'BAD METHOD'] })).to.deep.equal([
      'allowMethods[1]: must be a method such as PUT (an HTTP token; "*" is not supported: list them)',
      'allowMethods[2]: must be a method such as PUT (an HTTP token; "*" is not supported: list them)',
    ]);
    expect(validateCorsPolicy({ allowOrigins: ['https://a.example'], allowHeaders: 'content-type' })).to.deep.equal(['allowHeaders: must be a list']);
    expect(validateCorsPolicy({ allowOrigins: ['https://a.example'], exposeHeaders: ['x\r\ny'] })[0]).to.match(/^exposeHeaders\[0\]: must be a header name/);
    expect(validateCorsPolicy({ allowOrigins: ['https://a.example'], maxAgeSeconds: 86_401 })).to.deep.equal(['maxAgeSeconds: must be a whole number of seconds from 0 to 86400']);
    expect(validateCorsPolicy({ allowOrigins: ['https://a.example'], allowCredentials: 'yes' })).to.deep.equal(['allowCredentials: must be true or false']);
    expect(validateCorsPolicy({ allowOrigins: ['https://a.example'], allowOrigin: ['x'] })[0]).to.match(/^allowOrigin: is not a known field/);
    expect(validateCorsPolicy({ allowOrigins: Array.from({ length: 65 }, (_, i) => `https://a${i}.example`) })).to.deep.equal(['allowOrigins: must have at most 64 entries']);
    expect(validateCorsPolicy('*')).to.deep.equal(['must be an object']);
  });

  it('is part of the service record rule, so the registry, the gateway and the SDK judge it alike', () => {
    const record = { name: 'shop', basePath: '/shop/v1', placement: 'regional', deployments: [{ region: 'eu-west', upstreams: ['http://127.0.0.1:9000'] }] };
    expect(validateServiceDefinition({ ...record, cors: { allowOrigins: ['https://a.example'] } })).to.deep.equal([]);
    expect(validateServiceDefinition({ ...record, cors: { allowOrigins: ['https://a.example/'] } })[0]).to.match(/^cors\.allowOrigins\[0\]: must be "\*" or an origin/);
  });

  it('loads from a manifest into the service record, and refuses a bad one at its field and line', () => {
    const loaded = loadManifests([{ file: 's.yaml', text: manifest('allowOrigins: [https://shop.example.com]\nallowMethods: [GET, PUT]\nallowCredentials: true\nmaxAgeSeconds: 300') }], 'prod');
    const spec = loaded.resources[0]!.manifest.spec as { cors?: unknown };
    expect(spec.cors).to.deep.equal({ allowOrigins: ['https://shop.example.com'], allowMethods: ['GET', 'PUT'], allowCredentials: true, maxAgeSeconds: 300 });

    const details = rejectedManifests([{ file: 's.yaml', text: manifest('allowOrigins: [https://shop.example.com/, "*"]\nallowCredentials: 1') }]);
    expect(details.map((d) => [d.field, d.message, d.line])).to.deep.equal([
      ['spec.cors.allowOrigins[0]', 'must be "*" or an origin such as https://app.example.com (scheme, host and port only, lowercase, no path or trailing slash)', 9],
      ['spec.cors.allowCredentials', 'must be true or false', 10],
    ]);
    const unknown = rejectedManifests([{ file: 's.yaml', text: manifest('allowOrigins: ["*"]\norigins: [x]') }]);
    expect(unknown[0]!.field).to.equal('spec.cors.origins');
  });

  it('takes variables in allowOrigins only (a page’s origin differs per environment), checked once rendered', () => {
    const render = (frontend: string) => {
      const loaded = loadManifests([{ file: 's.yaml', text: manifest('allowOrigins: ["${FRONTEND}"]') }], 'prod');
      const problems = new Problems();
      const rendered = renderManifest(loaded.resources[0]!, { FRONTEND: frontend }, 'prod', problems);
      const services = new Map<string, Placed<ServiceDefinition>>();
      if (rendered?.kind === 'Service') services.set('shop', { value: rendered.definition, from: loaded.resources[0]! });
      checkBeforeWriting(new Map<string, Placed<RegionDefinition>>(), services, problems);
      return { definition: rendered?.kind === 'Service' ? rendered.definition : undefined, details: problems.details };
    };
    const good = render('https://shop.example.com');
    expect(good.details).to.deep.equal([]);
    expect(good.definition?.cors).to.deep.equal({ allowOrigins: ['https://shop.example.com'] });
    const bad = render('https://shop.example.com/');
    expect(bad.details.map((d) => d.field)).to.deep.equal(['spec.cors.allowOrigins[0]']);
    expect(bad.details[0]!.message).to.match(/would be invalid \(cors\.allowOrigins\[0\]: must be "\*" or an origin/);
    const elsewhere = rejectedManifests([{ file: 's.yaml', text: manifest('allowOrigins: ["*"]\nallowMethods: ["${METHOD}"]') }]);
    expect(elsewhere.map((d) => d.message).join('\n')).to.include('variables may only be used in spec.deployments[].upstreams and spec.cors.allowOrigins[]');
  });
});
