import { expect } from 'chai';
import type { ErrorDetail } from '../../openapi/index.js';
import { loadManifests, ValidationError, type ManifestSource } from '../../registry/index.js';
/** YAML manifests for tests that go through the registry's admin API or its loader. */

export function regionYaml(name: string, jurisdiction: string, provider = 'cloud-a', gatewayUrls?: string[]): string {
  const urls = gatewayUrls ? `, gatewayUrls: [${gatewayUrls.map((u) => JSON.stringify(u)).join(', ')}]` : '';
  return `apiVersion: waymark/v1\nkind: Region\nmetadata: { name: ${name} }\nspec: { jurisdiction: ${jurisdiction}, provider: ${provider}${urls} }\n`;
}

export interface ServiceYamlOptions {
  /** Region → upstream URLs. */
  deployments: Record<string, string[]>;
  /** Default `/<name>/v1`. */
  basePath?: string;
  /** Default regional. */
  placement?: 'global' | 'regional' | 'pinned';
  jurisdictions?: string[];
  failover?: string[];
}

export function serviceYaml(name: string, options: ServiceYamlOptions): string {
  const lines = [
    'apiVersion: waymark/v1',
    'kind: Service',
    `metadata: { name: ${name} }`,
    'spec:',
    `  basePath: ${options.basePath ?? `/${name}/v1`}`,
    `  placement: ${options.placement ?? 'regional'}`,
    ...(options.jurisdictions ? [`  jurisdictions: [${options.jurisdictions.join(', ')}]`] : []),
    ...(options.failover ? [`  failover: [${options.failover.join(', ')}]`] : []),
    '  deployments:',
    ...Object.entries(options.deployments).flatMap(([region, upstreams]) => [
      `    - region: ${region}`,
      `      upstreams: [${upstreams.map((u) => JSON.stringify(u)).join(', ')}]`,
    ]),
  ];
  return `${lines.join('\n')}\n`;
}

export function environmentYaml(name: string, variables: Record<string, string>): string {
  const vars = Object.entries(variables).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`);
  return `apiVersion: waymark/v1\nkind: Environment\nmetadata: { name: ${name} }\nspec:\n  variables:\n${vars.length ? vars.join('\n') : '    {}'}\n`;
}

/** Several documents as one multi-document YAML text. */
export function yamlDocuments(...docs: string[]): string {
  return docs.join('---\n');
}

/** The details of the VALIDATION_FAILED error `sources` must get; fails the test if they load. */
export function rejectedManifests(sources: ManifestSource[], env = 'prod'): ErrorDetail[] {
  try {
    loadManifests(sources, env);
  } catch (err) {
    expect(err).to.be.instanceOf(ValidationError);
    expect((err as ValidationError).code).to.equal('VALIDATION_FAILED');
    return (err as ValidationError).details;
  }
  throw new Error('expected the manifests to be rejected');
}
