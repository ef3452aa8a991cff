import { expect } from 'chai';
import { get } from 'node:http';
import { parseExposition, sumSamples, type MetricSample } from '../../telemetry/index.js';
import { startBackend, startGateway, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** Regions eu-west (EU) and us-east (US); hr pinned to EU in eu-west, crm in us-east only, broken in eu-west with a dead upstream. */
function manifests(hrUpstream: string): string {
  return [
    'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: eu-west }\nspec: { jurisdiction: EU, provider: cloud-a }\n',
    'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: us-east }\nspec: { jurisdiction: US, provider: cloud-a }\n',
    `apiVersion: waymark/v1\nkind: Service\nmetadata: { name: hr }\nspec:\n  basePath: /hr/v1\n  placement: pinned\n  jurisdictions: [EU]\n  deployments:\n    - { region: eu-west, upstreams: ["${hrUpstream}"] }\n`,
    'apiVersion: waymark/v1\nkind: Service\nmetadata: { name: crm }\nspec:\n  basePath: /crm/v1\n  placement: regional\n  deployments:\n    - { region: us-east, upstreams: ["http://127.0.0.1:9/crm"] }\n',
    'apiVersion: waymark/v1\nkind: Service\nmetadata: { name: broken }\nspec:\n  basePath: /broken/v1\n  placement: regional\n  deployments:\n    - { region: eu-west, upstreams: ["http://127.0.0.1:9/broken"] }\n',
  ].join('---\n');
}

async function scrape(url: string): Promise<{ text: string; samples: MetricSample[]; type: string | null }> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).to.equal(200);
  const text = await res.text();
  return { text, samples: parseExposition(text), type: res.headers.get('content-type') };
}

function statusOnce(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    }).once('error', reject);
  });
}

const value = (samples: MetricSample[], name: string, labels: Record<string, string> = {}) =>
  sumSamples(samples, name, (l) => Object.entries(labels).every(([k, v]) => l[k] === v));

