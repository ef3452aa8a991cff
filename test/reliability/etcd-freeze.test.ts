import { expect } from 'chai';
import type { TopologyDocument } from '../../openapi/index.js';
import { spawnGateway, startGateway, writeTopology, type SpawnedGateway, type StartedGateway } from '../support/gateway.js';
import { region, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** Fetches the gateway's topology document (no cache). */
async function documentOf(url: string): Promise<TopologyDocument> {
  const res = await fetch(`${url}/.well-known/topology`, { headers: { 'cache-control': 'no-cache' }, signal: AbortSignal.timeout(2000) });
  return (await res.json()) as TopologyDocument;
}

/**
 * A frozen etcd (SIGSTOP: it holds connections and never answers, like a black-holed network)
 * fails no call until the call's deadline. The gateway's liveness probe gives up after 1.5 s, so its
 * topology turns stale within about 2 s whatever the etcd call timeout (`--etcd-timeout`), and
 * fresh again once etcd thaws. The deadlines below are far above 2 s and far below the 20 s etcd
 * call timeout the gateways run with, which was when they noticed before.
 */
describe('etcd frozen (SIGSTOP): gateways turn stale within the liveness probe timeout, not the etcd call timeout', function () {
  this.timeout(120_000);
  const ctx = useEtcd();
  let inProcess: StartedGateway | undefined;
  let child: SpawnedGateway | undefined;

  afterEach(async () => {
    ctx.etcd.members[0]!.thaw();
    child?.kill('SIGTERM');
    await child?.exited;
    child = undefined;
    await inProcess?.close();
    inProcess = undefined;
  });

  async function freezeUntilStale(url: string): Promise<number> {
    expect((await documentOf(url)).stale).to.equal(false);
    const frozenAt = Date.now();
    ctx.etcd.members[0]!.freeze();
    try {
      await waitFor(async () => (await documentOf(url)).stale, { timeoutMs: 10_000, intervalMs: 50, what: 'the document to turn stale' });
      return Date.now() - frozenAt;
    } finally {
      ctx.etcd.members[0]!.thaw();
    }
  }

  it('in-process gateway (option etcd.callTimeoutMs 20000): stale while frozen, fresh after SIGCONT', async () => {
    const env = uniqueEnv('freeze');
    await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west')] });
    inProcess = await startGateway({ etcd: { endpoints: ctx.etcd.endpoints, callTimeoutMs: 20_000 }, watcher: {}, environment: env, region: 'eu-west', id: 'gw-frozen' });
    const ms = await freezeUntilStale(inProcess.url);
    process.stdout.write(`      (stale ${ms} ms after SIGSTOP)\n`);
    await waitFor(async () => (await documentOf(inProcess!.url)).stale === false, { timeoutMs: 30_000, intervalMs: 100, what: 'the document to be fresh again' });
  });

  it('waymark gateway --etcd-timeout 20000: the same', async () => {
    const env = uniqueEnv('freeze');
    await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west')] });
    child = await spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'gw-frozen', extraArgs: ['--etcd-timeout', '20000'] });
    await waitFor(async () => (await documentOf(child!.url)).stale === false, { timeoutMs: 30_000, what: 'the gateway to read etcd (a document, not yet stale)' });
    const ms = await freezeUntilStale(child.url);
    process.stdout.write(`      (stale ${ms} ms after SIGSTOP)\n`);
    await waitFor(async () => (await documentOf(child!.url)).stale === false, { timeoutMs: 30_000, intervalMs: 100, what: 'the document to be fresh again' });
  });
});
