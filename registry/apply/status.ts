import type { EnvironmentStatus, GatewayRegistration, GatewayReport, GatewayStatus } from '../../openapi/index.js';
import type { EtcdConnection } from '../../store/etcd.js';
import type { KeyLayout } from '../../store/keys.js';
import { topologyRange } from '../../store/reader.js';
import { contentRevision, readKeys } from './environments.js';

/**
 * Every gateway of an environment: region, URL, lease TTL left, the revision it reports having
 * applied, its lag behind the environment's content revision, and a health verdict:
 * `unknown` without a report, `stale` when the gateway says it lost etcd, `lagging` when behind,
 * else `healthy`.
 */
export async function environmentStatus(conn: EtcdConnection, layout: KeyLayout, env: string): Promise<EnvironmentStatus> {
  const range = topologyRange(layout, env);
  const { revision: etcdRevision, keys } = await readKeys(conn, range.start, range.end);
  const content = contentRevision(layout, env, keys);
  const [gateways, reports] = await Promise.all([
    conn.call((c) => c.getAll().prefix(layout.gateways(env)).revision(String(etcdRevision)).exec()),
    conn.call((c) => c.getAll().prefix(layout.reports(env)).revision(String(etcdRevision)).exec()),
  ]);
  const reportOf = new Map<string, GatewayReport>();
  for (const kv of reports.kvs) {
    const report = parseObject<GatewayReport>(kv.value.toString());
    if (report && typeof report.appliedRevision === 'number') reportOf.set(kv.key.toString(), report);
  }
  const out: GatewayStatus[] = [];
  await Promise.all(
    gateways.kvs.map(async (kv) => {
      const parsed = layout.parse(env, kv.key.toString());
      const reg = parseObject<GatewayRegistration>(kv.value.toString());
      if (parsed?.kind !== 'gateway' || !reg) return;
      const ttl = await leaseTtl(conn, String(kv.lease));
      const report = reportOf.get(layout.report(env, parsed.region, parsed.name));
      const status: GatewayStatus = {
        id: parsed.name,
        region: parsed.region,
        url: reg.url,
        status: reg.status,
        health: 'unknown',
        leaseTtlSeconds: ttl,
        lag: 0,
      };
      if (report) {
        status.appliedRevision = report.appliedRevision;
        status.lag = Math.max(0, content - report.appliedRevision);
        status.stale = report.stale;
        status.reportedAt = report.reportedAt;
        status.health = report.stale ? 'stale' : status.lag > 0 ? 'lagging' : 'healthy';
      }
      out.push(status);
    }),
  );
  out.sort((a, b) => (a.region === b.region ? (a.id < b.id ? -1 : 1) : a.region < b.region ? -1 : 1));
  return { environment: env, revision: content, etcdRevision, gateways: out };
}

/** Seconds left on a lease; -1 when it has none or it is gone. */
async function leaseTtl(conn: EtcdConnection, lease: string): Promise<number> {
  if (!lease || lease === '0') return -1;
  const res = await conn.call((c) => c.leaseClient.leaseTimeToLive({ ID: lease }));
  const ttl = Number(res.TTL);
  return ttl > 0 ? ttl : -1;
}

function parseObject<T>(text: string): T | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}
