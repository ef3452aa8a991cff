import { connectEtcd, KeyLayout, type EtcdConnection } from '../../store/index.js';
import type { RegionDefinition, ServiceDefinition } from '../../openapi/index.js';
import { startEtcd, type EtcdCluster } from './etcd.js';

/**
 * Mocha hooks that share one etcd per suite: `before` starts it, `after` stops it. Each test
 * should use its own environment (`uniqueEnv()`), so tests never see each other's keys.
 */
export function useEtcd(): { readonly etcd: EtcdCluster; readonly conn: EtcdConnection; readonly layout: KeyLayout } {
  const ctx = {} as { etcd: EtcdCluster; conn: EtcdConnection; layout: KeyLayout };
  before(async function () {
    this.timeout(30_000);
    ctx.etcd = await startEtcd();
    ctx.conn = connectEtcd({ endpoints: ctx.etcd.endpoints, callTimeoutMs: 2000 });
    ctx.layout = new KeyLayout();
  });
  after(async () => {
    ctx.conn?.close();
    await ctx.etcd?.stop();
  });
  return ctx;
}

export function region(name: string, jurisdiction = 'EU', provider = 'cloud-a'): RegionDefinition {
  return { name, jurisdiction, provider };
}

export function service(name: string, regions: string[], extra: Partial<ServiceDefinition> = {}): ServiceDefinition {
  return {
    name,
    basePath: `/${name}/v1`,
    placement: 'regional',
    deployments: regions.map((r) => ({ region: r, upstreams: [`http://127.0.0.1:1/${name}-${r}`] })),
    ...extra,
  };
}

/** A regional service at `/<name>/v1` with the given upstreams per region. */
export function serviceWith(name: string, deployments: Record<string, string[]>, extra: Partial<ServiceDefinition> = {}): ServiceDefinition {
  return {
    name,
    basePath: `/${name}/v1`,
    placement: 'regional',
    deployments: Object.entries(deployments).map(([r, upstreams]) => ({ region: r, upstreams })),
    ...extra,
  };
}
