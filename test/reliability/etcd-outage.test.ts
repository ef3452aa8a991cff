import { expect } from 'chai';
import { WaymarkClient } from '../../client-sdk/index.js';
import type { TopologyDocument } from '../../openapi/index.js';
import { connectEtcd, KeyLayout, type EtcdConnection } from '../../store/index.js';
import { applyYaml } from '../support/admin-api.js';
import { watchDocuments, type DocumentWatch } from '../support/document-watch.js';
import { startEtcd, startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { startBackend, startGateway, writeTopology, type StartedGateway, type TestBackend } from '../support/gateway.js';
import { regionYaml, serviceYaml, yamlDocuments } from '../support/manifests.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { region } from '../support/store.js';
import { startTraffic, type Traffic } from '../support/traffic.js';
import { uniqueEnv, waitFor } from '../support/wait.js';

/** Everything one outage scenario runs; `stop()` tears it down in reverse order. */
interface Scene {
  etcd: EtcdCluster;
  conn: EtcdConnection;
  gateways: StartedGateway[];
  client: WaymarkClient;
  backends: TestBackend[];
  docs?: DocumentWatch;
  traffic?: Traffic;
}

async function teardown(scene: Partial<Scene>): Promise<void> {
  await scene.traffic?.stop();
  await scene.docs?.stop();
  await scene.client?.close();
  for (const g of scene.gateways ?? []) await g.close();
  for (const b of scene.backends ?? []) await b.close();
  scene.conn?.close();
  await scene.etcd?.stop();
}

/** eu-west and us-east, one gateway each (in this process), `catalog` in both, an SDK client in eu-west. */
async function startScene(etcd: EtcdCluster, env: string, seed: (conn: EtcdConnection) => Promise<void>): Promise<Scene> {
  const scene: Partial<Scene> = { etcd, gateways: [], backends: [] };
  try {
    scene.conn = connectEtcd({ endpoints: etcd.endpoints, callTimeoutMs: 2000 });
    await seed(scene.conn);
    for (const r of ['eu-west', 'us-east']) {
      scene.gateways!.push(await startGateway({ etcd: etcd.endpoints, environment: env, region: r, id: `${r}-gw` }));
    }
    scene.client = new WaymarkClient({
      bootstrap: scene.gateways!.map((g) => g.url),
      region: 'eu-west',
      environment: env,
      probeLatency: false,
      attemptTimeoutMs: 2000,
      connectTimeoutMs: 500,
    });
    await scene.client.ready();
    await waitFor(() => scene.client!.topology()?.regions.every((r) => r.gateways.length === 1), { what: 'both gateways in the SDK topology' });
    return scene as Scene;
  } catch (err) {
    await teardown(scene);
    throw err;
  }
}

async function topologyOf(url: string): Promise<{ doc: TopologyDocument; staleSince: string | null }> {
  const res = await fetch(`${url}/.well-known/topology`, { signal: AbortSignal.timeout(3000) });
  expect(res.status).to.equal(200);
  return { doc: (await res.json()) as TopologyDocument, staleSince: res.headers.get('x-waymark-stale-since') };
}

async function proxied(url: string): Promise<number> {
  const res = await fetch(`${url}/catalog/v1/direct`, { signal: AbortSignal.timeout(3000) });
  await res.arrayBuffer();
  return res.status;
}

describe('etcd outages seen by gateways and SDK clients', function () {
  this.timeout(60_000);
  let scene: Partial<Scene> = {};
  afterEach(async () => {
    await teardown(scene);
    scene = {};
  });

  it('full outage, data kept: gateways serve stale and proxy, SDK calls all succeed, revisions never go back, resync by itself', async () => {
    const env = uniqueEnv('outage');
    const layout = new KeyLayout();
    const backends = [await startBackend('eu'), await startBackend('us')];
    const s = await startScene(await startEtcd(), env, (conn) =>
      writeTopology(conn, layout, env, {
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
      }).then(() => undefined),
    );
    scene = { ...s, backends };
    scene.docs = watchDocuments(s.gateways.map((g) => g.url));
    scene.traffic = startTraffic(s.client, { service: 'catalog', workers: 4, pauseMs: 10, maxDurationMs: 50_000 });
    await waitFor(() => scene.traffic!.stats().ok >= 20, { what: 'traffic before the outage' });
    const before = Math.max(...s.gateways.map((g) => g.gateway.revision));

    const killedAt = Date.now();
    await s.etcd.members[0]!.kill();
    await waitFor(() => s.gateways.every((g) => g.gateway.stale), { what: 'both gateways to notice the outage' });
    const detectMs = Date.now() - killedAt;
    for (const g of s.gateways) {
      const { doc, staleSince } = await topologyOf(g.url);
      expect(doc.stale).to.equal(true);
      expect(doc.revision).to.equal(g.gateway.revision);
      expect(staleSince).to.match(/GMT$/);
      expect(await proxied(g.url)).to.equal(200);
    }
    // The outage outlives the 2 s leases, and SDK traffic goes on throughout.
    await waitFor(() => Date.now() - killedAt > 3000 && (scene.traffic!.servedSince(killedAt)['eu-west-gw'] ?? 0) >= 50, {
      what: 'traffic during the outage',
      timeoutMs: 20_000,
    });

    const restartedAt = Date.now();
    await s.etcd.members[0]!.restart();
    await waitFor(() => s.gateways.every((g) => !g.gateway.stale), { what: 'the gateways to resync by themselves', timeoutMs: 20_000 });
    const recoverMs = Date.now() - restartedAt;
    const next = await writeTopology(s.conn, layout, env, {
      services: [{ name: 'extra', basePath: '/extra/v1', placement: 'regional', deployments: [{ region: 'us-east', upstreams: [backends[1]!.url] }] }],
    });
    await waitFor(() => s.gateways.every((g) => g.gateway.revision >= next), { what: 'a write after the restart to reach the gateways' });
    await waitFor(
      async () => {
        for (const g of s.gateways) {
          const { doc } = await topologyOf(g.url);
          if (doc.stale || doc.regions.some((r) => r.gateways.length !== 1)) return false;
        }
        return true;
      },
      { what: 'both gateways registered in fresh documents', timeoutMs: 15_000 },
    );
    await waitFor(() => (s.client.topology()?.revision ?? 0) >= next, { what: 'the SDK to take the new revision' });
    const stats = await scene.traffic.stop();
    await scene.docs.stop();

    expect(stats.failures.map((f) => f.error)).to.deep.equal([]);
    expect(scene.docs.regressions).to.deep.equal([]);
    const staleSamples = [...scene.docs.samples.values()].flat().filter((x) => x.stale);
    expect(staleSamples.length).to.be.greaterThan(0);
    expect(staleSamples.every((x) => x.revision >= before && x.staleSince !== null)).to.equal(true);
    const staleMs = Math.max(...staleSamples.map((x) => x.at)) - Math.min(...staleSamples.map((x) => x.at));
    console.log(
      `      full outage: stale detected after ${detectMs} ms; ${stats.calls} SDK calls, ${stats.failures.length} failed (p99 ${stats.p99Ms} ms); ` +
        `stale documents served for ${staleMs} ms (${staleSamples.length} polls); fresh ${recoverMs} ms after etcd restarted; ` +
        `${scene.docs.regressions.length} revision regressions`,
    );
  });

  it('2 of 3 members lost under load: applies fail fast with 503 ETCD_NO_QUORUM, gateways serve stale, SDK calls succeed; quorum back → resync', async () => {
    const env = uniqueEnv('quorum');
    const backends = [await startBackend('eu'), await startBackend('us')];
    const cluster = await startEtcdCluster(3);
    let reg: TestRegistry | undefined;
    const s = await startScene(cluster, env, async () => {
      reg = await startRegistry({ endpoints: cluster.endpoints });
      const res = await applyYaml(
        reg.url,
        reg.adminToken,
        env,
        yamlDocuments(
          regionYaml('eu-west', 'EU'),
          regionYaml('us-east', 'US'),
          serviceYaml('catalog', { failover: ['us-east'], deployments: { 'eu-west': [backends[0]!.url], 'us-east': [backends[1]!.url] } }),
        ),
      );
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    });
    scene = { ...s, backends };
    const registry = reg!;
    try {
      scene.docs = watchDocuments(s.gateways.map((g) => g.url));
      scene.traffic = startTraffic(s.client, { service: 'catalog', workers: 4, pauseMs: 10, maxDurationMs: 50_000 });

      /** Applies one new service after another; records every answer. */
      const applies: { at: number; status: number; code?: string; ms: number; revision?: number; name: string }[] = [];
      let applying = true;
      const applier = (async () => {
        for (let i = 0; i < 400 && applying; i++) {
          const name = `svc-${i}`;
          const res = await applyYaml(registry.url, registry.adminToken, env, serviceYaml(name, { deployments: { 'us-east': [backends[1]!.url] } }));
          applies.push({ at: Date.now(), status: res.status, ms: res.ms, name, ...(res.body?.code ? { code: res.body.code } : {}), ...(res.status === 200 ? { revision: res.body.revision } : {}) });
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      await waitFor(() => applies.filter((a) => a.status === 200).length >= 3, { what: 'applies before the failure' });

      const staleAt: number[] = [];
      for (const g of s.gateways) g.gateway.once('stale', () => staleAt.push(Date.now()));
      const killedAt = Date.now();
      await Promise.all([cluster.members[1]!.kill(), cluster.members[2]!.kill()]);
      await waitFor(() => applies.filter((a) => a.at > killedAt && a.status === 503).length >= 2, {
        what: 'applies to fail with 503',
        timeoutMs: 20_000,
      });
      const firstFailMs = applies.find((a) => a.at > killedAt && a.status !== 200)!.at - killedAt;
      await waitFor(() => s.gateways.every((g) => g.gateway.stale), { what: 'gateways to turn stale', timeoutMs: 10_000 });
      const staleMs = Math.max(...staleAt) - killedAt;
      for (const g of s.gateways) {
        const { doc, staleSince } = await topologyOf(g.url);
        expect(doc.stale).to.equal(true);
        expect(staleSince).to.match(/GMT$/);
        expect(await proxied(g.url)).to.equal(200);
      }
      await waitFor(() => (scene.traffic!.servedSince(killedAt)['eu-west-gw'] ?? 0) >= 50, { what: 'SDK traffic without quorum', timeoutMs: 20_000 });

      const restoredAt = Date.now();
      await Promise.all([cluster.members[1]!.restart(), cluster.members[2]!.restart()]);
      const firstOk = await waitFor(() => applies.find((a) => a.at > restoredAt && a.status === 200), {
        what: 'an apply to succeed after quorum is back',
        timeoutMs: 30_000,
      });
      const applyBackMs = firstOk.at - restoredAt;
      applying = false;
      await applier;
      const latest = Math.max(...applies.filter((a) => a.revision !== undefined).map((a) => a.revision!));
      await waitFor(() => s.gateways.every((g) => !g.gateway.stale && g.gateway.revision >= latest), {
        what: 'gateways to resync to the latest revision',
        timeoutMs: 20_000,
      });
      const resyncMs = Date.now() - restoredAt;
      const stats = await scene.traffic.stop();
      await scene.docs.stop();

      const failed = applies.filter((a) => a.at > killedAt && a.at < restoredAt && a.status !== 200);
      expect(failed.length).to.be.greaterThan(0);
      expect([...new Set(failed.map((a) => `${a.status} ${a.code}`))].every((x) => /^503 ETCD_(NO_QUORUM|UNAVAILABLE)$/.test(x)), JSON.stringify(failed)).to.equal(true);
      // The registry's etcd deadline is 3 s; nothing waits for etcd's own 7 s give-up.
      expect(Math.max(...failed.map((a) => a.ms))).to.be.below(8000);
      // Every acknowledged apply is in the gateways' documents.
      const acked = applies.filter((a) => a.status === 200).map((a) => a.name);
      const { doc } = await topologyOf(s.gateways[0]!.url);
      const names = new Set(doc.services.map((x) => x.name));
      expect(acked.filter((n) => !names.has(n))).to.deep.equal([]);
      expect(stats.failures.map((f) => f.error)).to.deep.equal([]);
      expect(scene.docs.regressions).to.deep.equal([]);
      console.log(
        `      no quorum: first failed apply ${firstFailMs} ms after the kill, ${failed.length} applies refused (${[...new Set(failed.map((a) => a.code))].join('/')}, ` +
          `max ${Math.max(...failed.map((a) => a.ms))} ms each); gateways stale after ${staleMs} ms; ${stats.calls} SDK calls, ${stats.failures.length} failed; ` +
          `applies back ${applyBackMs} ms and gateways at the latest revision ${resyncMs} ms after quorum returned; ${acked.length} acknowledged applies all present`,
      );
    } finally {
      await registry.close();
    }
  });
});
