import { expect } from 'chai';
import type { ServiceDefinition } from '../../openapi/index.js';
import { TopologySnapshot, TopologyWatcher, type InvalidRecord } from '../../store/index.js';
import { startGateway } from '../support/gateway.js';
import { region, service, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/**
 * Where etcd's stream, a document build or a request calls into Waymark, an exception is caught,
 * counted and logged; the last good state stays in use and the process goes on.
 */
describe('crash boundaries: watch, publish, request (real etcd)', function () {
  this.timeout(20_000);
  const ctx = useEtcd();

  it('a snapshot listener that throws is reported as a failure; the watch goes on', async () => {
    const env = uniqueEnv('boundary');
    const put = (key: string, value: unknown) => ctx.conn.call((c) => c.put(key).value(JSON.stringify(value)).exec());
    await put(ctx.layout.region(env, 'eu-west'), region('eu-west'));
    const watcher = new TopologyWatcher(ctx.conn, ctx.layout, env);
    const failures: string[] = [];
    const seen: TopologySnapshot[] = [];
    watcher.on('failure', (err, where) => failures.push(`${where}: ${err.message}`));
    watcher.on('snapshot', (s) => {
      seen.push(s);
      if (s.services.has('boom')) throw new TypeError("Cannot read properties of null (reading 'region')");
    });
    try {
      watcher.start();
      await watcher.ready(AbortSignal.timeout(10_000));
      await put(ctx.layout.service(env, 'boom'), service('boom', ['eu-west']));
      await waitFor(() => failures.length === 1, { what: 'the failure to be reported' });
      expect(failures[0]).to.equal("snapshot listener: Cannot read properties of null (reading 'region')");
      await put(ctx.layout.service(env, 'after'), service('after', ['eu-west']));
      await waitFor(() => seen.some((s) => s.services.has('after')), { what: 'the next snapshot' });
    } finally {
      await watcher.close();
    }
  });

  it('announces an invalid key once per reason, keeps its last valid version, and clears it when fixed', async () => {
    const env = uniqueEnv('boundary');
    const key = ctx.layout.service(env, 'catalog');
    const put = (value: string) => ctx.conn.call((c) => c.put(key).value(value).exec());
    await put(JSON.stringify(service('catalog', ['eu-west'])));
    const watcher = new TopologyWatcher(ctx.conn, ctx.layout, env);
    const announced: InvalidRecord[] = [];
    const sets: number[] = [];
    watcher.on('invalid', (r) => announced.push(r));
    watcher.on('quarantine', (records) => sets.push(records.length));
    try {
      watcher.start();
      await watcher.ready(AbortSignal.timeout(10_000));
      await put('{"name":"catalog","basePath":"/catalog/v1","placement":"regional","deployments":[null]}');
      await waitFor(() => watcher.invalidRecords().length === 1, { what: 'the key to be quarantined' });
      // A re-read finds the same bad value: no second announcement, the last valid version stays.
      watcher.resync('test');
      // A write after the re-read started shows up once it is over (events are held back while it runs).
      await ctx.conn.call((c) => c.put(ctx.layout.region(env, 'eu-west')).value(JSON.stringify(region('eu-west'))).exec());
      await waitFor(() => watcher.current()?.regions.has('eu-west'), { what: 'the re-read' });
      expect(watcher.current()?.services.get('catalog')?.deployments[0]?.region).to.equal('eu-west');
      expect(announced.map((r) => r.reason)).to.deep.equal(['deployments[0]: must be an object']);
      await put(JSON.stringify(service('catalog', ['us-east'])));
      await waitFor(() => watcher.invalidRecords().length === 0 && watcher.current()?.services.get('catalog')?.deployments[0]?.region === 'us-east', { what: 'the fix' });
      expect(sets).to.deep.equal([1, 0]);
    } finally {
      await watcher.close();
    }
  });

  it('a gateway whose document build throws keeps serving its last document, and counts it', async () => {
    const env = uniqueEnv('boundary');
    await ctx.conn.call((c) => c.put(ctx.layout.region(env, 'eu-west')).value(JSON.stringify(region('eu-west'))).exec());
    const gw = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-1' });
    try {
      const before = gw.gateway.document!;
      // A snapshot the validators would never produce, as a bug elsewhere might: the build throws.
      const current = (gw.gateway as unknown as { watcher: TopologyWatcher }).watcher.current()!;
      const broken = new TopologySnapshot(env, current.revision + 1, current.regions, new Map([['x', { name: 'x', basePath: '/x', placement: 'regional', deployments: null } as unknown as ServiceDefinition]]), current.gateways);
      (gw.gateway as unknown as { watcher: TopologyWatcher }).watcher.emit('snapshot', broken, current);
      expect(gw.gateway.document).to.equal(before);
      const res = await fetch(`${gw.url}/.well-known/topology`);
      expect(res.status).to.equal(200);
      expect(((await res.json()) as { revision: number }).revision).to.equal(before.revision);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      expect(metrics).to.match(/^waymark_gateway_internal_errors_total\{boundary="publish"[^}]*\} 1$/m);
    } finally {
      await gw.close();
    }
  });

  it('a request handler that throws answers 500 on that request only, and counts it', async () => {
    const env = uniqueEnv('boundary');
    await ctx.conn.call((c) => c.put(ctx.layout.region(env, 'eu-west')).value(JSON.stringify(region('eu-west'))).exec());
    const gw = await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-1' });
    try {
      // Stands for a bug in a handler: the discovery handler throws once.
      const discovery = (gw.gateway as unknown as { discovery: { topology: (...args: unknown[]) => void } }).discovery;
      const original = discovery.topology.bind(discovery);
      discovery.topology = () => {
        discovery.topology = original;
        throw new TypeError('boom');
      };
      const failed = await fetch(`${gw.url}/.well-known/topology`);
      expect(failed.status).to.equal(500);
      expect(((await failed.json()) as { code: string }).code).to.equal('INTERNAL');
      expect((await fetch(`${gw.url}/.well-known/topology`)).status).to.equal(200);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      expect(metrics).to.match(/^waymark_gateway_internal_errors_total\{boundary="request"[^}]*\} 1$/m);
    } finally {
      await gw.close();
    }
  });
});
