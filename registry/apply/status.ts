import { connect } from 'node:net';
import type { EnvironmentStatus, GatewayReport, GatewayStatus, InvalidRecord } from '../../openapi/index.js';
import { parseRecord, summarize } from '../../topology/index.js';
import type { EtcdConnection } from '../../store/etcd.js';
import type { KeyLayout } from '../../store/keys.js';
import { topologyRange } from '../../store/reader.js';
import { environmentRevision } from '../../store/revision.js';
import { readKeys } from './environments.js';

/**
 * Every gateway of an environment: region, URL, lease TTL left, the revision it reports having
 * applied, its lag behind the environment's revision (store/revision.ts), and a health verdict:
 * `down` when its lease has expired (etcd deletes the keys soon) or nothing listens at its URL any
 * more (a crashed gateway's registration outlives it by up to the lease TTL), `unknown` without a
 * report, `stale` when the gateway says it lost etcd, `lagging` when behind, else `healthy`.
 * Registrations and reports pass the core validators: an invalid one is listed in
 * `invalidRecords` (a registration is then shown from its key alone, a report is ignored).
 */
export async function environmentStatus(conn: EtcdConnection, layout: KeyLayout, env: string): Promise<EnvironmentStatus> {
  const range = topologyRange(layout, env);
  const { revision: etcdRevision, keys } = await readKeys(conn, range.start, range.end);
  const [gateways, reports] = await Promise.all([
    conn.call((c) => c.getAll().prefix(layout.gateways(env)).revision(String(etcdRevision)).exec()),
    conn.call((c) => c.getAll().prefix(layout.reports(env)).revision(String(etcdRevision)).exec()),
  ]);
  const invalid: InvalidRecord[] = [];
  const reportOf = new Map<string, GatewayReport>();
  for (const kv of reports.kvs) {
    const key = kv.key.toString();
    const names = reportNames(layout.reports(env), key);
    if (!names) continue;
    const checked = parseRecord('report', kv.value.toString(), names);
    if (checked.ok) reportOf.set(key, checked.value);
    else invalid.push({ key, reason: summarize(checked.problems) });
  }
  const applied = [...reportOf.values()].map((r) => r.appliedRevision);
  const content = environmentRevision(layout, env, keys, applied, etcdRevision);
  const out: GatewayStatus[] = [];
  await Promise.all(
    gateways.kvs.map(async (kv) => {
      const key = kv.key.toString();
      const parsed = layout.parse(env, key);
      if (parsed?.kind !== 'gateway') return;
      const checked = parseRecord('gateway', kv.value.toString(), { name: parsed.name, region: parsed.region });
      if (!checked.ok) {
        invalid.push({ key, reason: summarize(checked.problems) });
        return;
      }
      const reg = checked.value;
      const [ttl, refused] = await Promise.all([leaseTtl(conn, String(kv.lease)), connectionRefused(reg.url)]);
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
        // A key the gateway skips as invalid never moves its applied revision: it is not lag.
        const skipped = new Set((report.invalidRecords ?? []).map((r) => r.key));
        const target = skipped.size > 0 ? environmentRevision(layout, env, keys.filter((k) => !skipped.has(k.key)), [], etcdRevision) : content;
        status.appliedRevision = report.appliedRevision;
        status.lag = Math.max(0, target - report.appliedRevision);
        status.stale = report.stale;
        status.reportedAt = report.reportedAt;
        status.health = report.stale ? 'stale' : status.lag > 0 ? 'lagging' : 'healthy';
        if (report.invalidRecordCount) status.invalidRecordCount = report.invalidRecordCount;
        if (report.invalidRecords?.length) status.invalidRecords = report.invalidRecords;
      }
      if (ttl < 0 || refused) status.health = 'down';
      out.push(status);
    }),
  );
  out.sort((a, b) => (a.region === b.region ? (a.id < b.id ? -1 : 1) : a.region < b.region ? -1 : 1));
  invalid.sort((a, b) => (a.key < b.key ? -1 : 1));
  return { environment: env, revision: content, etcdRevision, gateways: out, ...(invalid.length ? { invalidRecords: invalid } : {}) };
}

/** `<region>/<id>` of a report key; undefined for keys Waymark does not know. */
function reportNames(prefix: string, key: string): { region: string; name: string } | undefined {
  const parts = key.slice(prefix.length).split('/');
  return key.startsWith(prefix) && parts.length === 2 ? { region: parts[0], name: parts[1] } : undefined;
}

/** Whole seconds left on a lease (0: under one); -1 when it has none or it has expired. */
async function leaseTtl(conn: EtcdConnection, lease: string): Promise<number> {
  if (!lease || lease === '0') return -1;
  const res = await conn.call((c) => c.leaseClient.leaseTimeToLive({ ID: lease }));
  const ttl = Number(res.TTL);
  return ttl >= 0 ? ttl : -1;
}

/** How long the TCP probe of a gateway's URL may take; a probe that times out proves nothing. */
const PROBE_TIMEOUT_MS = 1000;

/**
 * Whether the host of a gateway's URL refuses TCP connections on its port: nothing listens there,
 * so the gateway is gone. Anything else (connected, timed out, unreachable network, a URL the
 * registry cannot resolve) is not taken as proof.
 */
function connectionRefused(url: string): Promise<boolean> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve(false);
  }
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const host = target.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: PROBE_TIMEOUT_MS });
    const done = (refused: boolean) => {
      socket.destroy();
      resolve(refused);
    };
    socket.once('connect', () => done(false));
    socket.once('timeout', () => done(false));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
  });
}
