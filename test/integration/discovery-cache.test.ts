import { expect } from 'chai';
import type { TopologyDocument } from '../../openapi/index.js';
import { startGateway, writeTopology, type StartedGateway } from '../support/gateway.js';
import { ensureNginx, nginxConfig, startNginx, type RunningNginx } from '../support/nginx.js';
import { region, service, useEtcd } from '../support/store.js';
import { uniqueEnv, waitFor } from '../support/wait.js';
import { skipBecause } from '../support/skip.js';

/**
 * The discovery surface behind a real shared cache (nginx proxy_cache, which honours
 * Cache-Control, stale-while-revalidate and stale-if-error): what operators put in front of a
 * pool of gateways. A cache must never replay a long-poll, and must still bridge a gateway outage.
 */
describe('discovery through a shared cache (nginx proxy_cache in front of a gateway)', function () {
  this.timeout(120_000);
  const ctx = useEtcd();
  let nginxBinary = '';
  let nginxVersion = '';
  const cleanup: Array<() => Promise<void>> = [];

  before(function () {
    this.timeout(300_000);
    // Installs Debian's nginx when missing and root (as CI is); elsewhere the suite says why it skips.
    const found = ensureNginx({ install: true, log: (line) => console.log(`      ${line}`) });
    if (!found.available) {
      skipBecause(this, found.reason);
    }
    nginxBinary = found.available ? found.binary : '';
    nginxVersion = found.available ? found.version : '';
  });

  afterEach(async () => {
    while (cleanup.length > 0) await cleanup.pop()!();
  });

  async function scene(cacheMaxAgeSeconds: number): Promise<{ env: string; gw: StartedGateway; cache: RunningNginx }> {
    const env = uniqueEnv('cache');
    await writeTopology(ctx.conn, ctx.layout, env, { regions: [region('eu-west')], services: [service('hr', ['eu-west'])] });
    const gw = await startGateway({
      etcd: ctx.etcd.endpoints,
      environment: env,
      region: 'eu-west',
      id: 'gw-1',
      cacheMaxAgeSeconds,
      // Only stale-if-error may let the cache answer past max-age here.
      staleWhileRevalidateSeconds: 0,
      staleIfErrorSeconds: 300,
    });
    cleanup.push(() => gw.close());
    const upstream = new URL(gw.url).host;
    const cache = await startNginx(nginxBinary, nginxVersion, {
      startTimeoutMs: 10_000,
      config: (dir, port) =>
        nginxConfig(
          dir,
          `  proxy_cache_path ${dir}/cache levels=1 keys_zone=discovery:1m max_size=16m inactive=10m use_temp_path=off;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_read_timeout 60s;
      proxy_cache discovery;
      add_header X-Cache-Status $upstream_cache_status always;
    }
  }`,
          256,
        ),
    });
    cleanup.push(() => cache.close());
    return { env, gw, cache };
  }

  async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; cache: string | null; doc?: TopologyDocument }> {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    return { status: res.status, cache: res.headers.get('x-cache-status'), ...(res.status === 200 ? { doc: JSON.parse(text) as TopologyDocument } : {}) };
  }

  it('keeps ordinary document requests cacheable, and never replays a long-poll: the next revision gets through', async () => {
    const { env, gw, cache } = await scene(30);
    const doc = `${cache.url}/.well-known/topology`;
    expect((await get(doc)).cache).to.equal('MISS');
    expect((await get(doc)).cache).to.equal('HIT');

    const rev = gw.gateway.revision;
    const timedOut = await get(`${doc}?wait=${rev}&timeout=1`);
    expect(timedOut.status).to.equal(200);
    expect(timedOut.doc!.revision).to.equal(rev);
    const changed = await writeTopology(ctx.conn, ctx.layout, env, { services: [service('payroll', ['eu-west'])] });
    await waitFor(() => gw.gateway.revision >= changed, { what: 'the gateway to take the change' });
    // The same long-poll URL again: a cache that stored the first answer would replay revision `rev`.
    const next = await get(`${doc}?wait=${rev}&timeout=5`);
    expect(next.status).to.equal(200);
    expect(next.cache).to.not.equal('HIT');
    expect(next.doc!.revision).to.be.at.least(changed);
    expect(next.doc!.services.map((s) => s.name)).to.include('payroll');
  });

  it('bridges a gateway outage from the cache within stale-if-error', async () => {
    const { gw, cache } = await scene(1);
    const doc = `${cache.url}/.well-known/topology`;
    const first = await get(doc);
    expect(first.cache).to.equal('MISS');
    const cachedAt = Date.now();
    await gw.close();
    // Past max-age (nginx counts whole seconds) the cache has to ask the dead gateway, and answers with what it holds.
    await waitFor(() => Date.now() - cachedAt > 2500, { intervalMs: 100, what: 'max-age to pass' });
    const during = await get(doc);
    expect(during.status).to.equal(200);
    expect(during.cache).to.equal('STALE');
    expect(during.doc!.revision).to.equal(first.doc!.revision);
  });
});