describe('metrics: /metrics of the gateway and the registry (real etcd)', function () {
  const ctx = useEtcd();
  let reg: TestRegistry;
  let backend: TestBackend;
  let gw: StartedGateway;
  let env: string;

  before(async () => {
    reg = await startRegistry({ endpoints: ctx.etcd.endpoints });
    backend = await startBackend('hr-eu');
    env = uniqueEnv('metrics');
    const res = await fetch(`${reg.url}/v1/environments/${env}/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reg.adminToken}`, 'content-type': 'application/yaml' },
      body: manifests(`${backend.url}/hr`),
    });
    expect(res.status).to.equal(200);
    gw = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-metrics', upstreamConnectTimeoutMs: 500 });
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
    await reg?.close();
  });

  it('gateway: counts requests by route, service and status, times proxied calls, counts upstream errors, never names upstreams', async () => {
    const before = (await scrape(gw.url)).samples;
    for (let i = 0; i < 3; i++) expect((await fetch(`${gw.url}/.well-known/topology`)).status).to.equal(200);
    for (let i = 0; i < 2; i++) expect((await fetch(`${gw.url}/hr/v1/people`)).status).to.equal(200);
    // fetch() retries a 421 on a new connection; node:http sends it once.
    expect(await statusOnce(`${gw.url}/crm/v1/x`)).to.equal(421);
    expect((await fetch(`${gw.url}/broken/v1/x`)).status).to.equal(502);
    expect((await fetch(`${gw.url}/nothing/here`)).status).to.equal(404);
    expect((await fetch(`${gw.url}/healthz`)).status).to.equal(200);

    const { text, samples, type } = await scrape(gw.url);
    expect(type).to.match(/^text\/plain; version=0\.0\.4/);
    const delta = (labels: Record<string, string>) =>
      value(samples, 'waymark_gateway_requests_total', labels) - value(before, 'waymark_gateway_requests_total', labels);
    expect(delta({ route: 'topology', status: '200' })).to.equal(3);
    expect(delta({ route: 'proxy', service: 'hr', status: '200' })).to.equal(2);
    expect(delta({ route: 'misdirected', service: 'crm', status: '421' })).to.equal(1);
    expect(delta({ route: 'proxy', service: 'broken', status: '502' })).to.equal(1);
    expect(delta({ route: 'unrouted', status: '404' })).to.equal(1);
    expect(delta({ route: 'health', status: '200' })).to.equal(1);
    // The scrape before this one is counted too (its response ended before this one began).
    expect(delta({ route: 'metrics', status: '200' })).to.equal(1);

    const hrCount = value(samples, 'waymark_gateway_proxy_duration_seconds_count', { route: 'proxy', service: 'hr' });
    expect(hrCount - value(before, 'waymark_gateway_proxy_duration_seconds_count', { route: 'proxy', service: 'hr' })).to.equal(2);
    const inf = value(samples, 'waymark_gateway_proxy_duration_seconds_bucket', { service: 'hr', le: '+Inf' });
    expect(inf).to.equal(hrCount);
    expect(value(samples, 'waymark_gateway_proxy_duration_seconds_sum', { service: 'hr' })).to.be.greaterThan(0);
    expect(value(samples, 'waymark_gateway_upstream_errors_total', { service: 'broken', reason: 'connect' })).to.be.greaterThanOrEqual(1);

    // Every sample carries the gateway's identity, for aggregation across gateways.
    const requestSample = samples.find((s) => s.name === 'waymark_gateway_requests_total')!;
    expect(requestSample.labels).to.include({ environment: env, region: 'eu-west', gateway: 'gw-metrics' });
    // Public like /healthz: no upstream address, no token.
    expect(text).not.to.include(backend.url.replace('http://', ''));
    expect(text).not.to.include('127.0.0.1:9');
    expect(text).not.to.include(reg.adminToken);
  });

  it('gateway: revision, staleness, registration, resyncs and held long-polls follow the gateway', async () => {
    let samples = (await scrape(gw.url)).samples;
    expect(value(samples, 'waymark_gateway_topology_revision')).to.equal(gw.gateway.revision);
    expect(value(samples, 'waymark_gateway_stale')).to.equal(0);
    expect(value(samples, 'waymark_gateway_staleness_seconds')).to.equal(0);
    expect(value(samples, 'waymark_gateway_registered')).to.equal(1);
    expect(value(samples, 'waymark_gateway_watch_resyncs_total', { reason: 'start' })).to.equal(1);
    expect(samples.some((s) => s.name === 'waymark_gateway_lease_keepalive_failures_total')).to.equal(true);
    const publications = value(samples, 'waymark_gateway_topology_publications_total');

    const poll = new AbortController();
    const held = fetch(`${gw.url}/.well-known/topology?wait=${gw.gateway.revision}&timeout=20`, { signal: poll.signal }).catch(() => undefined);
    await waitFor(async () => value((await scrape(gw.url)).samples, 'waymark_gateway_longpolls_held') === 1, { what: 'the long-poll to be held' });

    // A change moves the revision, answers the long-poll and counts a publication.
    const res = await fetch(`${reg.url}/v1/environments/${env}/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reg.adminToken}`, 'content-type': 'application/yaml' },
      body: 'apiVersion: waymark/v1\nkind: Region\nmetadata: { name: ap-south }\nspec: { jurisdiction: APAC, provider: cloud-b }\n',
    });
    expect(res.status).to.equal(200);
    await held;
    poll.abort();
    samples = await waitFor(async () => {
      const s = (await scrape(gw.url)).samples;
      return value(s, 'waymark_gateway_longpolls_held') === 0 && value(s, 'waymark_gateway_topology_revision') > 0 ? s : undefined;
    });
    expect(value(samples, 'waymark_gateway_topology_revision')).to.equal(gw.gateway.revision);
    expect(value(samples, 'waymark_gateway_topology_publications_total')).to.be.greaterThan(publications);
  });

  it('registry: /metrics needs no token, counts applies by result and requests by route, shows gateways per region by health', async () => {
    const before = (await scrape(reg.url)).samples;
    const post = (body: string, query = '') =>
      fetch(`${reg.url}/v1/environments/${env}/apply${query}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${reg.adminToken}`, 'content-type': 'application/yaml' },
        body,
      });
    expect((await post(manifests(`${backend.url}/hr`), '?dryRun=true')).status).to.equal(200);
    expect((await post(manifests(`${backend.url}/hr`))).status).to.equal(200);
    expect((await post('apiVersion: waymark/v1\nkind: Region\nmetadata: { name: Bad_Name }\nspec: {}\n')).status).to.equal(422);
    expect((await fetch(`${reg.url}/v1/environments`)).status).to.equal(401);

    // A gateway reports a new revision 150-300 ms after serving it (reports are staggered), so
    // right after the previous test's apply the registry may still count it as lagging.
    const { text, samples } = await waitFor(async () => {
      const scraped = await scrape(reg.url);
      return value(scraped.samples, 'waymark_registry_gateways', { environment: env, region: 'eu-west', health: 'healthy' }) === 1 ? scraped : undefined;
    });
    const applies = (result: string) =>
      value(samples, 'waymark_registry_applies_total', { environment: env, result }) - value(before, 'waymark_registry_applies_total', { environment: env, result });
    expect(applies('dry_run')).to.equal(1);
    expect(applies('unchanged')).to.equal(1);
    expect(applies('rejected')).to.equal(1);
    expect(value(samples, 'waymark_registry_apply_duration_seconds_count', { operation: 'apply' })).to.be.greaterThanOrEqual(3);
    const requests = (labels: Record<string, string>) =>
      value(samples, 'waymark_registry_requests_total', labels) - value(before, 'waymark_registry_requests_total', labels);
    expect(requests({ route: '/v1/environments/:env/apply', status: '200' })).to.equal(2);
    expect(requests({ route: '/v1/environments/:env/apply', status: '422' })).to.equal(1);
    expect(requests({ route: '/v1/environments', status: '401' })).to.equal(1);
    expect(value(samples, 'waymark_registry_gateways', { environment: env, region: 'eu-west', health: 'healthy' })).to.equal(1);
    expect(value(samples, 'waymark_registry_environment_revision', { environment: env })).to.be.greaterThan(0);
    expect(value(samples, 'waymark_registry_etcd_up')).to.equal(1);
    expect(text).not.to.include(reg.adminToken);
  });
  it('gateway and registry: the standard process_* and nodejs_* metrics, per instance (two gateways in one process do not collide)', async () => {
    const second = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'us-east', id: 'gw-metrics-2' });
    try {
      for (const url of [gw.url, second.url, reg.url]) {
        const { samples } = await scrape(url);
        const names = new Set(samples.map((s) => s.name));
        for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_version_info']) {
          expect(names, `${name} at ${url}`).to.include(name);
        }
      }
      const { samples } = await scrape(second.url);
      expect(samples.find((s) => s.name === 'process_resident_memory_bytes')?.labels.gateway).to.equal('gw-metrics-2');
    } finally {
      await second.close();
    }
  });
});
