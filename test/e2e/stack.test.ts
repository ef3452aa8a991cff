import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NoHealthyGatewayError, WaymarkClient } from '../../client-sdk/index.js';
import type { ApplyResult, EnvironmentStatus, TopologyDocument } from '../../openapi/index.js';
import type { DemoReply } from '../../stack/demo-backend.js';
import { cliArgs, listening, startStackProcess, type RunningStack } from '../support/stack.js';
import { waitFor } from '../support/wait.js';

const run = promisify(execFile);

/** The whole system as `npm start` runs it: `waymark up` on free ports, driven from outside. */
describe('e2e: the local multi-region stack (waymark up)', function () {
  this.timeout(120_000);
  let stack: RunningStack;
  const clients: WaymarkClient[] = [];

  before(async () => {
    stack = await startStackProcess();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  after(async () => {
    if (!stack) return;
    const ports = [stack.description.registry.url, ...Object.values(stack.description.environments).flatMap((e) => e.gateways.map((g) => g.url)), ...stack.description.etcd.endpoints];
    const code = await stack.stop();
    expect(code, 'waymark up exits 0 on SIGTERM').to.equal(0);
    for (const url of ports) expect(await listening(url), `${url} still listening after stop`).to.equal(false);
  });

  const prodGateways = () => stack.description.environments.prod.gateways;
  const url = (env: string, id: string) => stack.gateway(env, id).url;
  const cli = (...args: string[]) =>
    run(process.execPath, [...cliArgs(), ...args], {
      env: { ...process.env, WAYMARK_REGISTRY: stack.description.registry.url, WAYMARK_TOKEN: stack.token(), NO_COLOR: '1' },
    });
  const client = (region: string, env = 'prod') => {
    const c = new WaymarkClient({
      bootstrap: stack.description.environments[env].gateways.map((g) => g.url),
      region,
      environment: env,
      probeLatency: false,
      connectTimeoutMs: 500,
      // Short ejections, so a gateway that comes back gets traffic again within the test.
      ejectionBaseMs: 1000,
      ejectionMaxMs: 4000,
    });
    clients.push(c);
    return c;
  };
  async function seenBy(filter: (b: { environment: string; region: string; service: string }) => boolean): Promise<DemoReply[]> {
    const out: DemoReply[] = [];
    for (const b of stack.description.backends.filter(filter)) {
      const res = await fetch(`${b.url}/_demo/seen`);
      out.push(...((await res.json()) as { seen: DemoReply[] }).seen);
    }
    return out;
  }

  it('starts every region of two environments and refuses a second start on the same state folder', async () => {
    expect(prodGateways().map((g) => g.region).sort()).to.include.members(['eu-west', 'us-east', 'ap-south', 'us-central']);
    expect(stack.output()).to.include('/.well-known/topology').and.to.include('etcdctl').and.to.include('WaymarkClient');
    let failure: { code?: number; stderr?: string } = {};
    try {
      await run(process.execPath, [...cliArgs(), 'up', '--base-port', '0', '--state-dir', stack.stateDir]);
    } catch (err) {
      failure = err as { code?: number; stderr?: string };
    }
    expect(failure.code).to.equal(1);
    expect(failure.stderr).to.match(/already running \(pid \d+/);
  });

  it('keeps its state private: folders 0700, files 0600 (variables, tokens, logs, snapshots)', async () => {
    const dir = stack.stateDir;
    const folders = [dir, ...['environments', 'logs', 'snapshots'].map((f) => join(dir, f))];
    const files = [
      ...['tokens.json', 'admin-token', 'stack.json', 'stack.lock'].map((f) => join(dir, f)),
      ...readdirSync(join(dir, 'environments')).map((f) => join(dir, 'environments', f)),
      ...readdirSync(join(dir, 'logs')).map((f) => join(dir, 'logs', f)),
    ];
    expect(files.some((f) => f.endsWith('prod.yaml'))).to.equal(true);
    expect(files.some((f) => f.endsWith('.log'))).to.equal(true);
    // The gateways write their snapshots after their first read of etcd.
    await waitFor(() => readdirSync(join(dir, 'snapshots')).length > 0, { what: 'a gateway snapshot' });
    files.push(...readdirSync(join(dir, 'snapshots')).map((f) => join(dir, 'snapshots', f)));
    const mode = (p: string) => statSync(p).mode & 0o777;
    for (const f of folders) expect(mode(f), f).to.equal(0o700);
    for (const f of files) expect(mode(f), f).to.equal(0o600);
  });

  it('fails catalog over from eu-west to another cloud-a region with zero failed GETs, and comes back', async () => {
    const c = client('eu-west');
    await c.ready();
    const served: string[] = [];
    const failures: unknown[] = [];
    let stop = false;
    const loop = (async () => {
      for (let i = 0; i < 2000 && !stop; i++) {
        try {
          const res = await c.request<DemoReply>('catalog', { method: 'GET', url: `/items/${i}` });
          served.push(res.data.region);
        } catch (err) {
          failures.push(err);
        }
      }
    })();
    await waitFor(() => served.length >= 20, { what: 'traffic in eu-west' });
    expect(served.every((r) => r === 'eu-west')).to.equal(true);
    await stack.killGateway('prod', 'gw-eu-west');
    await stack.killGateway('prod', 'dispatcher');
    const killedAt = served.length;
    await waitFor(() => served.slice(killedAt).filter((r) => r !== 'eu-west').length >= 20, { what: 'traffic to move' });
    const moved = served.slice(killedAt).filter((r) => r !== 'eu-west');
    expect(moved.every((r) => ['us-east', 'ap-south'].includes(r)), moved.join(',')).to.equal(true);
    await stack.restartGateway('prod', 'gw-eu-west');
    await stack.restartGateway('prod', 'dispatcher');
    const backAt = served.length;
    await waitFor(() => served.slice(backAt).includes('eu-west'), { what: 'traffic to return to eu-west', timeoutMs: 30_000 });
    stop = true;
    await loop;
    expect(failures.map(String)).to.deep.equal([]);
  });

  it('keeps hr in the EU: with eu-west down the call fails and no other region sees it', async () => {
    const c = client('eu-west');
    await c.ready();
    const ok = await c.request<DemoReply>('hr', { method: 'GET', url: '/employees/7' });
    expect(ok.data.region).to.equal('eu-west');
    await stack.killGateway('prod', 'gw-eu-west');
    await stack.killGateway('prod', 'dispatcher');
    const requestId = `e2e-hr-${Date.now()}`;
    let err: unknown;
    try {
      await c.request('hr', { method: 'GET', url: '/employees/8', headers: { 'x-request-id': requestId } });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(NoHealthyGatewayError);
    const attempts = (err as NoHealthyGatewayError).attempts;
    expect(attempts.length).to.be.greaterThan(0);
    expect(attempts.every((a) => a.region === 'eu-west'), JSON.stringify(attempts)).to.equal(true);
    const elsewhere = await seenBy((b) => b.region !== 'eu-west');
    expect(elsewhere.filter((r) => r.requestId === requestId)).to.deep.equal([]);
    await stack.restartGateway('prod', 'gw-eu-west');
    await stack.restartGateway('prod', 'dispatcher');
  });

  it('answers a misdirected plain-HTTP call with 421 and alternates; the dispatcher forwards it', async () => {
    const res = await fetch(`${url('prod', 'gw-us-east')}/hr/v1/employees`);
    expect(res.status).to.equal(421);
    const link = res.headers.get('link') ?? '';
    expect(link).to.include(`<${url('prod', 'gw-eu-west')}/hr/v1/employees>; rel="alternate"`);
    expect(link).not.to.include(url('prod', 'gw-us-central'));
    const body = (await res.json()) as { code: string };
    expect(body.code).to.be.a('string');

    const direct = await fetch(`${url('prod', 'gw-eu-west')}/crm/v1/accounts`);
    expect(direct.status).to.equal(421);
    const forwarded = await fetch(`${url('prod', 'dispatcher')}/crm/v1/accounts`);
    expect(forwarded.status).to.equal(200);
    const reply = (await forwarded.json()) as DemoReply;
    expect(reply.service).to.equal('crm');
    expect(['us-central', 'eu-north']).to.include(reply.region);
  });

  it("applies README's command with the stack's environment file: unchanged, and every proxied call still answers", async () => {
    const envFile = join(stack.stateDir, 'environments', 'prod.yaml');
    const applied = await cli('apply', '-f', 'examples/global-enterprise/', envFile, '--environment', 'prod', '-o', 'json');
    const { created, updated, deleted } = (JSON.parse(applied.stdout) as ApplyResult).summary;
    expect({ created, updated, deleted }, 'the stack applied exactly these resources').to.deep.equal({ created: 0, updated: 0, deleted: 0 });
    // The example's own prod.yaml names a deployment's addresses, not the stack's backends.
    const example = await cli('diff', '-f', 'examples/global-enterprise/', 'examples/global-enterprise/environments/prod.yaml', '--environment', 'prod', '-o', 'json');
    // Its variables would move every service's upstreams to 127.0.0.1:92xx, where nothing listens
    // (and the demo page's CORS origin to its own registry address).
    const moved = (JSON.parse(example.stdout) as ApplyResult).updated.filter((u) => u.kind !== 'Environment');
    expect(moved.length).to.be.greaterThan(0);
    const upstreamTo92xx = (c: { field: string; to?: unknown }) => /upstreams/.test(c.field) && /:92\d\d"\]$/.test(JSON.stringify(c.to));
    expect(moved.every((u) => u.kind === 'Service' && u.changes.some(upstreamTo92xx) && u.changes.every((c) => upstreamTo92xx(c) || c.field === 'spec.cors.allowOrigins')), JSON.stringify(moved)).to.equal(true);
    for (const b of stack.description.backends.filter((x) => x.environment === 'prod')) {
      const gw = prodGateways().find((g) => g.region === b.region && !g.dispatch)!;
      const service = (await (await fetch(`${gw.url}/.well-known/topology`)).json()) as TopologyDocument;
      const basePath = service.services.find((s) => s.name === b.service)!.basePath;
      const res = await fetch(`${gw.url}${basePath}/ping`);
      expect([b.service, b.region, res.status]).to.deep.equal([b.service, b.region, 200]);
    }
  });

  it('promotes dev to prod: every prod gateway and a running SDK client see it within a second, dev untouched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waymark-e2e-'));
    try {
      const file = join(dir, 'search.yaml');
      writeFileSync(
        file,
        [
          'apiVersion: waymark/v1',
          'kind: Service',
          'metadata: { name: search }',
          'spec:',
          '  basePath: /search/v1',
          '  placement: regional',
          '  deployments:',
          '    - { region: eu-west, upstreams: ["${catalogEuWest}"] }',
          '    - { region: us-east, upstreams: ["${catalogUsEast}"] }',
          '',
        ].join('\n'),
      );
      await cli('apply', '-f', file, '--environment', 'dev');
      const devBefore = (await (await fetch(`${url('dev', 'gw-eu-west')}/.well-known/topology`)).json()) as TopologyDocument;
      expect(devBefore.services.map((s) => s.name)).to.include('search');
      const prodBefore = (await (await fetch(`${url('prod', 'gw-eu-west')}/.well-known/topology`)).json()) as TopologyDocument;
      expect(prodBefore.services.map((s) => s.name)).not.to.include('search');

      const c = client('eu-west');
      await c.ready();
      let sdkSawAt = 0;
      c.on('topology', (doc) => {
        if (!sdkSawAt && doc.services.some((s) => s.name === 'search')) sdkSawAt = Date.now();
      });
      const { stdout } = await cli('promote', '--from', 'dev', '--to', 'prod', '-o', 'json');
      const promotedAt = Date.now();
      const result = JSON.parse(stdout) as { created: Array<{ name: string }>; revision: number };
      expect(result.created.map((r) => r.name)).to.deep.equal(['search']);
      const seenAt = await Promise.all(
        prodGateways().map(async (g) => {
          await waitFor(
            async () => ((await (await fetch(`${g.url}/.well-known/topology`)).json()) as TopologyDocument).services.some((s) => s.name === 'search'),
            { timeoutMs: 5000, intervalMs: 10, what: `${g.id} to serve search` },
          );
          return Date.now();
        }),
      );
      await waitFor(() => sdkSawAt > 0, { timeoutMs: 5000, what: 'the SDK client to see search' });
      expect(Math.max(...seenAt, sdkSawAt) - promotedAt).to.be.below(1000);
      const res = await c.request<DemoReply>('search', { method: 'GET', url: '/q?x=1' });
      expect(res.data.instance).to.equal('prod-catalog-eu-west');
      const devAfter = (await (await fetch(`${url('dev', 'gw-eu-west')}/.well-known/topology`)).json()) as TopologyDocument;
      expect(devAfter.revision).to.equal(devBefore.revision);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('waymark status shows every gateway at the current revision', async () => {
    const status = await waitFor(
      async () => {
        const { stdout } = await cli('status', '--environment', 'prod', '-o', 'json');
        const s = JSON.parse(stdout) as EnvironmentStatus;
        return prodGateways().every((g) => s.gateways.some((x) => x.id === g.id && x.lag === 0 && x.appliedRevision !== undefined)) ? s : undefined;
      },
      { timeoutMs: 15_000, what: 'every gateway at the current revision' },
    );
    expect(status.gateways.filter((g) => g.health === 'healthy').length).to.be.at.least(prodGateways().length);
    const { stdout } = await cli('status', '--environment', 'prod');
    for (const g of prodGateways()) expect(stdout).to.include(g.id);
  });
});
