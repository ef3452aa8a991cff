import { expect } from 'chai';
import type { TopologyDocument } from '../../openapi/index.js';
import { readEnvironment } from '../../store/index.js';
import { spawnGateway, startGateway, writeTopology } from '../support/gateway.js';
import { region, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

describe('gateway as a process (waymark gateway, real etcd)', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanup.length) await cleanup.pop()!();
  });

  async function env(): Promise<string> {
    const name = uniqueEnv('proc');
    await writeTopology(ctx.conn, ctx.layout, name, { regions: [region('eu-west', 'EU'), region('us-east', 'US')] });
    return name;
  }

  function gatewayIds(doc: TopologyDocument): string[] {
    return doc.regions.flatMap((r) => r.gateways.map((g) => g.id)).sort();
  }

  it('a SIGKILLed gateway (no revoke) vanishes from other gateways\' topology within its lease TTL', async () => {
    const name = await env();
    const observer = await startGateway({ etcd: ctx.etcd.endpoints, environment: name, region: 'eu-west', id: 'observer' });
    cleanup.push(() => observer.close());
    const child = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: name, region: 'us-east', id: 'doomed', leaseTtlSeconds: 2 });
    cleanup.push(async () => {
      child.kill('SIGKILL');
      await child.exited;
    });
    await waitFor(() => observer.gateway.document && gatewayIds(observer.gateway.document).includes('doomed'), {
      what: 'the child gateway to register',
      timeoutMs: 15_000,
    });
    const res = await fetch(`${child.url}/.well-known/topology`);
    expect([res.headers.get('x-waymark-gateway'), res.headers.get('x-waymark-region')]).to.deep.equal(['doomed', 'us-east']);
    expect(((await res.json()) as TopologyDocument).environment).to.equal(name);

    child.kill('SIGKILL');
    const killedAt = Date.now();
    expect((await child.exited).signal).to.equal('SIGKILL');
    await waitFor(() => !gatewayIds(observer.gateway.document!).includes('doomed'), { what: 'the lease to expire', timeoutMs: 6000 });
    const gone = Date.now() - killedAt;
    // TTL 2 s; etcd may round a lease up by its election timeout, never more than a second here.
    expect(gone).to.be.below(3500);
    expect(await ctx.conn.client.get(ctx.layout.report(name, 'us-east', 'doomed')).string()).to.equal(null);
  });

  it('on SIGTERM leaves the topology at once (revoke) and exits 0', async () => {
    const name = await env();
    const child = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: name, region: 'eu-west', id: 'polite', leaseTtlSeconds: 30 });
    cleanup.push(async () => {
      child.kill('SIGKILL');
      await child.exited;
    });
    await waitFor(async () => (await readEnvironment(ctx.conn, ctx.layout, name)).snapshot.gateways.size === 1, {
      what: 'registration',
      timeoutMs: 15_000,
    });
    child.kill('SIGTERM');
    const exit = await child.exited;
    expect(exit.code, child.output()).to.equal(0);
    expect((await readEnvironment(ctx.conn, ctx.layout, name)).snapshot.gateways.size).to.equal(0);
    expect(child.output()).to.include('"event":"draining"');
  });

  it('refuses bad options with exit code 2 and a message naming the option', async () => {
    let err: unknown;
    try {
      await spawnGateway({ etcd: ctx.etcd.endpoints, environment: 'Bad_Env', region: 'eu-west', id: 'x' });
    } catch (e) {
      err = e;
    }
    expect(String(err)).to.include('code 2');
    expect(String(err)).to.include('environment');
    expect(String(err)).to.include('INVALID_OPTIONS');
  });
});
