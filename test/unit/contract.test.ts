import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

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
