import type { IKeyValue } from 'etcd3';
import type { EtcdConnection } from './etcd.js';
import type { KeyLayout } from './keys.js';
import { TopologyRecords, type InvalidRecord } from './records.js';
import { environmentRevision, reportedRevisions } from './revision.js';
import type { TopologySnapshot } from './snapshot.js';

/** The marker of a multi-transaction apply, stored at `<env>/pending` while it runs. */
export interface PendingApply {
  id: string;
  startedAt: string;
  by?: string;
  /** Lease of the registry doing the apply: once it is gone, the apply is abandoned. */
  lease?: string;
  /** The revision before the marker was written: the last complete state. */
  baseRevision: number;
  /** The marker's own mod revision, which guards every later transaction of the apply. */
  markerRevision: number;
}

export interface EnvironmentRead {
  /** The records, at the environment's revision (store/revision.ts), which is at most the read's. */
  snapshot: TopologySnapshot;
  /** The etcd revision of the read: a watch continuing this read starts after it. */
  revision: number;
  /** Set when an apply was in progress: the snapshot then shows the state before it. */
  pending?: PendingApply;
  /** Keys skipped as invalid, sorted by key (see TopologyRecords). */
  invalid: InvalidRecord[];
}

export interface ReadOptions {
  /** Called for each invalid value read. */
  onInvalid?: (record: InvalidRecord) => void;
  /**
   * The reader's previous snapshot: a key read with an invalid value keeps its version from
   * there (the last valid one) instead of vanishing.
   */
  previous?: TopologySnapshot;
}

/**
 * The keys a topology reader needs: everything of the environment except `source/`, which can be
 * megabytes. In byte order `commit < environment < gateways/ < pending < regions/ < services/
 * < source/`, so `[<env>/, <env>/source/)` is one range.
 */
export function topologyRange(layout: KeyLayout, env: string): { start: string; end: string } {
  return { start: layout.environment(env), end: layout.sources(env) };
}

/**
 * Reads a whole environment at one revision. While a multi-transaction apply is in progress,
 * the records it owns (regions, services, commit) are read as of the revision before it began,
 * so a reader never sees half of an apply; gateways are read as they are now.
 */
export async function readEnvironment(
  conn: EtcdConnection,
  layout: KeyLayout,
  env: string,
  options: ReadOptions = {},
): Promise<EnvironmentRead> {
  const range = topologyRange(layout, env);
  const res = await conn.call((c) => c.getAll().inRange(range).exec());
  const revision = Number(res.header.revision);
  const reported = await readReportedRevisions(conn, layout, env, revision);
  const pendingKv = res.kvs.find((kv) => kv.key.toString() === layout.pending(env));
  const records = options.previous
    ? TopologyRecords.from(options.previous, layout, options.onInvalid)
    : new TopologyRecords(layout, env, options.onInvalid);
  const pairs = (kvs: readonly IKeyValue[], keep: (key: string) => boolean) =>
    kvs.filter((kv) => keep(kv.key.toString())).map((kv) => [kv.key.toString(), kv.value.toString()] as const);
  const revisions = (kvs: readonly IKeyValue[]) => kvs.map((kv) => ({ key: kv.key.toString(), modRevision: Number(kv.mod_revision) }));
  if (!pendingKv) {
    records.load(pairs(res.kvs, () => true));
    const content = environmentRevision(layout, env, revisions(res.kvs), reported, revision);
    return { snapshot: records.freeze(content), revision, invalid: records.invalidRecords() };
  }
  const pending = parsePending(pendingKv);
  const before = await conn.call((c) => c.getAll().inRange(range).revision(pending.baseRevision).exec());
  const isGateway = (key: string) => layout.parse(env, key)?.kind === 'gateway';
  const loaded = [...before.kvs.filter((kv) => !isGateway(kv.key.toString())), ...res.kvs.filter((kv) => isGateway(kv.key.toString()))];
  records.load(pairs(loaded, () => true));
  const content = environmentRevision(layout, env, revisions(loaded), reported, revision);
  return { snapshot: records.freeze(content), revision, pending, invalid: records.invalidRecords() };
}

/** The applied revisions the environment's gateways report, as of `revision` (see store/revision.ts). */
export async function readReportedRevisions(conn: EtcdConnection, layout: KeyLayout, env: string, revision: number): Promise<number[]> {
  const res = await conn.call((c) => c.getAll().prefix(layout.reports(env)).revision(String(revision)).exec());
  return reportedRevisions(layout, env, res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() })));
}

export function parsePending(kv: IKeyValue): PendingApply {
  let body: Partial<PendingApply> = {};
  try {
    body = JSON.parse(kv.value.toString()) as Partial<PendingApply>;
  } catch {
    // A marker is honoured even when unreadable: its revisions alone make it safe.
  }
  return {
    id: String(body.id ?? 'unknown'),
    startedAt: String(body.startedAt ?? ''),
    ...(body.by ? { by: body.by } : {}),
    ...(body.lease ? { lease: body.lease } : {}),
    baseRevision: Number(kv.create_revision) - 1,
    markerRevision: Number(kv.mod_revision),
  };
}
