import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { discoveryDescription } from '../../openapi/discovery-description.js';

describe('OpenAPI contract', () => {
  it('the committed generated types match openapi/waymark.yaml (run `npm run generate`)', function () {
    this.timeout(30_000);
    const dir = mkdtempSync(join(tmpdir(), 'waymark-openapi-'));
    try {
      const out = join(dir, 'waymark.ts');
      execFileSync(process.execPath, ['node_modules/openapi-typescript/bin/cli.js', 'openapi/waymark.yaml', '-o', out], {
        stdio: 'pipe',
      });
      expect(readFileSync('openapi/generated/waymark.ts', 'utf8')).to.equal(readFileSync(out, 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the committed discovery description matches openapi/waymark.yaml (run `npm run generate`)', () => {
    const expected = discoveryDescription(readFileSync('openapi/waymark.yaml', 'utf8'));
    expect(readFileSync('openapi/generated/discovery.json', 'utf8')).to.equal(expected.json);
    expect(readFileSync('openapi/generated/discovery.yaml', 'utf8')).to.equal(expected.yaml);
  });

  it('the discovery description holds only discovery operations, every component they reference, and no admin schema', () => {
    const description = JSON.parse(readFileSync('openapi/generated/discovery.json', 'utf8')) as {
      paths: Record<string, Record<string, { tags?: string[] }>>;
      components: Record<string, Record<string, unknown>>;
    };
    expect(description.paths).to.include.keys('/.well-known/topology', '/.well-known/api-catalog', '/.well-known/topology/openapi.json');
    expect(Object.keys(description.paths).some((p) => p.startsWith('/v1/'))).to.equal(false);
    for (const item of Object.values(description.paths)) {
      for (const op of Object.values(item)) expect(op.tags).to.deep.equal(['discovery']);
    }
    const text = JSON.stringify(description);
    for (const [, section, name] of text.matchAll(/"#\/components\/([^/"]+)\/([^"]+)"/g)) {
      expect(description.components[section!]?.[name!], `${section}/${name}`).to.not.equal(undefined);
    }
    expect(description.components.schemas).to.not.have.any.keys('ServiceDefinition', 'Deployment', 'InternalTopology', 'UpstreamPolicy');
    expect(description.components).to.not.have.key('securitySchemes');
  });

  it('the public TopologyDocument has no field that could carry upstreams or variables', () => {
    const spec = parse(readFileSync('openapi/waymark.yaml', 'utf8')) as {
      components: { schemas: Record<string, unknown> };
    };
    const publicSchemas = ['TopologyDocument', 'Region', 'Service', 'GatewayInstance', 'ServiceRoute', 'RoutedGateway'];
    for (const name of publicSchemas) {
      const text = JSON.stringify(spec.components.schemas[name]);
      expect(text, name).not.to.match(/upstream|variables|deployments/i);
    }
  });
});
