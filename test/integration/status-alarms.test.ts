import { expect } from 'chai';
import type { Lease } from 'etcd3';
import type { EnvironmentStatus } from '../../openapi/index.js';
import type { Alarm } from '../../cli/alarms.js';
import { runWaymark, type CliRun } from '../support/cli.js';
import { spawnGateway, startBackend, type SpawnedGateway, type TestBackend } from '../support/gateway.js';
import { regionYaml, yamlDocuments } from '../support/manifests.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

type StatusOutput = EnvironmentStatus & { alarms: Alarm[] };

/**
 * `waymark status` as an alarm: its exit code says the worst thing wrong (4 invalid records,
 * 5 lagging, 6 stale, 7 down), `-o json` lists the alarms. Real etcd, registry and gateway; the
 * lagging and stale gateways are records written as a gateway would (a gateway cannot be made to
 * lag on purpose), under a lease, at the URL of a live server.
 */
describe('waymark status: alarms and exit codes (real etcd, registry and gateway)', function () {
  this.timeout(120_000);
  const ctx = useEtcd();
  let reg: TestRegistry;
  let backend: TestBackend;
  const leases: Lease[] = [];
  let gateway: SpawnedGateway | undefined;

  before(async () => {
    reg = await startRegistry({ endpoints: ctx.etcd.endpoints });
    backend = await startBackend('listener');
  });
  after(async () => {
    gateway?.kill('SIGKILL');
    await gateway?.exited;
    for (const l of leases) await l.revoke().catch(() => undefined);
    await backend?.close();
    await reg?.close();
  });

  const status = (env: string, ...args: string[]) => runWaymark(['status', '-e', env, ...args], { WAYMARK_REGISTRY: reg.url, WAYMARK_TOKEN: reg.adminToken });
  const json = (run: CliRun) => JSON.parse(run.stdout) as StatusOutput;
  async function applyRegions(env: string, ...names: string[]): Promise<number> {
    const res = await fetch(`${reg.url}/v1/environments/${env}/apply`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reg.adminToken}`, 'content-type': 'application/yaml' },
      body: yamlDocuments(...names.map((n) => regionYaml(n, 'EU'))),
    });
    expect(res.status).to.equal(200);
    return ((await res.json()) as { revision: number }).revision;
  }
  /**
   * A gateway's registration and report, written as the gateway writes them, under a lease of its
   * own; `report()` writes a new report (only: a registration is content, it moves the revision).
   */
  async function writeGateway(env: string, id: string, first: { appliedRevision: number; stale: boolean }): Promise<(r: { appliedRevision: number; stale: boolean }) => Promise<void>> {
    const lease = ctx.conn.client.lease(60);
    leases.push(lease);
    const report = async (r: { appliedRevision: number; stale: boolean }) => {
      await lease.put(ctx.layout.report(env, 'eu-west', id)).value(JSON.stringify({ id, region: 'eu-west', ...r, reportedAt: new Date().toISOString(), registration: 'registered' }));
    };
    await lease.put(ctx.layout.gateway(env, 'eu-west', id)).value(JSON.stringify({ id, region: 'eu-west', url: backend.url, status: 'up', startedAt: new Date().toISOString(), dispatch: false }));
    await report(first);
    return report;
  }

  it('exits 7 for a SIGKILLed gateway at once, not `up healthy` until its lease expires', async () => {
    const env = uniqueEnv('alarm-down');
    await applyRegions(env, 'eu-west');
    // A lease far longer than the test: only the probe of its URL can tell it is gone.
    gateway = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-a', leaseTtlSeconds: 60 });
    await waitFor(async () => json(await status(env, '-o', 'json')).gateways.some((g) => g.id === 'gw-a' && g.health === 'healthy'), {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'gw-a to be healthy',
    });
    const healthy = await status(env);
    expect(healthy.code, healthy.stdout + healthy.stderr).to.equal(0);
    expect(healthy.stdout).not.to.match(/^alarm:/m);

    gateway.kill('SIGKILL');
    await gateway.exited;
    const run = await status(env, '-o', 'json');
    expect(run.code, run.stdout + run.stderr).to.equal(7);
    const out = json(run);
    expect(out.gateways.find((g) => g.id === 'gw-a')?.health).to.equal('down');
    expect(out.alarms.map((a) => a.kind)).to.deep.equal(['down']);
    const table = await status(env);
    expect(table.code).to.equal(7);
    expect(table.stdout).to.match(/gw-a .* down/).and.to.match(/alarm: gateway gw-a \(eu-west\) is down: nothing listens at/);
  });

  it('exits 5 for a gateway lagging beyond --max-lag (or still behind after --max-lag-for), 6 for a stale one, 0 once it caught up', async () => {
    const env = uniqueEnv('alarm-lag');
    const first = await applyRegions(env, 'eu-west');
    await applyRegions(env, 'eu-west', 'us-east');
    const report = await writeGateway(env, 'gw-lag', { appliedRevision: first, stale: false });
    const lagging = await status(env, '-o', 'json');
    expect(lagging.code, lagging.stderr).to.equal(5);
    const lag = json(lagging).gateways[0]!.lag;
    expect(lag).to.be.greaterThan(0);
    expect(json(lagging).alarms).to.have.length(1).and.to.have.nested.property('[0].kind', 'lagging');
    expect((await status(env, '--max-lag', String(lag))).code).to.equal(0);
    expect((await status(env, '--max-lag', String(lag - 1))).code).to.equal(5);
    expect((await status(env, '--max-lag-for', '1500ms')).code, 'still behind after the wait').to.equal(5);
    expect((await status(env, '--max-lag-for', 'soon')).code, 'a bad duration is a usage error').to.equal(2);

    const current = json(lagging).revision;
    await report({ appliedRevision: current, stale: false });
    const caughtUp = await status(env, '--max-lag-for', '30s', '-o', 'json');
    expect(caughtUp.code, caughtUp.stdout).to.equal(0);
    expect(json(caughtUp).alarms).to.deep.equal([]);

    const staleReport = await writeGateway(env, 'gw-stale', { appliedRevision: current, stale: true });
    // Registering gw-stale moved the revision: gw-lag catches up again, so only the stale alarm stays.
    const now = json(await status(env, '-o', 'json')).revision;
    await report({ appliedRevision: now, stale: false });
    await staleReport({ appliedRevision: now, stale: true });
    const stale = await status(env, '-o', 'json');
    expect(stale.code).to.equal(6);
    expect(json(stale).alarms.map((a) => `${a.kind} ${a.gateway?.id}`)).to.deep.equal(['stale gw-stale']);
  });

  it('exits 4 while the environment holds an invalid record', async () => {
    const env = uniqueEnv('alarm-invalid');
    await applyRegions(env, 'eu-west');
    expect((await status(env)).code).to.equal(0);
    await ctx.conn.client.put(ctx.layout.gateway(env, 'eu-west', 'broken')).value('{not json');
    const run = await status(env, '-o', 'json');
    expect(run.code, run.stdout).to.equal(4);
    expect(json(run).alarms.map((a) => a.kind)).to.deep.equal(['invalid']);
  });
});
