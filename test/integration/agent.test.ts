import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Agent } from '../../agent/index.js';
import { WaymarkClient } from '../../client-sdk/index.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { curlLoop, pythonLoop, type ForeignCall } from '../support/foreign-clients.js';
import { spawnGateway, startBackend, startGateway, writeTopology, type SpawnedGateway, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { region, serviceWith, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

function listed(doc: TopologyDocument | undefined, id: string): boolean {
  return doc?.regions.some((r) => r.gateways.some((g) => g.id === id)) ?? false;
}

/** A keep-alive GET through node:http (no fetch: the same client for the agent and the baseline). */
function get(url: string, agent: http.Agent, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

/** curl, asynchronously: the agent runs in this process and must keep serving meanwhile. */
async function curl(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('curl', ['-s', '--max-time', '15', ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  return stdout;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * `waymark agent` with apps that are not Node: curl and Python's urllib, through HTTP_PROXY and
 * through the agent's base URL. eu-west runs `eu-a` as a child process (SIGKILLed mid-traffic)
 * and `eu-b` in this process; us-east one. The agent is in eu-west and prefers eu-a.
 */
describe('waymark agent: curl and Python through a gateway failover', function () {
  this.timeout(90_000);
  const ctx = useEtcd();
  const env = uniqueEnv('agent');
  const backends: TestBackend[] = [];
  const inProcess: StartedGateway[] = [];
  let child: SpawnedGateway | undefined;
  let agent: Agent | undefined;
  let agentUrl = '';

  before(async function () {
    this.timeout(60_000);
    backends.push(await startBackend('eu'), await startBackend('us'));
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU'), region('us-east', 'US')],
      services: [
        serviceWith('catalog', { 'eu-west': [backends[0]!.url], 'us-east': [backends[1]!.url] }, { failover: ['us-east'] }),
        { name: 'hr', basePath: '/hr/v1', placement: 'pinned', jurisdictions: ['EU'], deployments: [{ region: 'eu-west', upstreams: [backends[0]!.url] }] },
        // eu-west's upstream is a closed port: its gateways answer 502.
        {
          name: 'flaky',
          basePath: '/flaky/v1',
          placement: 'regional',
          failover: ['us-east'],
          deployments: [
            { region: 'eu-west', upstreams: ['http://127.0.0.1:1'] },
            { region: 'us-east', upstreams: [backends[1]!.url] },
          ],
        },
      ],
    });
    child = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'eu-a', leaseTtlSeconds: 2 });
    inProcess.push(await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'eu-b' }));
    inProcess.push(await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'us-east', id: 'us-a' }));
    await waitFor(() => inProcess.every((g) => listed(g.gateway.document, 'eu-a')), { what: 'eu-a to register', timeoutMs: 15_000 });
    agent = new Agent({
      client: {
        bootstrap: inProcess.map((g) => g.url),
        region: 'eu-west',
        environment: env,
        probeLatency: false,
        ejectionBaseMs: 500,
        connectTimeoutMs: 500,
        attemptTimeoutMs: 2000,
      },
      port: 0,
    });
    agentUrl = await agent.listen();
    await agent.ready();
    await waitFor(() => listed(agent!.client.topology(), 'eu-a'), { what: 'the agent to see eu-a' });
  });

  after(async () => {
    await agent?.close();
    child?.kill('SIGKILL');
    await child?.exited;
    for (const g of inProcess) await g.close();
    for (const b of backends) await b.close();
  });

  it('routes curl through HTTP_PROXY (service host, .waymark host) and through its base URL, bodies and headers included', async () => {
    const proxied = JSON.parse(await curl('-x', agentUrl, 'http://catalog/items/42?x=1')) as { backend: string; url: string; headers: Record<string, string> };
    expect(proxied.backend).to.equal('eu');
    expect(proxied.url).to.equal('/catalog/v1/items/42?x=1');
    const dotted = JSON.parse(await curl('-x', agentUrl, 'http://hr.waymark/employees')) as { url: string };
    expect(dotted.url).to.equal('/hr/v1/employees');
    const posted = JSON.parse(await curl('-X', 'POST', '-H', 'content-type: application/json', '-d', '{"a":1}', `${agentUrl}/catalog/orders`)) as { method: string; url: string; body: string; headers: Record<string, string> };
    expect(posted).to.include({ method: 'POST', url: '/catalog/v1/orders', body: '{"a":1}' });
    expect(posted.headers['content-type']).to.equal('application/json');
    expect(posted.headers['x-request-id']).to.be.a('string');
    const head = await curl('-D', '-', '-o', '/dev/null', `${agentUrl}/catalog/items/1`);
    expect(head).to.match(/^x-waymark-gateway: eu-a\r$/im);
    expect(head).to.match(/^via: 1\.1 eu-a, 1\.1 waymark-agent\r$/im);
  });

  it('relays the 502 to a plain POST, and retries a GET or a POST with an Idempotency-Key at the next gateway', async () => {
    const status = async (...args: string[]) => {
      const out = await curl('-o', '/dev/null', '-w', '%{http_code} %header{x-waymark-gateway}', ...args);
      return out.trim();
    };
    // First, while nothing is ejected: the preferred gateway's 502 reaches the app, as a direct call's would.
    expect(await status('-X', 'POST', '-d', 'x', `${agentUrl}/flaky/orders`)).to.equal('502 eu-a');
    expect(await status(`${agentUrl}/flaky/items`)).to.equal('200 us-a');
    expect(await status('-X', 'POST', '-d', 'x', '-H', 'Idempotency-Key: 42', `${agentUrl}/flaky/orders`)).to.equal('200 us-a');
  });

  it('answers what it cannot route itself, with a stable code', async () => {
    const answer = (out: string) => {
      const i = out.lastIndexOf('\n');
      return { status: Number(out.slice(i + 1)), code: (JSON.parse(out.slice(0, i)) as { code: string }).code };
    };
    expect(answer(await curl('-w', '\n%{http_code}', `${agentUrl}/nope/x`))).to.deep.equal({ status: 404, code: 'NO_ROUTE' });
    expect(answer(await curl('-w', '\n%{http_code}', '-x', agentUrl, 'http://example.com/'))).to.deep.equal({ status: 404, code: 'NOT_A_SERVICE' });
    expect(answer(await curl('-w', '\n%{http_code}', `${agentUrl}/Not_A_Name/x`))).to.deep.equal({ status: 404, code: 'NO_SERVICE_IN_PATH' });
  });

  it('fails no idempotent call of curl or Python (urllib) when the preferred gateway is SIGKILLed mid-traffic', async () => {
    const targets = { agent: agentUrl, proxied: ['http://catalog/items/1'], direct: [`${agentUrl}/catalog/items/2`] };
    const loops = { curl: curlLoop(targets), python: pythonLoop(targets) };
    const servedBy = (calls: readonly ForeignCall[], id: string, from = 0) => calls.slice(from).filter((c) => c.gateway === id).length;
    await waitFor(() => servedBy(loops.curl.calls(), 'eu-a') >= 20 && servedBy(loops.python.calls(), 'eu-a') >= 20, { what: 'curl and Python traffic on eu-a', timeoutMs: 30_000 });
    const at = { curl: loops.curl.calls().length, python: loops.python.calls().length };
    const killedAt = Date.now();
    child!.kill('SIGKILL');
    await child!.exited;
    await waitFor(() => servedBy(loops.curl.calls(), 'eu-b', at.curl) >= 20 && servedBy(loops.python.calls(), 'eu-b', at.python) >= 20, {
      what: 'curl and Python traffic to move to eu-b',
      timeoutMs: 30_000,
    });
    await waitFor(() => !listed(agent!.client.topology(), 'eu-a'), { what: 'eu-a to leave the agent’s topology', timeoutMs: 10_000 });
    const goneMs = Date.now() - killedAt;
    const curlCalls = await loops.curl.stop();
    const pythonCalls = await loops.python.stop();
    const failed = [...curlCalls, ...pythonCalls].filter((c) => c.status !== 200);
    expect(failed).to.deep.equal([]);
    console.log(
      `      agent failover: curl ${curlCalls.length} calls, python ${pythonCalls.length} calls, ${failed.length} failed; ` +
        `eu-a gone from the agent's topology ${goneMs} ms after the kill; after the kill served by eu-b: curl ${servedBy(curlCalls, 'eu-b', at.curl)}, python ${servedBy(pythonCalls, 'eu-b', at.python)}`,
    );
  });

  it('measures the latency it adds per call over the SDK used directly (same gateway, keep-alive)', async () => {
    const direct = new WaymarkClient({ bootstrap: [inProcess[0]!.url], region: 'eu-west', environment: env, probeLatency: false });
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await direct.ready();
      const rounds = 3;
      const perRound = 200;
      const sdkMs: number[] = [];
      const agentMs: number[] = [];
      for (let r = 0; r < rounds; r += 1) {
        for (let i = 0; i < perRound; i += 1) {
          const t0 = performance.now();
          const res = await direct.request('catalog', { url: '/items/1' });
          sdkMs.push(performance.now() - t0);
          expect(res.status).to.equal(200);
        }
        for (let i = 0; i < perRound; i += 1) {
          const t0 = performance.now();
          const res = await get(`${agentUrl}/catalog/items/1`, keepAlive);
          agentMs.push(performance.now() - t0);
          expect(res.status).to.equal(200);
        }
      }
      const fmt = (v: number) => v.toFixed(2);
      console.log(
        `      agent added latency: SDK direct p50 ${fmt(percentile(sdkMs, 50))} ms p99 ${fmt(percentile(sdkMs, 99))} ms; ` +
          `through the agent p50 ${fmt(percentile(agentMs, 50))} ms p99 ${fmt(percentile(agentMs, 99))} ms; ` +
          `added p50 ${fmt(percentile(agentMs, 50) - percentile(sdkMs, 50))} ms (${rounds * perRound} calls each)`,
      );
    } finally {
      keepAlive.destroy();
      await direct.close();
    }
  });

  it('runs as `waymark agent` from the CLI, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const cli = spawn(process.execPath, ['--import', 'tsx', 'cli/waymark.ts', 'agent', '--bootstrap', inProcess[1]!.url, '--region', 'us-east', '--listen', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /topology .* revision \d+/.test(stderr), { what: 'the CLI agent to hold a topology', timeoutMs: 45_000 });
      const body = JSON.parse(await curl('-x', `http://127.0.0.1:${port}`, 'http://catalog/items/7')) as { backend: string };
      expect(body.backend).to.equal('us');
      await waitFor(() => /GET catalog \/items\/7 200 us-a/.test(stderr), { what: 'the call line' });
    } finally {
      cli.kill('SIGTERM');
    }
    expect(await exited).to.equal(0);
    expect(stderr).to.match(/SIGTERM: stopping/);
  });
});
