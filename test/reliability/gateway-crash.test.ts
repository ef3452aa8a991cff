import { expect } from 'chai';
import { WaymarkClient } from '../../client-sdk/index.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { spawnGateway, startBackend, startGateway, writeTopology, type SpawnedGateway, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { freePort } from '../support/ports.js';
import { region, useEtcd } from '../support/store.js';
import { startTraffic, type Traffic } from '../support/traffic.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

const LEASE_TTL_SECONDS = 2;

function listed(doc: TopologyDocument | undefined, id: string): boolean {
  return doc?.regions.some((r) => r.gateways.some((g) => g.id === id)) ?? false;
}

/**
 * eu-west runs two gateways: `eu-a` as a child process (SIGKILLed: no lease revoke, no drain) and
 * `eu-b` in this process; us-east one. The SDK client is in eu-west and prefers eu-a (ids order
 * the gateways of a region).
 */
describe('gateway crash (SIGKILL) under SDK load', function () {
  this.timeout(60_000);
  const ctx = useEtcd();
  const env = uniqueEnv('crash');
  const backends: TestBackend[] = [];
  const inProcess: StartedGateway[] = [];
  let child: SpawnedGateway | undefined;
  let client: WaymarkClient | undefined;
  let traffic: Traffic | undefined;

  after(async () => {
    await traffic?.stop();
    await client?.close();
    child?.kill('SIGKILL');
    await child?.exited;
    for (const g of inProcess) await g.close();
    for (const b of backends) await b.close();
  });

  it('fails no idempotent call, leaves every topology within the lease TTL, and comes back cleanly under the same id', async () => {
    backends.push(await startBackend('eu'), await startBackend('us'));
    await writeTopology(ctx.conn, ctx.layout, env, {
      regions: [region('eu-west', 'EU'), region('us-east', 'US')],
      services: [
        {
          name: 'catalog',
          basePath: '/catalog/v1',
          placement: 'regional',
          failover: ['us-east'],
          deployments: [
            { region: 'eu-west', upstreams: [backends[0]!.url] },
            { region: 'us-east', upstreams: [backends[1]!.url] },
          ],
        },
      ],
    });
    const port = await freePort();
    const spawnA = () => spawnGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'eu-a', port, leaseTtlSeconds: LEASE_TTL_SECONDS });
    child = await spawnA();
    inProcess.push(await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'eu-west', id: 'eu-b' }));
    inProcess.push(await startGateway({ etcd: ctx.etcd.endpoints, environment: env, region: 'us-east', id: 'us-a' }));
    await waitFor(() => inProcess.every((g) => listed(g.gateway.document, 'eu-a')), { what: 'eu-a to register', timeoutMs: 15_000 });
    client = new WaymarkClient({
      bootstrap: inProcess.map((g) => g.url),
      region: 'eu-west',
      environment: env,
      probeLatency: false,
      ejectionBaseMs: 500,
      connectTimeoutMs: 500,
      attemptTimeoutMs: 2000,
    });
    await client.ready();
    await waitFor(() => listed(client!.topology(), 'eu-a'), { what: 'the client to see eu-a' });
    traffic = startTraffic(client, { service: 'catalog', workers: 4, pauseMs: 5, maxDurationMs: 45_000 });
    await waitFor(() => (traffic!.stats().servedBy['eu-a'] ?? 0) >= 50, { what: 'traffic on eu-a' });

    child.kill('SIGKILL');
    const killedAt = Date.now();
    expect((await child.exited).signal).to.equal('SIGKILL');
    await waitFor(() => inProcess.every((g) => !listed(g.gateway.document, 'eu-a')) && !listed(client!.topology(), 'eu-a'), {
      what: 'eu-a to leave every topology',
      timeoutMs: 10_000,
      intervalMs: 10,
    });
    const goneMs = Date.now() - killedAt;
    // etcd expires a 2 s lease after 2.0–2.5 s; the watch and the client's long-poll add milliseconds.
    expect(goneMs).to.be.below(LEASE_TTL_SECONDS * 1000 + 1500);
    await waitFor(() => (traffic!.servedSince(killedAt)['eu-b'] ?? 0) >= 50, { what: 'traffic to move to eu-b' });

    const restartAt = Date.now();
    child = await spawnA();
    await waitFor(() => inProcess.every((g) => listed(g.gateway.document, 'eu-a')) && listed(client!.topology(), 'eu-a'), {
      what: 'eu-a to register again',
      timeoutMs: 15_000,
    });
    const backMs = Date.now() - restartAt;
    // Peers list it once its registration key is written; it says `registered` once its report,
    // the next write under the lease, is in too (an etcd round trip later, more under load).
    const ready = await waitFor(
      async () => {
        const body = (await (await fetch(`${child!.url}/readyz`)).json()) as { registration: string; stale: boolean };
        return body.registration === 'registered' ? body : undefined;
      },
      { what: 'the restarted gateway to say it is registered', timeoutMs: 5_000 },
    );
    expect(ready).to.include({ registration: 'registered', stale: false });
    // Its own registration moved the revision; it catches up through its watch, like its peers.
    await waitFor(
      async () => {
        const doc = (await (await fetch(`${child!.url}/.well-known/topology`)).json()) as TopologyDocument;
        return doc.revision === inProcess[0]!.gateway.revision;
      },
      { what: 'the restarted gateway to serve the same revision as its peers', timeoutMs: 5_000 },
    );
    const registeredAt = Date.now();
    await waitFor(() => (traffic!.servedSince(registeredAt)['eu-a'] ?? 0) >= 20, { what: 'traffic to return to eu-a', timeoutMs: 15_000 });
    const trafficBackMs = Date.now() - restartAt;

    const stats = await traffic.stop();
    expect(stats.failures.map((f) => f.error)).to.deep.equal([]);
    console.log(
      `      gateway SIGKILL: ${stats.calls} GETs, ${stats.failures.length} failed (p99 ${stats.p99Ms} ms, max ${stats.maxMs} ms); ` +
        `gone from every topology ${goneMs} ms after the kill (TTL ${LEASE_TTL_SECONDS} s); restarted: registered after ${backMs} ms, traffic back after ${trafficBackMs} ms; served by ${JSON.stringify(stats.servedBy)}`,
    );
  });
});
