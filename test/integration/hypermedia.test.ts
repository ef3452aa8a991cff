import { expect } from 'chai';
import { parse } from 'yaml';
import type { ServiceDefinition, TopologyDocument } from '../../openapi/index.js';
import { validateTopologyDocument } from '../../topology/index.js';
import { useScene, writeTopology, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { startRegistry } from '../support/registry.js';
import { region, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** One link of a Link header (RFC 8288), its target and parameters. */
interface HeaderLink {
  href: string;
  params: Record<string, string>;
}

/** The links of a Link header. Enough for what gateways send: targets never hold `>`, parameters are quoted. */
function headerLinks(header: string | null): HeaderLink[] {
  const out: HeaderLink[] = [];
  for (const m of (header ?? '').matchAll(/<([^>]*)>((?:\s*;\s*[a-zA-Z*-]+="[^"]*")*)/g)) {
    const params: Record<string, string> = {};
    for (const p of m[2]!.matchAll(/([a-zA-Z*-]+)="([^"]*)"/g)) params[p[1]!] = p[2]!;
    out.push({ href: m[1]!, params });
  }
  return out;
}

function linkTo(header: string | null, rel: string): string | undefined {
  return headerLinks(header).find((l) => l.params.rel === rel)?.href;
}

type CatalogEntry = { anchor: string } & Record<string, Array<{ href: string; type?: string; title?: string }>>;

describe('hypermedia: the discovery description, the API catalog and service links (real etcd, real gateways)', function () {
  this.timeout(30_000);
  const ctx = useEtcd();
  const scene = useScene(ctx);
  const backend = (name: string) => scene.backend(name);
  const gateway = (env: string, regionName: string, id: string) => scene.gateway(env, regionName, id);

  function svc(name: string, regionName: string, upstream: string, extra: Partial<ServiceDefinition> = {}): ServiceDefinition {
    return { name, basePath: `/${name}/v1`, placement: 'regional', deployments: [{ region: regionName, upstreams: [upstream] }], ...extra };
  }

  /**
   * eu-west and us-east with a gateway each; `hr` in eu-west declares docs (absolute) and openapi
   * (a path through the gateway); `crm` in us-east declares nothing.
   */
  async function twoRegions(): Promise<{ env: string; eu: StartedGateway; us: StartedGateway; hr: TestBackend }> {
    const env = uniqueEnv('hyper');
    const hr = await backend('hr-eu');
    const crm = await backend('crm-us');
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU'), region('us-east', 'US')],
      services: [
        svc('hr', 'eu-west', hr.url, { docs: 'https://docs.example.com/hr', openapi: '/hr/v1/openapi.json' }),
        svc('crm', 'us-east', crm.url),
      ],
    });
    const eu = await gateway(env, 'eu-west', 'gw-eu');
    const us = await gateway(env, 'us-east', 'gw-us');
    await waitFor(() => [eu, us].every((g) => g.gateway.document?.regions.every((r) => r.gateways.length === 1)), { what: 'both gateways in both documents' });
    return { env, eu, us, hr };
  }

  it('a client follows the document\'s service-desc to the description, as JSON and YAML with the same content, cached like the document', async () => {
    const { eu, us } = await twoRegions();
    const start = new URL('/.well-known/topology', eu.url);
    const res = await fetch(start);
    const doc = (await res.json()) as TopologyDocument;
    expect(validateTopologyDocument(doc)).to.deep.equal([]);
    const link = doc._links['service-desc']!;
    // Relative in the body, so every gateway serves the same bytes; absolute in the header.
    expect(link).to.deep.equal({ href: '/.well-known/topology/openapi.json', type: 'application/json' });
    const described = new URL(link.href, start);
    expect(linkTo(res.headers.get('link'), 'service-desc')).to.equal(described.href);
    expect(linkTo(res.headers.get('link'), 'describedby')).to.equal(described.href);

    const json = await fetch(described);
    expect(json.status).to.equal(200);
    expect(json.headers.get('content-type')).to.equal('application/json; charset=utf-8');
    expect(json.headers.get('access-control-allow-origin')).to.equal('*');
    expect(json.headers.get('cache-control')).to.match(/^public, max-age=\d+/);
    expect(linkTo(json.headers.get('link'), 'self')).to.equal(described.href);
    const etag = json.headers.get('etag')!;
    expect(etag).to.match(/^"0-[A-Za-z0-9_-]+"$/);
    const description = (await json.json()) as { openapi: string; paths: Record<string, unknown>; servers: Array<{ url: string }> };
    expect(description.openapi).to.match(/^3\.1\./);
    expect(description.paths).to.include.keys('/.well-known/topology', '/.well-known/topology/services/{name}', '/.well-known/api-catalog');
    expect(Object.keys(description.paths).filter((p) => p.startsWith('/v1/'))).to.deep.equal([]);
    expect(description.servers).to.deep.equal([{ url: '/', description: 'the gateway that served this description' }]);

    const yamlUrl = new URL('/.well-known/topology/openapi.yaml', start);
    const yaml = await fetch(yamlUrl);
    expect(yaml.status).to.equal(200);
    expect(yaml.headers.get('content-type')).to.equal('application/yaml; charset=utf-8');
    expect(linkTo(yaml.headers.get('link'), 'self')).to.equal(yamlUrl.href);
    expect(parse(await yaml.text())).to.deep.equal(description);

    // Validators hold across gateways and topology changes: the description is the build's, not the revision's.
    expect((await fetch(described, { headers: { 'if-none-match': etag } })).status).to.equal(304);
    expect((await fetch(new URL('/.well-known/topology/openapi.json', us.url))).headers.get('etag')).to.equal(etag);
    const gz = await fetch(described, { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers.get('content-encoding')).to.equal('gzip');
    expect(await gz.json()).to.deep.equal(description);
    const head = await fetch(described, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(head.headers.get('etag')).to.equal(etag);
  });

  it('every discovery resource links to itself and to the description (RFC 8288 link contexts)', async () => {
    const { eu } = await twoRegions();
    const description = `${eu.url}/.well-known/topology/openapi.json`;
    for (const path of ['/.well-known/topology', '/.well-known/topology/services', '/.well-known/topology/services/hr', '/.well-known/topology/services/hr?from=us-east', '/.well-known/api-catalog']) {
      const res = await fetch(`${eu.url}${path}`);
      expect(res.status, path).to.equal(200);
      expect(linkTo(res.headers.get('link'), 'self'), path).to.equal(`${eu.url}${path}`);
      expect(linkTo(res.headers.get('link'), 'service-desc'), path).to.equal(description);
      expect(headerLinks(res.headers.get('link')).find((l) => l.params.rel === 'service-desc')?.params.type, path).to.equal('application/json');
      await res.arrayBuffer();
    }
  });

  it('the API catalog lists the discovery API with its description, and each service\'s declared docs and openapi at its entry point', async () => {
    const { eu, us } = await twoRegions();
    // From the US gateway: hr is served in eu-west only, so its entry (and its path link) point at the EU gateway.
    const res = await fetch(`${us.url}/.well-known/api-catalog`);
    expect(res.headers.get('content-type')).to.match(/^application\/linkset\+json; profile="https:\/\/www\.rfc-editor\.org\/info\/rfc9727"$/);
    const { linkset } = (await res.json()) as { linkset: CatalogEntry[] };
    const byAnchor = new Map(linkset.map((e) => [e.anchor, e]));
    const catalog = byAnchor.get(`${us.url}/.well-known/api-catalog`)!;
    expect(catalog.item!.map((l) => l.href)).to.deep.equal([`${us.url}/.well-known/topology`, `${eu.url}/hr/v1`]);

    const discovery = byAnchor.get(`${us.url}/.well-known/topology`)!;
    expect(discovery['service-desc']!.map((l) => [l.href, l.type])).to.deep.equal([
      [`${us.url}/.well-known/topology/openapi.json`, 'application/json'],
      [`${us.url}/.well-known/topology/openapi.yaml`, 'application/yaml'],
    ]);
    for (const l of discovery['service-desc']!) expect((await fetch(l.href)).status, l.href).to.equal(200);

    const hr = byAnchor.get(`${eu.url}/hr/v1`)!;
    expect(hr['service-desc']!.map((l) => l.href)).to.deep.equal([`${eu.url}/hr/v1/openapi.json`]);
    expect(hr['service-doc']!.map((l) => l.href)).to.deep.equal(['https://docs.example.com/hr']);
    // crm declares neither: it is not listed.
    expect(linkset.some((e) => e.anchor.endsWith('/crm/v1'))).to.equal(false);
  });

  it('a walk from the well-known URL reaches a service\'s declared openapi link through the gateway', async () => {
    const { eu, hr } = await twoRegions();
    const start = new URL('/.well-known/topology', eu.url);
    const doc = (await (await fetch(start)).json()) as TopologyDocument;
    const entry = doc.services.find((s) => s.name === 'hr')!;
    expect(entry._links!['service-desc']).to.deep.equal({ href: '/hr/v1/openapi.json' });
    expect(entry._links!['service-doc']).to.deep.equal({ href: 'https://docs.example.com/hr' });
    expect(doc.services.find((s) => s.name === 'crm')!._links).to.not.have.any.keys('service-desc', 'service-doc');
    const res = await fetch(new URL(entry._links!['service-desc']!.href, start));
    expect(res.status).to.equal(200);
    expect(res.headers.get('x-backend')).to.equal('hr-eu');
    expect(hr.received.at(-1)?.url).to.equal('/hr/v1/openapi.json');
  });

  it('links declared in a manifest reach the document and the catalog through an apply', async () => {
    const env = uniqueEnv('hyper-apply');
    const backendEu = await backend('pricing-eu');
    const reg = await startRegistry({ endpoints: ctx.etcd.endpoints });
    scene.defer(() => reg.close());
    const yaml =
      'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: eu-west }\nspec: { jurisdiction: EU }\n---\n' +
      'apiVersion: waymark/v1\nkind: Service\nmetadata: { name: pricing }\nspec:\n  basePath: /pricing/v1\n  placement: regional\n' +
      '  openapi: /pricing/v1/openapi.json\n  docs: https://docs.example.com/pricing\n' +
      `  deployments: [{ region: eu-west, upstreams: ["${backendEu.url}"] }]\n`;
    const applied = await fetch(`${reg.url}/v1/environments/${env}/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reg.adminToken}`, 'content-type': 'application/yaml' },
      body: yaml,
    });
    expect(applied.status, await applied.clone().text()).to.equal(200);
    await applied.arrayBuffer();
    const eu = await gateway(env, 'eu-west', 'gw-eu');
    const start = new URL('/.well-known/topology', eu.url);
    const doc = (await (await fetch(start)).json()) as TopologyDocument;
    const pricing = doc.services.find((x) => x.name === 'pricing')!;
    expect(pricing._links).to.deep.include({ 'service-desc': { href: '/pricing/v1/openapi.json' }, 'service-doc': { href: 'https://docs.example.com/pricing' } });
    const { linkset } = (await (await fetch(`${eu.url}/.well-known/api-catalog`)).json()) as { linkset: CatalogEntry[] };
    const entry = linkset.find((e) => e.anchor === `${eu.url}/pricing/v1`)!;
    expect(entry['service-desc']!.map((l) => l.href)).to.deep.equal([`${eu.url}/pricing/v1/openapi.json`]);
    expect((await fetch(new URL(pricing._links!['service-desc']!.href, start))).status).to.equal(200);
    expect(backendEu.received.at(-1)?.url).to.equal('/pricing/v1/openapi.json');
  });

  it('a 421 names the description as its service-desc, and it resolves (200)', async () => {
    const { eu } = await twoRegions();
    const res = await fetch(`${eu.url}/crm/v1/customers`);
    expect(res.status).to.equal(421);
    await res.arrayBuffer();
    const link = headerLinks(res.headers.get('link')).find((l) => l.params.rel === 'service-desc')!;
    expect(link).to.deep.equal({ href: `${eu.url}/.well-known/topology/openapi.json`, params: { rel: 'service-desc', type: 'application/json' } });
    expect(((await (await fetch(`${eu.url}/crm/v1/customers`)).json()) as { _links: Record<string, { href: string }> })._links['service-desc']).to.deep.equal({ href: link.href });
    const described = await fetch(link.href);
    expect(described.status).to.equal(200);
    expect(((await described.json()) as { openapi: string }).openapi).to.match(/^3\.1\./);
  });
});
